"""The fine-tuning dataset: labelled clips for training, validation and the multi-view test.

- train: one clip per video drawn by the recipe's rule (dense or segment sampling), the
  fine-tuning augmentation per view (`num_sample` views of one decode, each with its own
  augmentation), broken videos replaced and reported as in pretraining.
- val: the centre clip, short side resized and centre-cropped: one view per video.
- test: the paper's protocol, `test_clips` temporal clips x `test_crops` spatial crops per
  video. Item i is clip i % test_clips of video i // test_clips with all its crops, so a clip is
  decoded once; each view carries its video id and view id (clip * test_crops + crop), so views
  can be grouped per video after a distributed run.

Every random choice comes from generators seeded by (seed, epoch, index, view), as in
`data.pretrain_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.augment import ErasePlan, finetune_eval_transform
from videomae_ssl.data.clip_dataset import VideoListDataset
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.frame_indices import (
    SAMPLINGS,
    evaluation_clip_indices,
    finetune_clip_indices,
)
from videomae_ssl.errors import ConfigError
from videomae_ssl.seeding import STREAM_CROP, sample_generator

MODES = ("train", "val", "test")

# A training clip transform: uint8 (T, 3, H, W) and the view's generator -> uint8 (3, T, S, S)
# and the random erasing drawn for it (None: no erasing), applied on the device.
ClipTransform = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, ErasePlan | None]]


class VideoClassificationDataset(VideoListDataset):
    """Labelled clips for fine-tuning and evaluation (see the module docstring for the modes).

    Items are dicts: "video" uint8, not yet normalised (the Lightning module normalises the
    batch on the device), (3, T, S, S) or (V, 3, T, S, S) for V views (train with `num_sample`
    > 1, test with its crops), "label" the class id, "index" the row of the video shown; train
    items add "requested", "broken" (as in pretraining) and, with random erasing, "erase" (the
    `ErasePlan` of the clip, or a list of one per view); val and test items add "video_id" (the
    row) and "view_id" (0 for val; (V,) for test).
    Index with an int or an `(index, epoch)` pair as `EpochSampler` yields.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        *,
        mode: str,
        num_frames: int = 16,
        sampling_rate: int = 4,
        sampling: str = "dense",
        input_size: int = 224,
        test_clips: int = 5,
        test_crops: int = 3,
        transform: ClipTransform | None = None,
        num_sample: int = 1,
        seed: int = 0,
        decode: DecodeOptions | None = None,
        quarantine_file: str | None = None,
        max_retries: int = 20,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if sampling not in SAMPLINGS:
            raise ConfigError(f"data.sampling={sampling!r}: choose one of {SAMPLINGS}.")
        if mode == "train" and transform is None:
            raise ValueError("a training dataset needs a clip transform")
        unlabelled = [r for r in records if r.label is None]
        if unlabelled:
            raise ConfigError(
                f"{unlabelled[0].path}: has no label; fine-tuning needs a labelled list "
                f"(data.annotation_format v1 '<path> <label>' or frames '<dir> <frames> <label>')."
            )
        super().__init__(
            records,
            seed=seed,
            decode=decode,
            quarantine_file=quarantine_file,
            max_retries=max_retries,
        )
        self.mode = mode
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.sampling = sampling
        self.input_size = input_size
        self.test_clips = test_clips
        self.test_crops = test_crops
        self.transform = transform
        self.num_sample = num_sample

    def __len__(self) -> int:
        if self.mode == "test":
            return len(self.records) * self.test_clips
        return len(self.records)

    def pick_frames(self, total_frames: int, generator: torch.Generator | None) -> list[int]:
        if generator is None:  # validation: the centre clip
            return self.clip_frames(total_frames, 0, 1)
        return finetune_clip_indices(
            total_frames, self.num_frames, self.sampling_rate, self.sampling, generator
        )

    def clip_frames(self, total_frames: int, clip: int, num_clips: int) -> list[int]:
        """Frames of temporal clip `clip` of `num_clips` evaluation clips."""
        return evaluation_clip_indices(
            total_frames, self.num_frames, self.sampling_rate, self.sampling, num_clips
        )[clip]

    def evaluation_frames(self, total_frames: int) -> list[int]:
        """Every frame this mode's evaluation reads from a video, for the check before a run."""
        clips = self.test_clips if self.mode == "test" else 1
        return sorted({i for c in range(clips) for i in self.clip_frames(total_frames, c, clips)})

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), 0)
        if self.mode == "train":
            return self._train_item(index, epoch)
        if self.mode == "val":
            frames = self.decode_eval(index)  # (T, H, W, 3)
            video = finetune_eval_transform(frames.permute(0, 3, 1, 2), self.input_size, 1)[0]
            return {**self._labels(index), "video": video, "view_id": 0}
        row, clip = divmod(index, self.test_clips)
        pick = partial(_fixed_clip, self, clip=clip)
        frames = self.decode_eval(row, pick)  # (T, H, W, 3)
        crops = finetune_eval_transform(
            frames.permute(0, 3, 1, 2), self.input_size, self.test_crops
        )
        views = torch.arange(self.test_crops) + clip * self.test_crops  # (V,)
        return {**self._labels(row), "video": torch.stack(crops), "view_id": views}

    def _labels(self, row: int) -> dict[str, int]:
        return {"label": self.records[row].label, "index": row, "video_id": row}

    def _train_item(self, index: int, epoch: int) -> dict[str, Any]:
        row, broken, frames = self.decode_train(index, epoch)
        clip = frames.permute(0, 3, 1, 2)  # (T, 3, H, W)
        views, plans = zip(
            *(
                self.transform(
                    clip, sample_generator(self.seed, epoch, index, view=view, stream=STREAM_CROP)
                )  # (3, T, S, S) uint8, ErasePlan | None
                for view in range(self.num_sample)
            ),
            strict=True,
        )
        item = {"label": self.records[row].label, "index": row, "requested": index}
        if self.num_sample == 1:
            item.update(video=views[0], erase=plans[0])
        else:
            item.update(video=torch.stack(views), erase=list(plans))
        if all(plan is None for plan in plans):
            del item["erase"]
        return {**item, "broken": broken}


def _fixed_clip(
    dataset: VideoClassificationDataset,
    total_frames: int,
    generator: torch.Generator | None,
    *,
    clip: int,
) -> list[int]:
    """The frames of test clip `clip` (a picklable frame picker for one test item)."""
    return dataset.clip_frames(total_frames, clip, dataset.test_clips)
