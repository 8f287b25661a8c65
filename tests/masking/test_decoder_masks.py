"""VideoMAE V2's running-cell decoder mask, and the token indices a training step uses."""

import numpy as np
import pytest
import torch

from videomae_ssl.errors import ConfigError
from videomae_ssl.masking import (
    RunningCellMaskGenerator,
    check_decoder_ratio,
    mask_to_indices,
    running_cell_mask,
    token_indices,
    tube_mask,
)


def v2_running_cell(grid, ratio, phase):
    """VideoMAE V2's RunningCellMaskingGenerator for one start position, as its code reads:
    a queue of int(4 * ratio) ones then zeros, a pointer advanced before every frame slice,
    the 2x2 cell read from the pointer on and tiled over the slice."""
    t, h, w = grid
    hidden = int(4 * ratio)
    queue = np.hstack([np.ones(hidden), np.zeros(4 - hidden)])
    ptr = phase
    slices = []
    for _ in range(t):
        ptr += 1
        cell = queue[(np.arange(4) + ptr) % 4].reshape(2, 2)
        slices.append(np.tile(cell, [h // 2, w // 2]).flatten())
    return torch.from_numpy(np.stack(slices).flatten().astype(bool))


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("grid", [(8, 14, 14), (3, 2, 6), (5, 4, 2)])
def test_running_cell_matches_videomae_v2(grid, ratio):
    for phase in range(4):
        assert torch.equal(
            running_cell_mask(grid, ratio, phase), v2_running_cell(grid, ratio, phase)
        )


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_running_cell_counts_and_rotation(ratio):
    t, h, w = 8, 14, 14
    mask = running_cell_mask((t, h, w), ratio, 1).view(t, h, w)
    hidden = int(4 * ratio)
    # Every slice hides the same share; every 2x2 cell hides int(4 * ratio) of its tokens.
    assert (mask.flatten(1).sum(1) == hidden * h * w // 4).all()
    cells = mask.view(t, h // 2, 2, w // 2, 2).sum(dim=(2, 4))
    assert (cells == hidden).all()
    # Over four consecutive slices each position is hidden equally often.
    assert (mask[:4].sum(0) == hidden).all()


def test_generator_draws_the_phase_from_its_generator():
    g = RunningCellMaskGenerator(0.5)
    grid = (4, 6, 6)
    drawn = {tuple(g(grid, torch.Generator().manual_seed(s)).tolist()) for s in range(20)}
    phases = {tuple(running_cell_mask(grid, 0.5, p).tolist()) for p in range(4)}
    assert drawn == phases  # V2's four start positions, and nothing else
    assert torch.equal(
        g(grid, torch.Generator().manual_seed(3)), g(grid, torch.Generator().manual_seed(3))
    )


@pytest.mark.parametrize("ratio", [0.2, 1.0, -0.5])
def test_decoder_ratio_the_cell_cannot_make_is_rejected(ratio):
    with pytest.raises(ConfigError, match="decoder_mask_ratio"):
        check_decoder_ratio(ratio, (8, 14, 14))


def test_decoder_masking_needs_an_even_grid():
    check_decoder_ratio(0.0, (8, 7, 7))  # off: any grid
    with pytest.raises(ConfigError, match="model.decoder_mask_ratio=0.5 needs an even token grid"):
        check_decoder_ratio(0.5, (8, 7, 7), key="model.decoder_mask_ratio")
    with pytest.raises(ConfigError, match="even"):
        RunningCellMaskGenerator(0.5).check((8, 14, 7))


def masks(b, grid=(4, 6, 6), ratio=0.75):
    return torch.stack([tube_mask(grid, ratio, torch.Generator().manual_seed(s)) for s in range(b)])


def test_mask_to_indices_with_a_given_count_needs_no_look_at_the_mask():
    mask = masks(3)
    n_masked = int(mask[0].sum())
    for a, b in zip(mask_to_indices(mask), mask_to_indices(mask, n_masked), strict=True):
        assert torch.equal(a, b)


def test_token_indices_without_decoder_masking():
    mask = masks(3)
    ids = token_indices(mask)
    vis, hidden = mask_to_indices(mask)
    assert torch.equal(ids.visible, vis) and torch.equal(ids.decoded, hidden)
    assert ids.loss_mask is None


def test_token_indices_with_decoder_masking():
    grid = (4, 6, 6)
    mask = masks(2, grid)
    decoder_mask = torch.stack([running_cell_mask(grid, 0.5, p) for p in (0, 3)])
    ids = token_indices(mask, decoder_mask)
    for b in range(2):
        assert ids.visible[b].tolist() == (~mask[b]).nonzero().flatten().tolist()
        # The decoder gets every position its mask keeps, encoder-visible ones included (as V2).
        assert ids.decoded[b].tolist() == (~decoder_mask[b]).nonzero().flatten().tolist()
        assert ids.loss_mask[b].tolist() == mask[b, ids.decoded[b]].tolist()
    assert ids.decoded.shape == (2, 4 * 36 // 2)


def test_token_indices_rejects_unequal_decoder_counts():
    mask = masks(2)
    decoder_mask = torch.zeros_like(mask)
    decoder_mask[0, :5] = True
    with pytest.raises(ValueError, match="same number"):
        token_indices(mask, decoder_mask)
