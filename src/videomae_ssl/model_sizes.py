"""The model sizes under their former module name; they live in `videomae_ssl.models.sizes`."""

from videomae_ssl.models.sizes import (
    SIZES,
    ModelSize,
    get_size,
    size_field,
    vit_base,
    vit_giant,
    vit_huge,
    vit_large,
    vit_small,
    vit_tiny,
)
from videomae_ssl.run_resolvers import register_resolvers as register_resolver

__all__ = [
    "SIZES",
    "ModelSize",
    "get_size",
    "register_resolver",
    "size_field",
    "vit_base",
    "vit_giant",
    "vit_huge",
    "vit_large",
    "vit_small",
    "vit_tiny",
]
