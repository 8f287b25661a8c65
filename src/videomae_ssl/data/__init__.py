"""Data for pretraining: annotation files, video readers, clip sampling, transforms, the
epoch-aware sampler, the dataset, the Lightning data modules and the embedded demo dataset."""

from videomae_ssl.data.annotations import VideoRecord, read_annotations
from videomae_ssl.data.datamodule import PretrainDataModule
from videomae_ssl.data.demo import DEMO_CLASSES, DemoPretrainDataModule, ensure_demo_dataset
from videomae_ssl.data.pretrain import VideoPretrainDataset
from videomae_ssl.data.readers import BACKENDS, VideoDecodeError, VideoFile, open_video
from videomae_ssl.data.sampler import EpochSampler
from videomae_ssl.data.sampling import center_indices, pretrain_indices
from videomae_ssl.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MultiScaleCrop,
    center_crop_resize,
    normalize,
)

__all__ = [
    "BACKENDS",
    "DEMO_CLASSES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DemoPretrainDataModule",
    "EpochSampler",
    "MultiScaleCrop",
    "PretrainDataModule",
    "VideoDecodeError",
    "VideoFile",
    "VideoPretrainDataset",
    "VideoRecord",
    "center_crop_resize",
    "center_indices",
    "ensure_demo_dataset",
    "normalize",
    "open_video",
    "pretrain_indices",
    "read_annotations",
]
