"""VideoMAE models: encoder, pretraining autoencoder, classifier and their sizes."""

from videomae_ssl.models.classifier import VideoMAEClassifier
from videomae_ssl.models.encoder import VideoMAEEncoder
from videomae_ssl.models.pretrain import VideoMAEPretrainModel
from videomae_ssl.models.sizes import (
    SIZES,
    ModelSize,
    get_size,
    videomae_classifier,
    videomae_pretrain,
)

__all__ = [
    "SIZES",
    "ModelSize",
    "VideoMAEClassifier",
    "VideoMAEEncoder",
    "VideoMAEPretrainModel",
    "get_size",
    "videomae_classifier",
    "videomae_pretrain",
]
