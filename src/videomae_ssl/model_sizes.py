"""Model sizes: numbers only, no torch, so that configs can read them before anything is built.

The builders that turn a size into a model are in `videomae_ssl.models.sizes`. The configs read
a size's numbers through the `model_size` resolver, e.g.
`patch_size: ${model_size:${.size},patch_size}`: the size decides them (ViT-g: patch 14) and an
explicit `model.net.patch_size=16` still wins.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class ModelSize:
    embed_dim: int
    depth: int
    num_heads: int
    decoder_embed_dim: int
    decoder_num_heads: int
    decoder_depth: int
    patch_size: int = 16
    mlp_ratio: float = 4.0


def vit_tiny() -> ModelSize:
    """For demos and tests: ViT-Ti width with a shallow encoder and decoder."""
    return ModelSize(192, 4, 3, 96, 3, 2)


def vit_small() -> ModelSize:
    return ModelSize(384, 12, 6, 192, 3, 4)


def vit_base() -> ModelSize:
    return ModelSize(768, 12, 12, 384, 6, 4)


def vit_large() -> ModelSize:
    return ModelSize(1024, 24, 16, 512, 8, 12)


def vit_huge() -> ModelSize:
    return ModelSize(1280, 32, 16, 640, 8, 12)


def vit_giant() -> ModelSize:
    """VideoMAE V2 ViT-g: patch 14, MLP hidden 6144."""
    return ModelSize(1408, 40, 16, 512, 8, 4, patch_size=14, mlp_ratio=6144 / 1408)


SIZES = {
    "tiny": vit_tiny,
    "small": vit_small,
    "base": vit_base,
    "large": vit_large,
    "huge": vit_huge,
    "giant": vit_giant,
}


def get_size(name: str) -> ModelSize:
    try:
        return SIZES[name]()
    except KeyError:
        raise ValueError(f"unknown model size {name!r}; choose one of {sorted(SIZES)}") from None


def size_field(size: str, field: str) -> int | float:
    """One number of a named size: what `${model_size:<size>,<field>}` gives in a config."""
    names = [f.name for f in fields(ModelSize)]
    if field not in names:
        raise ValueError(f"model sizes have no field {field!r}; they have {names}")
    return getattr(get_size(size), field)


def register_resolver() -> None:
    """Make `${model_size:...}` known to OmegaConf (done when the package is imported)."""
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("model_size", size_field, replace=True)
