"""Frame sampling: the window fits when it can, short videos repeat their last frame."""

import pytest
import torch

from videomae_ssl.data.frame_indices import center_indices, pretrain_indices


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_window_fits_and_every_start_is_reachable():
    # 100 frames, 16 x 4 window: starts 0..36 (the window of 64 frames must fit).
    starts = set()
    for seed in range(2000):
        idx = pretrain_indices(100, 16, 4, gen(seed))
        start = idx[0]
        assert idx == list(range(start, start + 64, 4))
        starts.add(start)
    assert starts == set(range(37))


def test_exact_fit_starts_at_zero():
    for seed in range(20):
        assert pretrain_indices(64, 16, 4, gen(seed)) == list(range(0, 64, 4))


def test_short_video_repeats_the_last_frame():
    expected = [0, 4, 8, 12, 16, 20, 24, 28, 29, 29, 29, 29, 29, 29, 29, 29]
    for seed in range(20):
        assert pretrain_indices(30, 16, 4, gen(seed)) == expected
    assert pretrain_indices(1, 4, 2, gen(0)) == [0, 0, 0, 0]


def test_same_generator_seed_same_clip():
    assert pretrain_indices(300, 16, 2, gen(7)) == pretrain_indices(300, 16, 2, gen(7))
    draws = {tuple(pretrain_indices(300, 16, 2, gen(s))) for s in range(10)}
    assert len(draws) > 1


def test_center_indices():
    # Starts 0..36 possible; the middle one is 18.
    assert center_indices(100, 16, 4) == list(range(18, 82, 4))
    assert center_indices(65, 16, 4) == list(range(0, 64, 4))  # starts 0..1 -> 0
    assert center_indices(66, 16, 4) == list(range(1, 65, 4))  # starts 0..2 -> 1
    assert center_indices(10, 4, 4) == [0, 4, 8, 9]


@pytest.mark.parametrize("args", [(0, 16, 4), (10, 0, 4), (10, 16, 0)])
def test_invalid_arguments(args):
    with pytest.raises(ValueError):
        pretrain_indices(*args)
    with pytest.raises(ValueError):
        center_indices(*args)
