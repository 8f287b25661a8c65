"""Mask generators as small callables, built once from config, handed to the data path and
called there with each clip's own generator (never torch's global one)."""

from __future__ import annotations

import torch

from videomae_ssl.errors import ConfigError
from videomae_ssl.masking.functional import (
    CELL,
    Grid,
    check_decoder_ratio,
    check_ratio,
    random_mask,
    running_cell_mask,
    tube_mask,
)
from videomae_ssl.masking.motion import motion_mask


class MaskGenerator:
    """Draws one mask for a token grid from a per-sample generator.

    `motion` is the clip's motion map over the token grid, (T', H', W'), given by the data path
    to generators that set `needs_motion` (motion-guided masking) and ignored by the others.
    """

    tube: bool = True
    needs_motion: bool = False

    def __init__(self, ratio: float) -> None:
        self.ratio = float(ratio)

    def check(self, grid: Grid) -> None:
        """Raise ConfigError naming `mask_ratio` if the ratio cannot work on this grid."""
        check_ratio(self.ratio, grid, tube=self.tube)

    def __call__(
        self, grid: Grid, generator: torch.Generator, motion: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio})"


class TubeMaskGenerator(MaskGenerator):
    """Tube masking, the VideoMAE default (ratio 0.9, or 0.75 on small datasets)."""

    tube = True

    def __call__(
        self, grid: Grid, generator: torch.Generator, motion: torch.Tensor | None = None
    ) -> torch.Tensor:
        return tube_mask(grid, self.ratio, generator)


class RandomMaskGenerator(MaskGenerator):
    """Uniform space-time masking (MAE-ST)."""

    tube = False

    def __call__(
        self, grid: Grid, generator: torch.Generator, motion: torch.Tensor | None = None
    ) -> torch.Tensor:
        return random_mask(grid, self.ratio, generator)


class MotionMaskGenerator(MaskGenerator):
    """Motion-guided masking (MGM): per slice a region around the strongest motion, the rest of
    tube masking's count at random (`masking.motion.motion_mask`). `region_share` is the part of
    each slice's hidden cells given to the region. Slices without motion vectors fall back to
    random tube cells."""

    tube = True
    needs_motion = True

    def __init__(self, ratio: float, region_share: float = 0.5) -> None:
        super().__init__(ratio)
        if not 0.0 <= region_share <= 1.0:
            raise ConfigError(
                f"masking.region_share={region_share} must be a share of the hidden cells in "
                f"[0, 1] (0: tube masking, 1: every hidden cell around the motion)."
            )
        self.region_share = float(region_share)

    def __call__(
        self, grid: Grid, generator: torch.Generator, motion: torch.Tensor | None = None
    ) -> torch.Tensor:
        return motion_mask(grid, self.ratio, generator, motion, self.region_share)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio}, region_share={self.region_share})"


class RunningCellMaskGenerator(MaskGenerator):
    """Decoder masking of VideoMAE V2 (ratio 0.5 there): the running-cell mask with a random
    phase. Its masks say which tokens the decoder does *not* reconstruct; it never touches the
    encoder's mask."""

    tube = False

    def check(self, grid: Grid) -> None:
        """Raise ConfigError naming `decoder_mask_ratio` if the ratio cannot work on this grid."""
        check_decoder_ratio(self.ratio, grid)

    def __call__(
        self, grid: Grid, generator: torch.Generator, motion: torch.Tensor | None = None
    ) -> torch.Tensor:
        phase = int(torch.randint(CELL, (), generator=generator))
        return running_cell_mask(grid, self.ratio, phase)


def decoder_mask_generator(ratio: float) -> RunningCellMaskGenerator | None:
    """The decoder masking of `model.decoder_mask_ratio`: a running-cell generator, or None at
    ratio 0 (VideoMAE: the decoder reconstructs every masked token)."""
    return RunningCellMaskGenerator(ratio) if ratio else None
