"""The builders that turn a named size into a model.

Hydra selects a size by name (`model.net.size=base`); any constructor argument can still be
overridden. The sizes themselves (numbers only) are in `videomae_ssl.models.sizes`.
"""

from __future__ import annotations

from dataclasses import asdict

from videomae_ssl.models.classifier import VideoMAEClassifier
from videomae_ssl.models.pretrain import VideoMAEPretrainModel
from videomae_ssl.models.sizes import get_size


def videomae_pretrain(size: str = "base", **overrides) -> VideoMAEPretrainModel:
    """A pretraining model of a named size; `overrides` replace any constructor argument."""
    return VideoMAEPretrainModel(**{**asdict(get_size(size)), **overrides})


def videomae_classifier(num_classes: int, size: str = "base", **overrides) -> VideoMAEClassifier:
    """A classification model of a named size (the decoder numbers are not used)."""
    kwargs = asdict(get_size(size))
    for key in ("decoder_embed_dim", "decoder_num_heads", "decoder_depth"):
        kwargs.pop(key)
    return VideoMAEClassifier(num_classes=num_classes, **{**kwargs, **overrides})
