"""Fine-tuning and test-time frame sampling, against plain transcriptions of the original rules
(numpy linspace for dense clips, int(tick * x) arithmetic for segments and test clips)."""

import numpy as np
import pytest
import torch

from videomae_ssl.data import frame_indices as sampling
from videomae_ssl.data.frame_indices import dense_indices, multi_clip_starts, segment_indices


def gen(seed):
    return torch.Generator().manual_seed(seed)


def linspace_clip(start, window, num):
    """The original's train-mode rule: linspace(start, start + window, num), clipped, int."""
    end = start + window
    return np.clip(np.linspace(start, end, num=num), start, end - 1).astype(np.int64).tolist()


def short_video_clip(total, clip_len, rate):
    """The original's rule for a video no longer than the window."""
    index = np.linspace(0, total, num=total // rate)
    index = np.concatenate((index, np.ones(clip_len - total // rate) * total))
    return np.clip(index, 0, total - 1).astype(np.int64).tolist()


# dense_indices


def test_dense_window_rule_and_every_start_reachable():
    # 100 frames, window 64: starts 0..36; frames follow linspace over the window.
    starts = set()
    for seed in range(1500):
        idx = dense_indices(100, 16, 4, gen(seed))
        assert idx == linspace_clip(idx[0], 64, 16)
        assert idx[-1] == idx[0] + 63  # first and last frame of the window
        starts.add(idx[0])
    assert starts == set(range(37))


def test_dense_step_is_window_over_fifteen():
    # floor(k * 64 / 15): 0, 4, 8, 12, 17, 21, 25, 29, 34, 38, 42, 46, 51, 55, 59, 63.
    expected = [0, 4, 8, 12, 17, 21, 25, 29, 34, 38, 42, 46, 51, 55, 59, 63]
    assert dense_indices(64, 16, 4, gen(0)) == expected
    assert dense_indices(64, 16, 4) == expected


@pytest.mark.parametrize("total", [1, 3, 4, 7, 30, 33, 63, 64])
def test_dense_short_video_matches_original(total):
    for seed in range(3):
        assert dense_indices(total, 16, 4, gen(seed)) == short_video_clip(total, 16, 4)


def test_dense_short_video_plain_values():
    # 30 frames, rate 4: 7 frames over linspace(0, 30, 7) = 0, 5, ..., 30 -> 29, then 29 repeated.
    assert dense_indices(30, 16, 4, gen(0)) == [0, 5, 10, 15, 20, 25] + [29] * 10
    assert dense_indices(3, 16, 4, gen(0)) == [2] * 16


def test_dense_without_generator_is_the_middle_start():
    # 100 frames: starts 0..36, middle 18.
    assert dense_indices(100, 16, 4) == linspace_clip(18, 64, 16)
    assert dense_indices(300, 16, 2) == linspace_clip((300 - 32) // 2, 32, 16)


def test_dense_reproducible_with_the_same_generator():
    assert dense_indices(500, 16, 4, gen(3)) == dense_indices(500, 16, 4, gen(3))
    assert len({tuple(dense_indices(500, 16, 4, gen(s))) for s in range(10)}) > 1


def test_dense_one_frame():
    assert 0 <= dense_indices(50, 1, 4, gen(0))[0] <= 46


# segment_indices


def test_segment_train_one_frame_per_segment():
    # 100 frames, 16 segments of 6 frames (0-5, 6-11, ..., 90-95); frames 96-99 unused.
    seen = [set() for _ in range(16)]
    for seed in range(300):
        idx = segment_indices(100, 16, gen(seed))
        assert len(idx) == 16
        for x, i in enumerate(idx):
            assert 6 * x <= i < 6 * x + 6
            seen[x].add(i)
    assert all(s == set(range(6 * x, 6 * x + 6)) for x, s in enumerate(seen))


def test_segment_test_takes_centres():
    # tick = 100 / 16 = 6.25: int(3.125 + 6.25 x).
    expected = [int(3.125 + 6.25 * x) for x in range(16)]
    assert expected[:4] == [3, 9, 15, 21]
    assert segment_indices(100, 16) == expected
    assert segment_indices(32, 16) == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31]


@pytest.mark.parametrize("total", [1, 2, 5, 15, 16])
def test_segment_short_video_repeats_in_order(total):
    for idx in (segment_indices(total, 16, gen(1)), segment_indices(total, 16)):
        assert len(idx) == 16
        assert all(0 <= i < total for i in idx)
        assert idx == sorted(idx)
    if total < 16:
        assert segment_indices(total, 16, gen(1)) == [x * total // 16 for x in range(16)]
        assert set(segment_indices(total, 16, gen(1))) == set(range(total))
    assert segment_indices(5, 16) == [int(5 / 16 * (x + 0.5)) for x in range(16)]


def test_segment_reproducible():
    assert segment_indices(250, 16, gen(9)) == segment_indices(250, 16, gen(9))
    assert len({tuple(segment_indices(250, 16, gen(s))) for s in range(10)}) > 1


def test_segment_invalid():
    with pytest.raises(ValueError):
        segment_indices(0, 16)
    with pytest.raises(ValueError):
        segment_indices(10, 0, gen(0))


# test-time clips


def test_multi_clip_starts_original_formula():
    # (100 - 64) / 4 = 9: 0, 9, 18, 27, 36.
    assert multi_clip_starts(100, 64, 5) == [0, 9, 18, 27, 36]
    # 37 free / 4 = 9.25: int(c * 9.25).
    assert multi_clip_starts(101, 64, 5) == [0, 9, 18, 27, 37]
    assert multi_clip_starts(50, 64, 5) == [0] * 5
    assert multi_clip_starts(100, 64, 1) == [18]
    with pytest.raises(ValueError):
        multi_clip_starts(100, 64, 0)


def original_test_clips(total, clip_len, rate, num_clips):
    """The original's test mode: every rate-th frame, padded, then a sliding 16-frame slice."""
    grid = list(range(0, total, rate))
    while len(grid) < clip_len:
        grid.append(grid[-1])
    step = max(1.0 * (len(grid) - clip_len) / (num_clips - 1), 0)
    return [grid[int(c * step) : int(c * step) + clip_len] for c in range(num_clips)]


@pytest.mark.parametrize("total", [1, 10, 63, 64, 65, 100, 257, 300])
def test_test_clips_match_original(total):
    assert sampling.eval_clip_indices(total, 16, 4, 5) == original_test_clips(total, 16, 4, 5)
    assert sampling.eval_clip_indices(total, 8, 2, 3) == original_test_clips(total, 8, 2, 3)


def test_test_clips_cover_start_and_end():
    clips = sampling.eval_clip_indices(300, 16, 4, 5)
    assert len(clips) == 5
    assert clips[0] == list(range(0, 64, 4))
    assert clips[-1][-1] == 296  # the last frame on the rate grid of a 300-frame video
    assert all(b[0] > a[0] for a, b in zip(clips, clips[1:], strict=False))
    assert all(c == list(range(c[0], c[0] + 64, 4)) for c in clips)


def test_test_clips_single_clip_is_centred():
    # Grid of 75 points, 59 free: start 29.
    assert sampling.eval_clip_indices(300, 16, 4, 1) == [list(range(116, 180, 4))]


def original_ssv2_test(total, num_segment):
    tick = total / float(num_segment)
    all_index = [int(tick / 2.0 + tick * x) for x in range(num_segment)] + [
        int(tick * x) for x in range(num_segment)
    ]
    all_index = sorted(all_index)
    return [all_index[0::2], all_index[1::2]]  # temporal_start 0 and 1


@pytest.mark.parametrize("total", [3, 16, 17, 40, 100, 151])
def test_ssv2_two_clips_are_the_original_pair(total):
    starts, centres = original_ssv2_test(total, 16)
    assert sampling.eval_segment_indices(total, 16, 2) == [centres, starts]


def test_ssv2_clips_single_and_three():
    assert sampling.eval_segment_indices(100, 16, 1) == [segment_indices(100, 16)]
    tick = 120 / 16
    expected = [[int(tick * f + tick * x) for x in range(16)] for f in (0.5, 5 / 6, 1 / 6)]
    assert sampling.eval_segment_indices(120, 16, 3) == expected
    with pytest.raises(ValueError):
        sampling.eval_segment_indices(120, 16, 0)
