"""Motion-guided masking as a pure function: the count, the region around the motion, the
fallback to tube cells, the draws from the sample's own generator."""

import math

import pytest
import torch

from videomae_ssl.errors import ConfigError
from videomae_ssl.masking import (
    MotionMaskGenerator,
    RandomMaskGenerator,
    TubeMaskGenerator,
    guided_slices,
    motion_mask,
    tube_mask,
)
from videomae_ssl.masking.functional import num_masked_per_slice


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def blob_motion(grid, centres):
    """A map with one moving token per slice at `centres[t]` (row, col), 0 elsewhere."""
    t, h, w = grid
    motion = torch.zeros(t, h, w)
    for s, (row, col) in enumerate(centres):
        motion[s, row, col] = 4.0
    return motion


@pytest.mark.parametrize("grid", [(8, 14, 14), (4, 4, 4), (2, 10, 10), (3, 5, 7)])
@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.9])
@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_every_slice_hides_tube_maskings_count(grid, ratio, share):
    t, h, w = grid
    per_slice = int(ratio * h * w)  # VideoMAE's count, written out
    rows = torch.randint(h, (t,), generator=g(1)).tolist()
    cols = torch.randint(w, (t,), generator=g(2)).tolist()
    motion = blob_motion(grid, zip(rows, cols, strict=True))
    motion[0] = math.nan  # one slice without vectors
    for seed in range(3):
        mask = motion_mask(grid, ratio, g(seed), motion, share).view(t, h * w)
        assert mask.sum(dim=1).tolist() == [per_slice] * t
        assert mask.sum() == tube_mask(grid, ratio, g(seed)).sum()


def test_without_motion_it_is_tube_masking_for_the_same_generator():
    grid = (8, 14, 14)
    for seed in range(4):
        expected = tube_mask(grid, 0.9, g(seed))
        assert torch.equal(motion_mask(grid, 0.9, g(seed), None), expected)
        no_vectors = torch.full(grid, math.nan)
        assert torch.equal(motion_mask(grid, 0.9, g(seed), no_vectors), expected)
        static = torch.zeros(grid)  # vectors, but nothing moves
        assert torch.equal(motion_mask(grid, 0.9, g(seed), static), expected)


def test_the_region_follows_the_motion_from_slice_to_slice():
    grid = (4, 10, 10)
    centres = [(2, 2), (3, 4), (5, 6), (7, 7)]
    motion = blob_motion(grid, centres)
    share, ratio = 0.5, 0.5
    k = int(share * num_masked_per_slice(grid, ratio))  # 25: a 5x5 square around the peak
    assert k == 25
    for seed in range(5):
        mask = motion_mask(grid, ratio, g(seed), motion, share).view(4, 10, 10)
        for s, (row, col) in enumerate(centres):
            # Every cell within 2 of the moving token (a plain loop over the slice).
            for y in range(10):
                for x in range(10):
                    if max(abs(y - row), abs(x - col)) <= 2:
                        assert mask[s, y, x], (seed, s, y, x)


def test_a_region_cut_by_the_border_keeps_its_size():
    grid = (1, 6, 6)
    motion = blob_motion(grid, [(0, 0)])
    mask = motion_mask(grid, 0.5, g(0), motion, 1.0).view(6, 6)  # 18 cells, all the region
    # Nearest the corner first: rows/cols 0-2 (9 cells at distance <= 2), then the ring at 3.
    assert mask[:3, :3].all() and mask.sum() == 18
    assert mask[:4, :4].sum() == 16  # the ring at distance 3 ordered by Euclidean distance


def test_the_random_part_differs_between_samples_and_repeats_for_one():
    grid = (4, 8, 8)
    motion = blob_motion(grid, [(4, 4)] * 4)
    a = motion_mask(grid, 0.75, g(0), motion)
    assert torch.equal(a, motion_mask(grid, 0.75, g(0), motion))
    assert not torch.equal(a, motion_mask(grid, 0.75, g(1), motion))


def test_guided_slices():
    motion = torch.zeros(4, 3, 3)
    motion[1, 0, 0] = 1.0
    motion[2] = math.nan
    motion[3, 1, 1] = 2.0
    assert guided_slices(motion, 4).tolist() == [False, True, False, True]
    assert guided_slices(None, 3).tolist() == [False, False, False]


def test_generators_take_the_motion_map_and_only_motion_uses_it():
    grid = (2, 6, 6)
    motion = blob_motion(grid, [(1, 1), (4, 4)])
    for cls in (TubeMaskGenerator, RandomMaskGenerator):
        gen = cls(0.5)
        assert not gen.needs_motion
        assert torch.equal(gen(grid, g(0), motion), gen(grid, g(0)))
    gen = MotionMaskGenerator(0.5, region_share=1.0)
    assert gen.needs_motion and gen.tube
    mask = gen(grid, g(0), motion).view(2, 6, 6)
    assert mask[0, 1, 1] and mask[1, 4, 4]
    assert repr(gen) == "MotionMaskGenerator(ratio=0.5, region_share=1.0)"


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_region_share_outside_0_1_is_a_config_error(share):
    with pytest.raises(ConfigError, match="masking.region_share"):
        MotionMaskGenerator(0.9, region_share=share)


def test_the_ratio_is_checked_per_slice_like_tube_masking():
    with pytest.raises(ConfigError, match="per frame slice"):
        MotionMaskGenerator(0.01).check((8, 4, 4))
