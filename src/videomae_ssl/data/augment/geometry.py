"""Random resized crop and horizontal flip of whole clips: one draw per clip, from the clip's
own generator, so every frame gets the same box and the same mirroring."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from videomae_ssl.data.transforms import resize


def random_resized_crop_box(
    height: int,
    width: int,
    generator: torch.Generator | None,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """(top, left, crop_h, crop_w) drawn by torchvision's RandomResizedCrop.get_params rule,
    from `generator` instead of the global RNG: up to 10 tries of an area fraction in `scale`
    and a log-uniform aspect ratio in `ratio`, else the central crop clamped to `ratio`."""
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        log_aspect = torch.empty(1).uniform_(
            log_ratio[0].item(), log_ratio[1].item(), generator=generator
        )
        aspect = torch.exp(log_aspect).item()
        crop_w = int(round(math.sqrt(target_area * aspect)))
        crop_h = int(round(math.sqrt(target_area / aspect)))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
            return top, left, crop_h, crop_w
    in_ratio = width / height
    if in_ratio < min(ratio):
        crop_w, crop_h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        crop_w, crop_h = int(round(height * max(ratio))), height
    else:
        crop_w, crop_h = width, height
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def random_resized_crop(
    clip: torch.Tensor,
    size: int,
    generator: torch.Generator | None,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """One random box for the whole clip, resized (bilinear, antialiased) to size x size.

    clip: uint8 (T, 3, H, W) -> uint8 (T, 3, size, size).
    """
    height, width = clip.shape[-2:]
    top, left, crop_h, crop_w = random_resized_crop_box(height, width, generator, scale, ratio)
    crop = clip[..., top : top + crop_h, left : left + crop_w]  # (T, 3, crop_h, crop_w)
    return resize(crop, (size, size))


def horizontal_flip(
    clip: torch.Tensor, generator: torch.Generator | None, p: float = 0.5
) -> torch.Tensor:
    """Mirror every frame left-right with probability `p` (one draw per clip).

    clip: (..., H, W) -> the same shape. Leave it out for SSv2, whose labels name directions.
    """
    if torch.rand(1, generator=generator).item() < p:
        return clip.flip(-1)
    return clip
