"""Where the data modules were: they live in `videomae_ssl.data.datamodules`."""

from videomae_ssl.data.datamodules.base import FEATURE_SPLITS, VideoDataModule
from videomae_ssl.data.datamodules.pretrain import PretrainDataModule

__all__ = ["FEATURE_SPLITS", "PretrainDataModule", "VideoDataModule"]
