"""The fine-tuning clip augmentation as one transform (RandAugment, random resized crop, flip,
an erasing plan) and the evaluation views of a clip."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from videomae_ssl.data.augment.erasing import ClipRandomErasing, ErasePlan
from videomae_ssl.data.augment.geometry import horizontal_flip, random_resized_crop
from videomae_ssl.data.augment.rand_augment import DEFAULT_RAND_AUGMENT, ClipRandAugment
from videomae_ssl.data.transforms import center_crop_resize, channels_first
from videomae_ssl.data.views import short_side_resize, spatial_crops


class FinetuneTrainTransform:
    """The fine-tuning clip augmentation: RandAugment -> random resized crop -> horizontal
    flip -> normalise -> random erasing, with the paper's defaults.

    Called as `transform(clip, generator)`: uint8 (T, 3, H, W) -> (uint8 (3, T, S, S), the
    `ErasePlan` or None without erasing); normalising and erasing follow on the device
    (`on_device.prepare_batch`). `flip=False` for SSv2; `auto_augment=None` or `reprob=0` turn
    those steps off.
    """

    def __init__(
        self,
        input_size: int = 224,
        auto_augment: str | None = DEFAULT_RAND_AUGMENT,
        interpolation: str = "bicubic",
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        flip: bool = True,
        reprob: float = 0.25,
        remode: str = "pixel",
        recount: int = 1,
    ) -> None:
        self.input_size = input_size
        self.rand_augment = (
            ClipRandAugment(auto_augment, input_size, interpolation) if auto_augment else None
        )
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.flip = flip
        self.erasing = (
            ClipRandomErasing(reprob, mode=remode, max_count=recount) if reprob > 0 else None
        )

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, ErasePlan | None]:
        if self.rand_augment is not None:
            clip = self.rand_augment(clip, generator)  # (T, 3, H, W)
        clip = random_resized_crop(clip, self.input_size, generator, self.scale, self.ratio)
        if self.flip:
            clip = horizontal_flip(clip, generator)
        erase = None
        if self.erasing is not None:
            erase = self.erasing.plan(self.input_size, self.input_size, generator)
        return channels_first(clip), erase  # (3, T, S, S) uint8

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.input_size}, "
            f"rand_augment={self.rand_augment}, scale={self.scale}, ratio={self.ratio}, "
            f"flip={self.flip}, erasing={self.erasing})"
        )


def finetune_eval_transform(
    clip: torch.Tensor, input_size: int = 224, num_crops: int = 1
) -> list[torch.Tensor]:
    """Evaluation views of one temporal clip, still uint8 (normalised on the device): with
    `num_crops=1` (validation) the short side resized to `input_size` and the central square;
    with 3 (test) the three crops along the long side.

    clip: uint8 (T, 3, H, W) -> `num_crops` uint8 (3, T, input_size, input_size).
    """
    if num_crops == 1:
        return [channels_first(center_crop_resize(clip, input_size))]
    clip = short_side_resize(clip, input_size)  # (T, 3, H', W'), short side input_size
    return [channels_first(crop) for crop in spatial_crops(clip, input_size, num_crops)]
