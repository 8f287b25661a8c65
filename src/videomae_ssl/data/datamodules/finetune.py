"""The Lightning data module for fine-tuning and testing a classifier on labelled videos."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from lightning.pytorch.utilities import rank_zero_info

from videomae_ssl.data.annotations import VideoRecord, checked_class_names
from videomae_ssl.data.augment import (
    DEFAULT_RAND_AUGMENT,
    FinetuneTrainTransform,
    MixupCutmixCollate,
    SmoothLabelsCollate,
)
from videomae_ssl.data.datamodules.base import VideoDataModule
from videomae_ssl.data.finetune_dataset import VideoClassificationDataset
from videomae_ssl.data.frame_indices import SAMPLINGS, evaluation_clip_indices
from videomae_ssl.errors import ConfigError, DataError


def _all_clip_frames(
    total_frames: int, num_frames: int, sampling_rate: int, sampling: str, num_clips: int
) -> list[int]:
    clips = evaluation_clip_indices(total_frames, num_frames, sampling_rate, sampling, num_clips)
    return sorted({i for clip in clips for i in clip})


class FinetuneDataModule(VideoDataModule):
    """Labelled clips for fine-tuning (train, one-view validation) and the multi-view test.

    `sampling` is "dense" (Kinetics, UCF101, HMDB51: `num_frames` frames over a window of
    `num_frames * sampling_rate`) or "segment" (SSv2: one frame per segment, no flip). Training
    clips get RandAugment, random resized crop, flip (`flip`), random erasing (`reprob`) and
    Mixup/CutMix with label smoothing, or label smoothing alone when both alphas are 0; batches
    carry "label" (hard) and "target" (soft). Testing scores `test_clips` x `test_crops` views
    per video. `class_names` (a file, line i naming class i) labels predictions and pictures.
    See `VideoDataModule` for the loaders, the evaluation check and the broken-video policy.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        train_list: str | None = None,
        val_list: str | None = None,
        test_list: str | None = None,
        class_names: str | None = None,
        sampling: str = "dense",
        test_clips: int = 5,
        test_crops: int = 3,
        auto_augment: str | None = DEFAULT_RAND_AUGMENT,
        crop_scale: Sequence[float] = (0.08, 1.0),
        flip: bool = True,
        reprob: float = 0.25,
        mixup: float = 0.8,
        cutmix: float = 1.0,
        mixup_switch_prob: float = 0.5,
        label_smoothing: float = 0.1,
        **options: Any,
    ) -> None:
        super().__init__(
            train_list=train_list,
            val_list=val_list,
            test_list=test_list,
            num_classes=num_classes,
            **options,
        )
        self.class_names_file = None if class_names is None else str(class_names)
        self.sampling = sampling
        self.test_clips = test_clips
        self.test_crops = test_crops
        self.auto_augment = auto_augment
        self.crop_scale = tuple(crop_scale)
        self.flip = flip
        self.reprob = reprob
        self.mixup = mixup
        self.cutmix = cutmix
        self.mixup_switch_prob = mixup_switch_prob
        self.label_smoothing = label_smoothing
        self.class_names: list[str] | None = None

    def _check_settings(self) -> None:
        super()._check_settings()
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ConfigError(f"data.num_classes={self.num_classes} must be an integer >= 2.")
        if self.sampling not in SAMPLINGS:
            raise ConfigError(
                f"data.sampling={self.sampling!r}: choose dense (Kinetics, UCF101, HMDB51) or "
                f"segment (Something-Something V2)."
            )
        for key in ("test_clips", "test_crops"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{key}={value} must be a positive integer.")
        low, high = (self.crop_scale + (None, None))[:2]
        if len(self.crop_scale) != 2 or not 0 < low <= high <= 1:
            raise ConfigError(
                f"data.crop_scale={list(self.crop_scale)} must be [low, high] area fractions "
                f"with 0 < low <= high <= 1 (the recipe's is [0.08, 1.0])."
            )
        for key in ("reprob", "mixup_switch_prob", "label_smoothing"):
            value = getattr(self, key)
            if not 0 <= value <= 1:
                raise ConfigError(f"data.{key}={value} must be in [0, 1].")
        if self.mixup < 0 or self.cutmix < 0:
            raise ConfigError(
                f"data.mixup={self.mixup} and data.cutmix={self.cutmix} are Beta-distribution "
                f"alphas: >= 0, with 0 turning that mixing off."
            )
        if (self.mixup > 0 or self.cutmix > 0) and (self.batch_size * self.num_sample) % 2:
            raise ConfigError(
                f"Mixup/CutMix pairs the clips of a batch: data.batch_size={self.batch_size} x "
                f"data.num_sample={self.num_sample} must be even (or set data.mixup=0 and "
                f"data.cutmix=0)."
            )
        # Building the augmentation checks its settings (the RandAugment string) up front.
        self.train_transform()

    def validate_inputs(self, stage: str = "fit") -> None:
        # The names first: the lists' labels are then checked against their count.
        if self.class_names_file is not None:
            if not os.path.isfile(self.class_names_file):
                raise DataError(
                    f"data.class_names={self.class_names_file}: no such file; give the "
                    f"classes.txt written by videomae_ssl.prep.prepare, or null."
                )
            self.class_names = checked_class_names(self.class_names_file, self.num_classes)
        super().validate_inputs(stage)
        if self.class_names_file is None and self.train_records:
            self._warn_of_classes_no_video_has()

    def class_count_file(self) -> str | None:
        return None if self.class_names is None else f"data.class_names={self.class_names_file}"

    def _warn_of_classes_no_video_has(self) -> None:
        """Without a classes.txt, data.num_classes is the dataset's official count: a list of
        fewer classes would train a head that predicts classes no video has."""
        used = max(r.label for r in self.train_records) + 1
        if used < self.num_classes:
            rank_zero_info(
                f"warning: data.num_classes={self.num_classes}, but the labels of "
                f"data.train_list={self.train_list} run from 0 to {used - 1} and no classes.txt "
                f"lies beside it: the classifier gets {self.num_classes - used} classes no "
                f"training video has. Put a classes.txt beside data.train_list (line i naming "
                f"class i - 1) or set data.num_classes={used}."
            )

    def eval_frames(self, mode: str) -> Callable[[int], list[int]]:
        return partial(
            _all_clip_frames,
            num_frames=self.num_frames,
            sampling_rate=self.sampling_rate,
            sampling=self.sampling,
            num_clips=self.test_clips if mode == "test" else 1,
        )

    def train_transform(self) -> FinetuneTrainTransform:
        return FinetuneTrainTransform(
            input_size=self.input_size,
            auto_augment=self.auto_augment,
            scale=self.crop_scale,
            flip=self.flip,
            reprob=self.reprob,
        )

    def train_collate(self) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
        if self.mixup > 0 or self.cutmix > 0:
            return MixupCutmixCollate(
                self.num_classes,
                mixup_alpha=self.mixup,
                cutmix_alpha=self.cutmix,
                switch_prob=self.mixup_switch_prob,
                label_smoothing=self.label_smoothing,
                seed=self.seed,
            )
        return SmoothLabelsCollate(self.num_classes, self.label_smoothing)

    def build_dataset(self, mode: str, records: list[VideoRecord]) -> VideoClassificationDataset:
        train = mode == "train"
        return VideoClassificationDataset(
            records,
            mode=mode,
            num_frames=self.num_frames,
            sampling_rate=self.sampling_rate,
            sampling=self.sampling,
            input_size=self.input_size,
            test_clips=self.test_clips,
            test_crops=self.test_crops,
            transform=self.train_transform() if train else None,
            num_sample=self.num_sample if train else 1,
            seed=self.seed,
            decode=self.decode,
            quarantine_file=self.quarantine_file if train else None,
        )

    def test_video_paths(self) -> Sequence[str]:
        """Path of each test video, by video id (its row in the test list after the check)."""
        if self.test_records is None:
            raise RuntimeError("test videos are known only after validate_inputs('test')")
        return [r.path for r in self.test_records]

    def eval_settings(self) -> dict[str, Any]:
        """How this data module samples test views; stored in checkpoints for `predict`."""
        return {
            "num_frames": self.num_frames,
            "sampling_rate": self.sampling_rate,
            "sampling": self.sampling,
            "input_size": self.input_size,
            "test_clips": self.test_clips,
            "test_crops": self.test_crops,
        }
