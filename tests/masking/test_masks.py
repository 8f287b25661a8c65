import pytest
import torch

from videomae_ssl.errors import ConfigError
from videomae_ssl.masking import (
    RandomMaskGenerator,
    TubeMaskGenerator,
    check_ratio,
    gather_tokens,
    mask_to_indices,
    random_mask,
    tube_mask,
)

GRIDS = [(8, 14, 14), (8, 7, 7), (4, 16, 16), (2, 5, 3)]


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("ratio", [0.75, 0.9, 0.95])
def test_tube_mask_counts_and_constant_in_time(grid, ratio):
    t, h, w = grid
    for seed in range(5):
        mask = tube_mask(grid, ratio, torch.Generator().manual_seed(seed))
        assert mask.dtype == torch.bool and mask.shape == (t * h * w,)
        slices = mask.view(t, h * w)
        # int() truncates, as the original: 0.9 * 196 -> 176
        assert (slices.sum(dim=1) == int(ratio * h * w)).all()
        assert (slices == slices[0]).all()


def test_tube_mask_paper_numbers():
    mask = tube_mask((8, 14, 14), 0.9, torch.Generator().manual_seed(0))
    assert int(mask.view(8, 196)[0].sum()) == 176
    assert int(mask.sum()) == 1408 and int((~mask).sum()) == 160


def test_tube_mask_count_multiplies_the_cell_count_first():
    # The original: int(mask_ratio * num_patches_per_frame); 0.94 * 10 * 10 would give 93.
    mask = tube_mask((2, 10, 10), 0.94, torch.Generator().manual_seed(0))
    assert int(mask.view(2, 100)[0].sum()) == 94
    assert torch.equal(mask.view(2, 100)[0], mask.view(2, 100)[1])


def test_same_seed_same_mask_other_seed_other_mask():
    a = tube_mask((8, 14, 14), 0.9, torch.Generator().manual_seed(3))
    b = tube_mask((8, 14, 14), 0.9, torch.Generator().manual_seed(3))
    c = tube_mask((8, 14, 14), 0.9, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("grid", GRIDS)
def test_random_mask_counts(grid):
    t, h, w = grid
    mask = random_mask(grid, 0.9, torch.Generator().manual_seed(0))
    assert int(mask.sum()) == int(0.9 * t * h * w)


def test_random_mask_is_not_a_tube():
    mask = random_mask((8, 14, 14), 0.9, torch.Generator().manual_seed(0)).view(8, 196)
    assert not (mask == mask[0]).all()


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5])
def test_ratio_outside_range_names_key(ratio):
    with pytest.raises(ConfigError, match=r"mask_ratio=.*\(0, 1\)"):
        check_ratio(ratio, (8, 14, 14))


def test_ratio_that_hides_nothing_or_everything_is_rejected():
    check_ratio(0.25, (8, 2, 2))  # one of four cells hidden: fine
    with pytest.raises(ConfigError, match=r"mask_ratio=0.2 hides no token on a 8x2x2"):
        check_ratio(0.2, (8, 2, 2))
    with pytest.raises(ConfigError, match="mask_ratio=0.9 hides no token"):
        TubeMaskGenerator(0.9).check((8, 1, 1))
    # Random masking counts over all space-time tokens: 0.2 * 32 = 6 hidden is fine.
    RandomMaskGenerator(0.2).check((8, 2, 2))


def test_generators_match_functions():
    g = TubeMaskGenerator(0.9)
    assert torch.equal(
        g((8, 14, 14), torch.Generator().manual_seed(1)),
        tube_mask((8, 14, 14), 0.9, torch.Generator().manual_seed(1)),
    )
    r = RandomMaskGenerator(0.9)
    assert torch.equal(
        r((8, 14, 14), torch.Generator().manual_seed(1)),
        random_mask((8, 14, 14), 0.9, torch.Generator().manual_seed(1)),
    )


def test_mask_to_indices_matches_boolean_indexing():
    mask = torch.stack(
        [tube_mask((4, 6, 6), 0.75, torch.Generator().manual_seed(s)) for s in range(3)]
    )
    x = torch.randn(3, mask.shape[1], 5)
    ids_vis, ids_mask = mask_to_indices(mask)
    assert torch.equal(gather_tokens(x, ids_vis), x[~mask].reshape(3, -1, 5))
    assert torch.equal(gather_tokens(x, ids_mask), x[mask].reshape(3, -1, 5))


def test_mask_to_indices_rejects_unequal_counts():
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0, :3] = True
    with pytest.raises(ValueError, match="same number"):
        mask_to_indices(mask)
