"""Model sizes (numbers only) and the builders that turn a size into a model.

Hydra selects a size by name (`model.size=base`); any field can still be overridden.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from videomae_ssl.models.classifier import VideoMAEClassifier
from videomae_ssl.models.pretrain import VideoMAEPretrainModel


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


def videomae_pretrain(size: str = "base", **overrides) -> VideoMAEPretrainModel:
    """A pretraining model of a named size; `overrides` replace any constructor argument."""
    return VideoMAEPretrainModel(**{**asdict(get_size(size)), **overrides})


def videomae_classifier(num_classes: int, size: str = "base", **overrides) -> VideoMAEClassifier:
    """A classification model of a named size (the decoder numbers are not used)."""
    kwargs = asdict(get_size(size))
    for key in ("decoder_embed_dim", "decoder_num_heads", "decoder_depth"):
        kwargs.pop(key)
    return VideoMAEClassifier(num_classes=num_classes, **{**kwargs, **overrides})
