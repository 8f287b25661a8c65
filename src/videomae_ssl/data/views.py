"""Test-time views: each temporal clip is resized to a short side of 224 and cut into three
224 crops along its long side (left/centre/right, or top/centre/bottom for portrait videos).

A video's views are numbered by (clip_index, crop_index) pairs from `view_grid`, so that the
scores of every view of a video can be grouped and averaged after a distributed test run.
Clips are uint8 `(T, 3, H, W)`, the layout of `videomae_ssl.data.transforms`.
"""

from __future__ import annotations

import torch

from videomae_ssl.data.transforms import resize


def short_side_resize(clip: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (T, 3, H, W) -> (T, 3, H', W') with min(H', W') = size, aspect kept (bilinear,
    antialiased)."""
    return resize(clip, size)


def crop_offsets(length: int, size: int, num_crops: int) -> list[int]:
    """Where `num_crops` crops of `size` start along a side of `length`: int(i * (length -
    size) / (num_crops - 1)) as the original's test mode, so the first touches the start and
    the last the end. One crop is centred (rounded as torchvision's center_crop)."""
    if size > length:
        raise ValueError(f"a crop of {size} does not fit in a side of {length}")
    if num_crops < 1:
        raise ValueError(f"num_crops must be >= 1, got {num_crops}")
    free = length - size
    if num_crops == 1:
        return [int(round(free / 2.0))]
    step = free / (num_crops - 1)
    return [int(i * step) for i in range(num_crops)]


def crop_boxes(height: int, width: int, size: int, num_crops: int = 3) -> list[tuple[int, int]]:
    """(top, left) of each crop: spread along the long side (the height when height >= width,
    as the original), centred along the other."""
    if height >= width:
        left = crop_offsets(width, size, 1)[0]
        return [(top, left) for top in crop_offsets(height, size, num_crops)]
    top = crop_offsets(height, size, 1)[0]
    return [(top, left) for left in crop_offsets(width, size, num_crops)]


def spatial_crops(clip: torch.Tensor, size: int, num_crops: int = 3) -> list[torch.Tensor]:
    """uint8 (T, 3, H, W) -> `num_crops` views (T, 3, size, size) at `crop_boxes`."""
    height, width = clip.shape[-2:]
    return [
        clip[..., top : top + size, left : left + size]  # (T, 3, size, size)
        for top, left in crop_boxes(height, width, size, num_crops)
    ]


def three_crops(clip: torch.Tensor, size: int = 224) -> list[torch.Tensor]:
    """The three test crops of a clip already resized to short side `size`:
    left/centre/right for landscape clips, top/centre/bottom for portrait ones."""
    return spatial_crops(clip, size, 3)


def view_grid(num_clips: int, num_crops: int) -> list[tuple[int, int]]:
    """Every (clip_index, crop_index) view of a video, clip-major: view v is
    (v // num_crops, v % num_crops)."""
    return [(clip, crop) for clip in range(num_clips) for crop in range(num_crops)]
