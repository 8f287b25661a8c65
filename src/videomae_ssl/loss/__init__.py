"""Reconstruction targets and losses."""

from videomae_ssl.loss.reconstruction import reconstruction_loss
from videomae_ssl.loss.targets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PixelTarget,
    pixel_targets,
    tubelets,
    unnormalize,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PixelTarget",
    "pixel_targets",
    "reconstruction_loss",
    "tubelets",
    "unnormalize",
]
