"""Mask generators as pure functions.

Convention, used everywhere in videomae_ssl: a mask is a boolean tensor over the flattened
token grid in (t, h, w) raster order, w fastest, and True means *hidden from the encoder*.
A decoder mask (VideoMAE V2) follows the same layout, True meaning *not reconstructed*.
"""

from __future__ import annotations

import torch

from videomae_ssl.errors import ConfigError

Grid = tuple[int, int, int]  # (T', H', W') tokens along time, height, width


def num_masked_per_slice(grid: Grid, ratio: float) -> int:
    """Masked cells in one temporal slice of a tube mask: int(ratio * (H' * W')) (truncation),
    the cell count first, as the original (ratio * H' * W' evaluated left to right rounds
    differently on some grids, e.g. 10x10 at 0.94: 93 instead of 94)."""
    _, h, w = grid
    return int(ratio * (h * w))


def check_ratio(ratio: float, grid: Grid, tube: bool = True, key: str = "mask_ratio") -> None:
    """Reject a ratio outside (0, 1), or one that hides no token or leaves none visible on `grid`."""
    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"{key}={ratio} is outside the valid range (0, 1).")
    t, h, w = grid
    cells = h * w if tube else t * h * w
    hidden = int(ratio * cells)
    if 0 < hidden < cells:
        return
    what = "hides no token" if hidden == 0 else "leaves no visible token"
    raise ConfigError(
        f"{key}={ratio} {what} on a {t}x{h}x{w} token grid (int({ratio} * {cells}) = {hidden} of "
        f"{cells} masked{' per frame slice' if tube else ''}); choose {key} in "
        f"[{1 / cells:.4f}, {(cells - 1) / cells:.4f}]."
    )


def tube_mask(grid: Grid, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Tube masking (VideoMAE): one random spatial mask repeated over every temporal slice.

    Returns Bool[T' * H' * W'] with exactly T' * int(ratio * H' * W') True entries.
    """
    t, h, w = grid
    n_masked = num_masked_per_slice(grid, ratio)
    order = torch.randperm(h * w, generator=generator)  # (H'*W',)
    spatial = torch.zeros(h * w, dtype=torch.bool)
    spatial[order[:n_masked]] = True
    return spatial.repeat(t)  # (T'*H'*W',), slice-major so w stays fastest


def random_mask(grid: Grid, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Random space-time masking (MAE-ST): int(ratio * N) tokens hidden uniformly over all N."""
    t, h, w = grid
    n = t * h * w
    n_masked = int(ratio * n)
    order = torch.randperm(n, generator=generator)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[order[:n_masked]] = True
    return mask


# The running cell is 2x2 tokens: decoder masking needs an even token grid.
CELL = 4


def check_decoder_ratio(ratio: float, grid: Grid, key: str = "decoder_mask_ratio") -> None:
    """Reject a decoder mask ratio the running cell cannot make: 0 (off), or one hiding 1 to 3
    of the 4 tokens of a 2x2 cell (0.25 <= ratio < 1), on a grid of even height and width."""
    if ratio == 0:
        return
    hidden = int(CELL * ratio)
    if not 0 < hidden < CELL:
        raise ConfigError(
            f"{key}={ratio} hides int({CELL} * {ratio}) = {hidden} of the {CELL} tokens of a "
            f"running cell; choose 0 (off) or a ratio in [0.25, 1), VideoMAE V2 uses 0.5."
        )
    _, h, w = grid
    if h % 2 or w % 2:
        raise ConfigError(
            f"{key}={ratio} needs an even token grid for its 2x2 cells, got {h}x{w} tokens per "
            f"frame slice; set {key}=0 or change the input size."
        )


def running_cell_mask(grid: Grid, ratio: float, phase: int) -> torch.Tensor:
    """Decoder masking of VideoMAE V2 ("running cell"). Bool[T' * H' * W'], True = the decoder
    does not reconstruct the token.

    A 2x2 cell hides `int(4 * ratio)` of its tokens, tiled over every frame slice; the hidden
    positions move by one (in the cell's raster order) from one slice to the next, so over four
    slices every position is reconstructed equally often. Slice t of phase p hides cell position
    j = 2 * (h % 2) + (w % 2) when (j + p + t + 1) % 4 < int(4 * ratio), as in V2's
    `RunningCellMaskingGenerator` (whose cell pointer is advanced before the first slice).
    """
    t, h, w = grid
    hidden = int(CELL * ratio)
    j = 2 * (torch.arange(h) % 2).view(h, 1) + (torch.arange(w) % 2).view(1, w)  # (H', W')
    shift = torch.arange(t).view(t, 1, 1) + phase + 1  # (T', 1, 1)
    return ((j + shift) % CELL < hidden).flatten()  # (T'*H'*W',)
