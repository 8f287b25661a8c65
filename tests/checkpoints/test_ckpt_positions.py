"""Position tables on a new token grid: space and time resized separately, meanings kept."""

import pytest
import torch

from videomae_ssl.models.pos_embed import resize_pos_table, sinusoid_table


def grid_table(t, h, w, dim=4):
    """A table whose row for token (ti, hi, wi) is random: (t * h * w, dim), w fastest."""
    return torch.randn(
        t * h * w, dim, generator=torch.Generator().manual_seed(t * 100 + h * 10 + w)
    )


def test_same_grid_is_exact():
    table = sinusoid_table(8 * 14 * 14, 64)
    assert torch.equal(resize_pos_table(table, (8, 14, 14), (8, 14, 14)), table)


def test_time_is_interpolated_linearly_per_spatial_position():
    table = grid_table(2, 3, 3)
    out = resize_pos_table(table, (2, 3, 3), (4, 3, 3)).reshape(4, 3, 3, -1)
    e0, e1 = table.reshape(2, 3, 3, -1)
    # align_corners=False: new frame i sits at old time (i + 0.5) / 2 - 0.5 -> -0.25 (clamped
    # to 0), 0.25, 0.75, 1.25 (clamped to 1).
    expected = torch.stack([e0, 0.75 * e0 + 0.25 * e1, 0.25 * e0 + 0.75 * e1, e1])
    torch.testing.assert_close(out, expected)


def test_space_keeps_each_position_and_leaves_time_alone():
    table = grid_table(3, 2, 2)
    out = resize_pos_table(table, (3, 2, 2), (3, 6, 6)).reshape(3, 6, 6, -1)
    src = table.reshape(3, 2, 2, -1)
    # Upsampling 2 -> 6: new index 1 + 3k sits exactly on old index k, where bicubic weights
    # are (0, 1, 0, 0); every frame is resized on its own.
    torch.testing.assert_close(out[:, 1::3, 1::3], src)


def test_space_and_time_together_equal_one_after_the_other():
    table = sinusoid_table(2 * 4 * 4, 16)
    both = resize_pos_table(table, (2, 4, 4), (4, 6, 6))
    stepwise = resize_pos_table(resize_pos_table(table, (2, 4, 4), (2, 6, 6)), (2, 6, 6), (4, 6, 6))
    torch.testing.assert_close(both, stepwise)
    assert both.shape == (4 * 6 * 6, 16) and both.dtype == torch.float32


def test_a_table_of_the_wrong_size_is_rejected():
    with pytest.raises(ValueError, match="grid"):
        resize_pos_table(torch.zeros(10, 4), (2, 2, 2), (2, 4, 4))
