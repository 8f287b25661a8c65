"""Motion-guided masking (MGM, Fan et al., ICCV 2023): each temporal slice hides a region
centred on where the clip moves most in that slice, so the hidden volume follows the motion
through time; the rest of the slice's budget is filled at random. The motion comes as a map
over the token grid (`data.motion` builds it from the codec's motion vectors).

The count is tube masking's: every slice hides exactly `int(ratio * H' * W')` cells, so every
sample hides `T' * int(ratio * H' * W')` tokens whatever its motion.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from videomae_ssl.masking.functional import Grid, num_masked_per_slice


def guided_slices(motion: torch.Tensor | None, slices: int) -> torch.Tensor:
    """Which of `slices` temporal slices a motion map can guide -> Bool[T'].

    motion: (T', H', W') mean motion per token, NaN over a slice whose frames carry no motion
    vectors (intra-only codecs, keyframes, frame folders), or None (no map at all). A slice
    with vectors but no movement anywhere (a static shot) has no region to follow either.
    """
    if motion is None:
        return torch.zeros(slices, dtype=torch.bool)
    finite = torch.isfinite(motion).flatten(1).all(dim=1)  # (T',)
    moving = motion.nan_to_num(0.0).flatten(1).amax(dim=1) > 0  # (T',)
    return finite & moving


def motion_peak(motion: torch.Tensor, tie: torch.Tensor) -> tuple[int, int]:
    """(row, column) of the strongest motion of one slice's map (H', W'), after a 3x3 mean
    (zeros beyond the border) so that one block's stray vector does not outweigh a moving
    region; equal means are decided by the token's own motion, then by `tie` (H' * W',), the
    sample's own random numbers."""
    h, w = motion.shape
    smooth = F.avg_pool2d(motion[None, None], 3, stride=1, padding=1).flatten()  # (H'*W',)
    own = motion.flatten()  # (H'*W',)
    lowest = torch.full_like(own, -math.inf)
    best = smooth == smooth.max()
    best &= torch.where(best, own, lowest) == torch.where(best, own, lowest).max()
    flat = int(torch.argmax(torch.where(best, tie, torch.full_like(tie, -1.0))))
    return flat // w, flat % w


def region_around(
    peak: tuple[int, int], shape: tuple[int, int], count: int, tie: torch.Tensor
) -> torch.Tensor:
    """The `count` cells of an (H', W') slice nearest `peak` -> flat indices (count,).

    Nearest by chessboard distance first (the region grows as a square around the peak), then
    by Euclidean distance (a square's corners last), then by `tie`; cut by the frame's border,
    the square extends on the other side, so the region always holds `count` cells.
    """
    h, w = shape
    ys = torch.arange(h).view(h, 1).expand(h, w).flatten()  # (H'*W',)
    xs = torch.arange(w).view(1, w).expand(h, w).flatten()  # (H'*W',)
    dy, dx = (ys - peak[0]).abs(), (xs - peak[1]).abs()
    chessboard = torch.maximum(dy, dx).double()
    euclid = (dy * dy + dx * dx).double()
    # Euclidean distances stay below (h*h + w*w + 1), ties below 1: one sort key orders all three.
    key = chessboard * (h * h + w * w + 1) + euclid + tie.double()
    return torch.argsort(key)[:count]


def motion_mask(
    grid: Grid,
    ratio: float,
    generator: torch.Generator,
    motion: torch.Tensor | None,
    region_share: float = 0.5,
) -> torch.Tensor:
    """Motion-guided masking -> Bool[T' * H' * W'], True = hidden, exactly T' *
    int(ratio * H' * W') hidden.

    Per slice, `int(region_share * n)` of its n hidden cells form a square region around the
    slice's motion peak (`motion_peak`, `region_around`); the other cells come, in order, from
    one random permutation of the spatial cells drawn for the whole clip (tube masking's order),
    skipping those already in the region. A slice the map cannot guide (`guided_slices`) takes
    its n cells from that order alone: with no map at all the mask is exactly `tube_mask`'s for
    the same generator.

    motion: (T', H', W') as `guided_slices` describes, or None.
    """
    t, h, w = grid
    n = num_masked_per_slice(grid, ratio)
    region_size = int(region_share * n)
    order = torch.randperm(h * w, generator=generator)  # (H'*W',) drawn first, as tube_mask
    tie = torch.rand(h * w, generator=generator)  # (H'*W',) the same draws whatever the motion
    guided = guided_slices(motion, t)
    mask = torch.zeros(t, h * w, dtype=torch.bool)
    for s in range(t):
        if guided[s] and region_size > 0:
            peak = motion_peak(motion[s].float(), tie)
            mask[s, region_around(peak, (h, w), region_size, tie)] = True
        free = order[~mask[s, order]]  # the permutation without the region's cells
        mask[s, free[: n - int(mask[s].sum())]] = True
    return mask.flatten()  # (T'*H'*W',), slice-major so w stays fastest
