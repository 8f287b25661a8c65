"""The builders that turn a named size into a model.

Hydra selects a size by name (`model.net.size=base`) and may replace any of its fields
(`model.net.patch_size=8`); the other keyword arguments are the model's own (`drop_path_rate`,
...). The sizes themselves (numbers only) are in `videomae_ssl.models.sizes`.
"""

from __future__ import annotations

from typing import Any

from videomae_ssl.models.autoencoder import VideoMAEPretrainModel
from videomae_ssl.models.classifier import VideoMAEClassifier
from videomae_ssl.models.config import VideoMAEConfig
from videomae_ssl.models.sizes import size_config


def split_arguments(size: str, arguments: dict[str, Any]) -> tuple[VideoMAEConfig, dict[str, Any]]:
    """(the size's config with the architecture fields among `arguments` in place, the rest)."""
    fields = VideoMAEConfig.field_names()
    config = size_config(size, **{k: v for k, v in arguments.items() if k in fields})
    return config, {k: v for k, v in arguments.items() if k not in fields}


def videomae_pretrain(size: str = "base", **arguments: Any) -> VideoMAEPretrainModel:
    """A pretraining model of a named size; `arguments` replace the size's fields or are the
    model's own keyword arguments."""
    config, options = split_arguments(size, arguments)
    return VideoMAEPretrainModel(config, **options)


def videomae_classifier(
    num_classes: int, size: str = "base", **arguments: Any
) -> VideoMAEClassifier:
    """A classification model of a named size (the decoder numbers are not used)."""
    config, options = split_arguments(size, arguments)
    return VideoMAEClassifier(config, num_classes=num_classes, **options)


def model_record(model: VideoMAEPretrainModel | VideoMAEClassifier) -> dict[str, Any]:
    """What rebuilds `model` without Hydra, as plain values (checkpoints store it): its `kind`,
    `model_args` (its `VideoMAEConfig` as a dict) and `options` (its other arguments), nanoGPT
    style: `VideoMAEPretrainModel(VideoMAEConfig(**r["model_args"]), **r["options"])`."""
    if isinstance(model, VideoMAEPretrainModel):
        kind = "pretrain"
    elif isinstance(model, VideoMAEClassifier):
        kind = "classifier"
    else:
        raise TypeError(f"expected VideoMAEPretrainModel or VideoMAEClassifier, got {type(model)}")
    return {"kind": kind, "model_args": model.config.as_dict(), "options": dict(model.options)}
