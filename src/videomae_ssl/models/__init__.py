"""VideoMAE models: encoder, pretraining autoencoder, classifier and their sizes.

The torch modules are imported on first use, so that `videomae_ssl.models.config` and
`videomae_ssl.models.sizes` (numbers only) can be read, by the config resolvers for one,
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from videomae_ssl.models.config import VideoMAEConfig
from videomae_ssl.models.sizes import SIZES, get_size

if TYPE_CHECKING:
    from videomae_ssl.models.autoencoder import VideoMAEPretrainModel
    from videomae_ssl.models.build import videomae_classifier, videomae_pretrain
    from videomae_ssl.models.classifier import VideoMAEClassifier
    from videomae_ssl.models.encoder import VideoMAEEncoder

_HOMES = {
    "VideoMAEClassifier": "videomae_ssl.models.classifier",
    "VideoMAEEncoder": "videomae_ssl.models.encoder",
    "VideoMAEPretrainModel": "videomae_ssl.models.autoencoder",
    "videomae_classifier": "videomae_ssl.models.build",
    "videomae_pretrain": "videomae_ssl.models.build",
}

__all__ = [
    "SIZES",
    "VideoMAEClassifier",
    "VideoMAEConfig",
    "VideoMAEEncoder",
    "VideoMAEPretrainModel",
    "get_size",
    "videomae_classifier",
    "videomae_pretrain",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
