"""The pretraining dataset: decode a clip, crop it, normalise it and draw its mask.

Every random choice (clip start, crop, mask) comes from a generator seeded by
(seed, epoch, index), so a sample is the same whatever the worker count, the order of
loading, or whether the run was resumed. Validation samples ignore the epoch: the validation
loss is measured on the same clips, crops and masks every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.readers import open_video, resolve_backend
from videomae_ssl.data.sampling import center_indices, pretrain_indices
from videomae_ssl.data.transforms import MultiScaleCrop, center_crop_resize, normalize
from videomae_ssl.errors import ConfigError
from videomae_ssl.masking import MaskGenerator
from videomae_ssl.seeding import STREAM_CROP, STREAM_FRAMES, STREAM_MASK, sample_generator


class VideoPretrainDataset(Dataset):
    """Clips and masks for masked video modelling.

    Items are dicts: "video" float32 (3, T, S, S) normalised with ImageNet statistics,
    "mask" Bool[N] over the (T', H', W') token grid (True = hidden from the encoder),
    "index" the clip's row in `records`, "label" its class id.

    Index with an int (epoch 0) or an `(index, epoch)` pair as `EpochSampler` yields.
    With `train=True`: a random window start and `MultiScaleCrop`; with `train=False`: the
    centre window and a centre crop, and epoch 0 whatever was asked.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        *,
        num_frames: int,
        sampling_rate: int,
        input_size: int,
        patch_size: int,
        tubelet_size: int,
        mask_generator: MaskGenerator,
        seed: int,
        train: bool,
        backend: str = "auto",
    ) -> None:
        if num_frames % tubelet_size:
            raise ConfigError(f"num_frames={num_frames} must be a multiple of {tubelet_size=}.")
        if input_size % patch_size:
            raise ConfigError(f"input_size={input_size} must be a multiple of {patch_size=}.")
        self.records = list(records)
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.input_size = input_size
        self.grid = (num_frames // tubelet_size, input_size // patch_size, input_size // patch_size)
        self.mask_generator = mask_generator
        mask_generator.check(self.grid)
        self.seed = seed
        self.train = train
        self.backend = resolve_backend(backend)  # fixed once, not per worker
        self.crop = MultiScaleCrop(input_size)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), 0)
        if not self.train:
            epoch = 0
        record = self.records[index]

        def stream(purpose: int) -> torch.Generator:
            return sample_generator(self.seed, epoch, index, stream=purpose)

        # Opened here, in the worker process: decord readers must not cross a fork.
        with open_video(record.path, self.backend) as video:
            if self.train:
                indices = pretrain_indices(
                    video.num_frames, self.num_frames, self.sampling_rate, stream(STREAM_FRAMES)
                )
            else:
                indices = center_indices(video.num_frames, self.num_frames, self.sampling_rate)
            frames = video.read(indices)  # (T, H, W, 3) uint8

        clip = frames.permute(0, 3, 1, 2)  # (T, 3, H, W)
        if self.train:
            clip = self.crop(clip, stream(STREAM_CROP))  # (T, 3, S, S)
        else:
            clip = center_crop_resize(clip, self.input_size)  # (T, 3, S, S)
        return {
            "video": normalize(clip),  # (3, T, S, S) float32
            "mask": self.mask_generator(self.grid, stream(STREAM_MASK)),  # (T'*H'*W',) bool
            "index": index,
            "label": record.label,
        }
