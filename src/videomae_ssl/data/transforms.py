"""Clip transforms for pretraining: multi-scale crop, centre crop, normalisation.

Clips are whole `uint8` tensors laid out `(T, 3, H, W)`, frames first and channels second, the
layout torch's resize kernels take. A reader's `(T, H, W, 3)` output becomes this layout with
`frames.permute(0, 3, 1, 2)`, a free view (and channels-last in memory, which the uint8 resize
kernels prefer). Every frame of a clip gets the same crop, so motion is not distorted.

Workers hand clips over still in uint8, in the model's `(3, T, H, W)` layout (`channels_first`):
a quarter of the bytes of float32 through pinned memory and the bus. The batch is normalised
on the device (`normalize_video`, called by the Lightning modules); `normalize` does the same
for one clip where no data loader is involved (prediction, pictures).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchvision.transforms.v2.functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def multiscale_crop_sizes(
    image_w: int,
    image_h: int,
    input_size: int,
    scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66),
    max_distort: int = 1,
) -> list[tuple[int, int]]:
    """The (crop_w, crop_h) pairs GroupMultiScaleCrop (TSN, VideoMAE) chooses from.

    Sides are int(short_side * scale); a side within 3 px of `input_size` (|d| < 3) snaps to it;
    width and height may use scales at most `max_distort` steps apart. Unlike the original, a
    snapped side never exceeds the frame: the original would crop past the border and pad black.
    """
    base = min(image_w, image_h)
    sides = [int(base * s) for s in scales]
    sides = [input_size if abs(x - input_size) < 3 else x for x in sides]
    return [
        (min(w, image_w), min(h, image_h))
        for i, h in enumerate(sides)
        for j, w in enumerate(sides)
        if abs(i - j) <= max_distort
    ]


def fixed_crop_offsets(
    image_w: int, image_h: int, crop_w: int, crop_h: int, more_fix_crop: bool = True
) -> list[tuple[int, int]]:
    """The (x, y) top-left corners of the 5 (or 13 with `more_fix_crop`) fixed crop positions,
    on a grid of quarter steps of the free space, in the original order."""
    w_step = (image_w - crop_w) // 4
    h_step = (image_h - crop_h) // 4
    steps = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)]  # corners, then centre
    if more_fix_crop:
        steps += [(0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3)]
    return [(i * w_step, j * h_step) for i, j in steps]


def resize(clip: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with antialiasing (as PIL's BILINEAR, which the original used).

    clip: uint8 (T, 3, H, W); an int `size` sets the short side, a pair sets (height, width).
    """
    size = [size] if isinstance(size, int) else list(size)
    return TF.resize(clip, size, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)


class MultiScaleCrop:
    """GroupMultiScaleCrop from TSN/VideoMAE: a random crop size from `multiscale_crop_sizes`, a
    random one of the fixed offsets, the same for every frame, then a resize to `input_size`."""

    def __init__(
        self,
        input_size: int = 224,
        scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66),
        max_distort: int = 1,
        more_fix_crop: bool = True,
    ) -> None:
        self.input_size = input_size
        self.scales = tuple(scales)
        self.max_distort = max_distort
        self.more_fix_crop = more_fix_crop

    def sample_box(
        self, image_w: int, image_h: int, generator: torch.Generator | None = None
    ) -> tuple[int, int, int, int]:
        """Draw (x, y, crop_w, crop_h): first the size, then the offset, as the original does."""
        sizes = multiscale_crop_sizes(
            image_w, image_h, self.input_size, self.scales, self.max_distort
        )
        crop_w, crop_h = sizes[int(torch.randint(len(sizes), (1,), generator=generator))]
        offsets = fixed_crop_offsets(image_w, image_h, crop_w, crop_h, self.more_fix_crop)
        x, y = offsets[int(torch.randint(len(offsets), (1,), generator=generator))]
        return x, y, crop_w, crop_h

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """clip: uint8 (T, 3, H, W) -> uint8 (T, 3, input_size, input_size)."""
        height, width = clip.shape[-2:]
        return self.apply(clip, self.sample_box(width, height, generator))

    def apply(self, clip: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
        """The crop `box` (x, y, crop_w, crop_h) of clip uint8 (T, 3, H, W), resized ->
        uint8 (T, 3, input_size, input_size)."""
        x, y, crop_w, crop_h = box
        crop = clip[..., y : y + crop_h, x : x + crop_w]  # (T, 3, crop_h, crop_w)
        return resize(crop, (self.input_size, self.input_size))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.input_size}, scales={self.scales}, "
            f"max_distort={self.max_distort}, more_fix_crop={self.more_fix_crop})"
        )


