"""Reconstruction targets and losses."""

from videomae_ssl.loss.reconstruction import masked_targets, reconstruction_loss
from videomae_ssl.loss.targets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    pixel_targets,
    tubelets,
    unnormalize,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "masked_targets",
    "pixel_targets",
    "reconstruction_loss",
    "tubelets",
    "unnormalize",
]
