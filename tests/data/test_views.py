"""Test-time views: short-side resize, three crops along the long side and the view grid."""

import pytest
import torch

from videomae_ssl.data.views import (
    crop_offsets,
    short_side_resize,
    spatial_crops,
    three_crops,
    view_grid,
)


def numbered_clip(t, h, w):
    """A uint8 clip whose every (frame, channel, row) differs, so a crop's position is visible."""
    values = torch.arange(t * 3 * h * w) % 251
    return values.to(torch.uint8).reshape(t, 3, h, w)


@pytest.mark.parametrize(
    ("shape", "size", "expected"),
    [
        ((2, 3, 48, 64), 24, (24, 32)),
        ((2, 3, 64, 48), 24, (32, 24)),
        ((1, 3, 30, 30), 12, (12, 12)),
    ],
)
def test_short_side_resize_keeps_aspect(shape, size, expected):
    out = short_side_resize(torch.zeros(shape, dtype=torch.uint8), size)
    assert out.shape == (*shape[:2], *expected)
    assert out.dtype == torch.uint8


def test_three_crops_landscape_left_centre_right():
    clip = numbered_clip(4, 32, 40)
    crops = three_crops(clip, 32)
    # Free width 8: offsets 0, 4, 8 (8 / 2 = 4 per step).
    assert [c.shape for c in crops] == [(4, 3, 32, 32)] * 3
    for crop, left in zip(crops, (0, 4, 8), strict=True):
        assert torch.equal(crop, clip[:, :, :, left : left + 32])


def test_three_crops_portrait_top_centre_bottom():
    clip = numbered_clip(4, 45, 32)
    crops = three_crops(clip, 32)
    # Free height 13: offsets int(0), int(6.5) = 6, int(13) = 13.
    for crop, top in zip(crops, (0, 6, 13), strict=True):
        assert torch.equal(crop, clip[:, :, top : top + 32, :])


def test_crops_centre_the_short_side_when_larger():
    clip = numbered_clip(2, 36, 50)
    crops = spatial_crops(clip, 32, 3)
    # Height 36 -> centred top 2; width 50, free 18 -> 0, 9, 18.
    for crop, left in zip(crops, (0, 9, 18), strict=True):
        assert torch.equal(crop, clip[:, :, 2:34, left : left + 32])


def test_square_clip_gives_identical_crops():
    clip = numbered_clip(2, 32, 32)
    assert all(torch.equal(c, clip) for c in three_crops(clip, 32))


def test_crop_offsets():
    assert crop_offsets(320, 224, 3) == [0, 48, 96]
    assert crop_offsets(298, 224, 3) == [0, 37, 74]
    assert crop_offsets(300, 224, 1) == [38]
    assert crop_offsets(299, 224, 1) == [38]  # round(37.5) = 38, as torchvision's center_crop
    with pytest.raises(ValueError):
        crop_offsets(200, 224, 3)


def test_view_grid_enumerates_clip_major():
    grid = view_grid(5, 3)
    assert len(grid) == 15 and len(set(grid)) == 15
    assert grid[:4] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert all(grid[v] == (v // 3, v % 3) for v in range(15))
    assert view_grid(2, 3) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