def center_crop_resize(clip: torch.Tensor, input_size: int) -> torch.Tensor:
    """Validation view: short side resized to `input_size`, then the central square.

    clip: uint8 (T, 3, H, W) -> uint8 (T, 3, input_size, input_size).
    """
    clip = resize(clip, input_size)  # (T, 3, H', W'), min(H', W') = input_size
    return TF.center_crop(clip, [input_size, input_size])


def center_box(width: int, height: int, input_size: int) -> tuple[float, float, float, float]:
    """The part of a (width, height) frame that `center_crop_resize` keeps, as (x, y, w, h) in
    the frame's pixels: the short side resized to `input_size` (the long one truncated, as
    torchvision computes it), then the centre square (offsets rounded as its center_crop)."""
    short, long = min(width, height), max(width, height)
    resized_long = int(input_size * long / short)
    resized_w, resized_h = (
        (input_size, resized_long) if width <= height else (resized_long, input_size)
    )
    left = int(round((resized_w - input_size) / 2.0))
    top = int(round((resized_h - input_size) / 2.0))
    sx, sy = width / resized_w, height / resized_h
    return left * sx, top * sy, input_size * sx, input_size * sy


def _affine(mean: Sequence[float], std: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """(x / 255 - mean) / std rewritten as x * scale + shift, computed in float64 so that the
    float32 constants are correctly rounded; shaped (3, 1, 1, 1) to broadcast over (3, T, H, W)."""
    mean64 = torch.tensor(mean, dtype=torch.float64)
    std64 = torch.tensor(std, dtype=torch.float64)
    scale = (1.0 / (255.0 * std64)).to(torch.float32).view(3, 1, 1, 1)
    shift = (-mean64 / std64).to(torch.float32).view(3, 1, 1, 1)
    return scale, shift


_SCALE, _SHIFT = _affine(IMAGENET_MEAN, IMAGENET_STD)
_AFFINE_ON: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


def _affine_on(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The constants on `device`, copied there once per process (not once per batch)."""
    if device not in _AFFINE_ON:
        _AFFINE_ON[device] = (_SCALE.to(device), _SHIFT.to(device))
    return _AFFINE_ON[device]


def channels_first(clip: torch.Tensor) -> torch.Tensor:
    """uint8 (T, 3, H, W) -> uint8 (3, T, H, W), contiguous: what workers hand over."""
    return clip.permute(1, 0, 2, 3).contiguous()  # (3, T, H, W)


def normalize_video(video: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, T, H, W) -> float32, same shape: /255, then ImageNet mean and std per
    channel, on the tensor's device. A floating-point video is taken as already normalised and
    returned unchanged.

    One conversion, then one multiply-add applies /255, mean and std together; the result is
    bit for bit what `normalize` gives for the same clip, wherever it runs.
    """
    if video.is_floating_point():
        return video
    scale, shift = _affine_on(video.device)
    return video.to(torch.float32).mul_(scale).add_(shift)


def normalize(clip: torch.Tensor) -> torch.Tensor:
    """uint8 (T, 3, H, W) -> float32 (3, T, H, W): /255, then ImageNet mean and std per channel.

    One pass converts and transposes (the channel-interleaved input is read once), then one
    multiply-add applies /255, mean and std together. Results differ from the three-step
    formula by float32 rounding only (below 1e-6).
    """
    x = clip.permute(1, 0, 2, 3).to(torch.float32, memory_format=torch.contiguous_format)
    return x.mul_(_SCALE).add_(_SHIFT)  # (3, T, H, W)
