"""Mask generators as small callables, built once from config, handed to the data path and
called there with each clip's own generator (never torch's global one)."""

from __future__ import annotations

import torch

from videomae_ssl.masking.functional import (
    CELL,
    Grid,
    check_decoder_ratio,
    check_ratio,
    random_mask,
    running_cell_mask,
    tube_mask,
)


class MaskGenerator:
    """Draws one mask for a token grid from a per-sample generator."""

    tube: bool = True

    def __init__(self, ratio: float) -> None:
        self.ratio = float(ratio)

    def check(self, grid: Grid) -> None:
        """Raise ConfigError naming `mask_ratio` if the ratio cannot work on this grid."""
        check_ratio(self.ratio, grid, tube=self.tube)

    def __call__(self, grid: Grid, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio})"


class TubeMaskGenerator(MaskGenerator):
    """Tube masking, the VideoMAE default (ratio 0.9, or 0.75 on small datasets)."""

    tube = True

    def __call__(self, grid: Grid, generator: torch.Generator) -> torch.Tensor:
        return tube_mask(grid, self.ratio, generator)


class RandomMaskGenerator(MaskGenerator):
    """Uniform space-time masking (MAE-ST)."""

    tube = False

    def __call__(self, grid: Grid, generator: torch.Generator) -> torch.Tensor:
        return random_mask(grid, self.ratio, generator)


class RunningCellMaskGenerator(MaskGenerator):
    """Decoder masking of VideoMAE V2 (ratio 0.5 there): the running-cell mask with a random
    phase. Its masks say which tokens the decoder does *not* reconstruct; it never touches the
    encoder's mask."""

    tube = False

    def check(self, grid: Grid) -> None:
        """Raise ConfigError naming `decoder_mask_ratio` if the ratio cannot work on this grid."""
        check_decoder_ratio(self.ratio, grid)

    def __call__(self, grid: Grid, generator: torch.Generator) -> torch.Tensor:
        phase = int(torch.randint(CELL, (), generator=generator))
        return running_cell_mask(grid, self.ratio, phase)


def decoder_mask_generator(ratio: float) -> RunningCellMaskGenerator | None:
    """The decoder masking of `model.decoder_mask_ratio`: a running-cell generator, or None at
    ratio 0 (VideoMAE: the decoder reconstructs every masked token)."""
    return RunningCellMaskGenerator(ratio) if ratio else None
