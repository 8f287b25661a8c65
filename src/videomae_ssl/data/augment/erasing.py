"""Random erasing of whole clips (timm's RandomErasing with one box for every frame), drawn in
the workers as an `ErasePlan` and applied on the normalised batch on the device."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import NamedTuple

import torch

from videomae_ssl.errors import ConfigError
from videomae_ssl.seeding import draw_seed


class ErasePlan(NamedTuple):
    """Where to erase one clip and with which noise: boxes (top, left, height, width) on the
    frame, none when the clip is left alone, and the seed of the noise generator."""

    seed: int
    mode: str
    boxes: tuple[tuple[int, int, int, int], ...]


def erasing_noise(
    mode: str, shape: tuple[int, int, int], generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """The fill of one box as timm's RandomErasing draws it, from `generator`: per-pixel
    standard normal noise ("pixel", `shape`), one normal value per channel ("rand", (C, 1, 1))
    or zeros ("const")."""
    if mode == "pixel":
        return torch.empty(shape, device=device).normal_(generator=generator)
    if mode == "rand":
        return torch.empty((shape[0], 1, 1), device=device).normal_(generator=generator)
    return torch.zeros((shape[0], 1, 1), device=device)


def erase_clip(clip: torch.Tensor, plan: ErasePlan) -> torch.Tensor:
    """Erase the plan's boxes in every channel of every frame, in place.

    clip: float (3, T, H, W), normalised, contiguous, on any device -> the same tensor. The noise
    comes from a generator on the clip's device seeded with `plan.seed`, one box after the other.
    """
    if not plan.boxes:
        return clip
    channels, frames, height, width = clip.shape
    flat = clip.view(channels * frames, height, width)  # (3 * T, H, W)
    generator = torch.Generator(device=clip.device).manual_seed(plan.seed)
    for top, left, h, w in plan.boxes:
        noise = erasing_noise(plan.mode, (channels * frames, h, w), generator, clip.device)
        flat[:, top : top + h, left : left + w] = noise
    return clip


class ClipRandomErasing:
    """timm's RandomErasing with one box for the whole clip.

    The normalised clip (3, T, H, W) is seen as one image of 3 * T channels, so one box is
    drawn and erased in every channel of every frame; `mode="pixel"` fills it with standard
    normal noise (independent per pixel, channel and frame). `plan` draws the boxes by timm's
    rule from Python's `random` seeded by one seed from the clip's generator, and `erase_clip`
    fills them from a torch generator with the same seed: what timm does with the global
    generators seeded that way.
    """

    def __init__(
        self,
        p: float = 0.25,
        mode: str = "pixel",
        min_area: float = 0.02,
        max_area: float = 1 / 3,
        min_aspect: float = 0.3,
        max_count: int = 1,
    ) -> None:
        if mode not in ("const", "rand", "pixel"):
            raise ConfigError(
                f"random erasing mode {mode!r} is not one of 'const', 'rand', 'pixel'."
            )
        self.p = p
        self.mode = mode
        self.min_area = min_area
        self.max_area = max_area
        self.log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
        self.max_count = max_count

    def plan(self, height: int, width: int, generator: torch.Generator | None) -> ErasePlan:
        """The boxes for a frame of height x width, drawn as timm's `RandomErasing._erase`:
        erase with probability p, a count in [1, max_count], then per box up to 10 tries of an
        area and a log-uniform aspect until the box fits."""
        seed = draw_seed(generator)
        rng = random.Random(seed)
        boxes: list[tuple[int, int, int, int]] = []
        if rng.random() > self.p:
            return ErasePlan(seed, self.mode, ())
        count = 1 if self.max_count == 1 else rng.randint(1, self.max_count)
        area = height * width
        for _ in range(count):
            for _attempt in range(10):
                target_area = rng.uniform(self.min_area, self.max_area) * area / count
                aspect = math.exp(rng.uniform(*self.log_aspect))
                h = int(round(math.sqrt(target_area * aspect)))
                w = int(round(math.sqrt(target_area / aspect)))
                if w < width and h < height:
                    top = rng.randint(0, height - h)
                    left = rng.randint(0, width - w)
                    boxes.append((top, left, h, w))
                    break
        return ErasePlan(seed, self.mode, tuple(boxes))

    def __call__(self, clip: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """float (3, T, H, W) -> float (3, T, H, W), erased in place (made contiguous first)."""
        clip = clip.contiguous()
        return erase_clip(clip, self.plan(*clip.shape[-2:], generator))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p}, mode={self.mode!r})"


def erase_clips(video: torch.Tensor, plans: Sequence[ErasePlan | None]) -> torch.Tensor:
    """Apply each clip's plan in place: video float (B, 3, T, H, W), contiguous, one plan (or
    None, nothing to erase) per clip -> the same tensor."""
    for clip, plan in zip(video, plans, strict=True):
        if plan is not None:
            erase_clip(clip, plan)
    return video
