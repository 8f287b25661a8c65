"""Data: annotation files, video readers, clip sampling, transforms and augmentations, the
epoch-aware sampler, the datasets, the Lightning data modules and the embedded demo dataset.

Names are imported on first use, so that `videomae_ssl.data.readers` (in DataLoader and scan
workers) does not pull in Lightning through the data modules. The offline commands that prepare
and scan a dataset live in `videomae_ssl.prep`, which this package never imports.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VideoRecord": "annotations",
    "ANNOTATION_FORMATS": "annotations",
    "read_annotations": "annotations",
    "BACKENDS": "readers",
    "FRAME_TEMPLATE": "readers",
    "VideoDecodeError": "readers",
    "VideoFile": "readers",
    "open_record": "readers",
    "open_video": "readers",
    "center_indices": "sampling",
    "dense_indices": "sampling",
    "eval_clip_indices": "sampling",
    "eval_segment_indices": "sampling",
    "evaluation_clip_indices": "sampling",
    "finetune_clip_indices": "sampling",
    "pretrain_indices": "sampling",
    "segment_indices": "sampling",
    "IMAGENET_MEAN": "transforms",
    "IMAGENET_STD": "transforms",
    "MultiScaleCrop": "transforms",
    "center_crop_resize": "transforms",
    "normalize": "transforms",
    "normalize_video": "transforms",
    "channels_first": "transforms",
    "prepare_batch": "on_device",
    "three_crops": "views",
    "view_grid": "views",
    "ClipRandAugment": "augment",
    "ClipRandomErasing": "augment",
    "ErasePlan": "augment",
    "MixPlan": "augment",
    "FinetuneTrainTransform": "augment",
    "MixupCutmixCollate": "augment",
    "SmoothLabelsCollate": "augment",
    "EpochSampler": "sampler",
    "VideoPretrainDataset": "pretrain",
    "collate_views": "clip_dataset",
    "VideoListDataset": "clip_dataset",
    "PretrainDataModule": "datamodules",
    "VideoDataModule": "datamodules",
    "FinetuneDataModule": "datamodules",
    "DecodeOptions": "decode",
    "VideoClassificationDataset": "finetune",
    "DemoFinetuneDataModule": "datamodules",
    "DEMO_CLASSES": "demo",
    "DemoPretrainDataModule": "datamodules",
    "ensure_demo_dataset": "demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
