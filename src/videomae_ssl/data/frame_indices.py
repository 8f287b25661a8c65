"""Which frames of a video form a clip: pure functions of the frame count (and a generator).

Pretraining: a clip is `num_frames` frames `sampling_rate` apart, taken from a window of
`num_frames * sampling_rate` frames, as in VideoMAE pretraining (16 frames, rate 4 for
Kinetics/UCF101/HMDB51, rate 2 for SSv2). Fine-tuning: `dense_indices` (Kinetics, UCF101,
HMDB51) and `segment_indices` (SSv2); test views: `eval_clip_indices` and
`eval_segment_indices`, each returning one index list per temporal clip.
"""

from __future__ import annotations

import torch


def _check(total_frames: int, num_frames: int, sampling_rate: int) -> None:
    if total_frames < 1:
        raise ValueError(f"total_frames must be >= 1, got {total_frames}")
    if num_frames < 1 or sampling_rate < 1:
        raise ValueError(
            f"num_frames and sampling_rate must be >= 1, got {num_frames} and {sampling_rate}"
        )


def clip_indices(start: int, total_frames: int, num_frames: int, sampling_rate: int) -> list[int]:
    """Frames start, start + rate, ...; indices past the end repeat the last frame."""
    return [min(start + i * sampling_rate, total_frames - 1) for i in range(num_frames)]


def num_starts(total_frames: int, num_frames: int, sampling_rate: int) -> int:
    """How many window starts fit: total - window + 1, or 1 when the video is shorter."""
    return max(total_frames - num_frames * sampling_rate + 1, 1)


def pretrain_indices(
    total_frames: int,
    num_frames: int = 16,
    sampling_rate: int = 4,
    generator: torch.Generator | None = None,
) -> list[int]:
    """A clip at a uniformly random start such that the whole window fits in the video.

    Videos shorter than the window start at frame 0 and repeat the last frame. (The original
    repeats the last frame on the `sampling_rate` grid, e.g. 28 rather than 29 in a 30-frame
    video; clamping to the very last frame differs from it only in that one repeated frame.)
    """
    _check(total_frames, num_frames, sampling_rate)
    starts = num_starts(total_frames, num_frames, sampling_rate)
    start = int(torch.randint(starts, (1,), generator=generator))
    return clip_indices(start, total_frames, num_frames, sampling_rate)


def center_indices(total_frames: int, num_frames: int = 16, sampling_rate: int = 4) -> list[int]:
    """The deterministic clip for validation: the middle one of the starts pretraining draws."""
    _check(total_frames, num_frames, sampling_rate)
    start = (num_starts(total_frames, num_frames, sampling_rate) - 1) // 2
    return clip_indices(start, total_frames, num_frames, sampling_rate)


# Fine-tuning and test-time sampling.
#
# The original fine-tuning loader (VideoMAE `VideoClsDataset.loadvideo_decord`, train mode,
# one segment) differs from pretraining: its 16 frames are `np.linspace(start, start + window,
# 16)` over a window of 16 * rate frames, truncated and clipped to the window, so the step is
# window / 15 (about 4.27 for rate 4), not the rate, and the window's first and last frames are
# both used. Its test mode instead reads every rate-th frame of the video and slides a
# 16-frame clip over that grid, so test clips use the exact rate. Both rules are kept here.


def _spread(start: int, window: int, num_frames: int) -> list[int]:
    """`num_frames` frames spread over [start, start + window): floor(start + k * window /
    (num_frames - 1)) clipped to the window's last frame, i.e. the original's linspace rule in
    exact integer arithmetic."""
    if num_frames == 1:
        return [start]
    last = start + window - 1
    return [min(start + k * window // (num_frames - 1), last) for k in range(num_frames)]


def dense_indices(
    total_frames: int,
    num_frames: int = 16,
    sampling_rate: int = 4,
    generator: torch.Generator | None = None,
) -> list[int]:
    """A fine-tuning clip (Kinetics, UCF101, HMDB51): `num_frames` frames spread evenly over a
    window of `num_frames * sampling_rate` frames, from its first frame to its last.

    With a generator the window starts uniformly at random where it fits; without one it
    starts at the middle of those starts (a deterministic clip for validation). A video no
    longer than the window keeps the original's rule: `total_frames // sampling_rate` frames
    spread over the whole video, then the last frame repeated (fewer than `sampling_rate`
    frames give the last frame only). Deviation: the original draws the window end with an
    exclusive upper bound, so its window never reaches the video's last frame; here every start
    where the window fits is drawn, as in pretraining.
    """
    _check(total_frames, num_frames, sampling_rate)
    window = num_frames * sampling_rate
    if total_frames <= window:
        used = total_frames // sampling_rate
        indices = _spread(0, total_frames, used) if used else []
        return indices + [total_frames - 1] * (num_frames - len(indices))
    starts = num_starts(total_frames, num_frames, sampling_rate)
    if generator is None:
        start = (starts - 1) // 2
    else:
        start = int(torch.randint(starts, (1,), generator=generator))
    return _spread(start, window, num_frames)


def _check_segments(total_frames: int, num_segments: int) -> None:
    if total_frames < 1:
        raise ValueError(f"total_frames must be >= 1, got {total_frames}")
    if num_segments < 1:
        raise ValueError(f"num_segments must be >= 1, got {num_segments}")


def _segment_points(total_frames: int, num_segments: int, offset: float) -> list[int]:
    """The frame at fraction `offset` of each of `num_segments` equal (fractional) segments:
    int(tick * offset + tick * x) with tick = total / num_segments, as the original's test mode."""
    tick = total_frames / num_segments
    return [min(int(tick * offset + tick * x), total_frames - 1) for x in range(num_segments)]


def segment_indices(
    total_frames: int,
    num_segments: int = 16,
    generator: torch.Generator | None = None,
) -> list[int]:
    """TSN-style sampling for Something-Something V2: one frame per segment, in order.

    With a generator (training), as the original: segments of `total_frames // num_segments`
    frames from frame 0 (the remainder at the end is never used) and a uniformly random frame
    in each. Without one (test), the centre of each of `num_segments` equal fractional
    segments: int(tick / 2 + tick * x), tick = total_frames / num_segments. A video with fewer
    frames than segments gives frame floor(x * total_frames / num_segments) for segment x at
    training, so every frame appears, in order and repeated (the original returns frame 0
    sixteen times there).
    """
    _check_segments(total_frames, num_segments)
    if generator is None:
        return _segment_points(total_frames, num_segments, 0.5)
    length = total_frames // num_segments
    if length == 0:
        return [x * total_frames // num_segments for x in range(num_segments)]
    offsets = torch.randint(length, (num_segments,), generator=generator).tolist()
    return [x * length + offset for x, offset in enumerate(offsets)]


def eval_segment_indices(total_frames: int, num_segments: int, num_clips: int) -> list[list[int]]:
    """Test clips for segment sampling: clip c takes the frame at fraction
    (1/2 + c / num_clips) mod 1 of every segment, so clip 0 is the centre clip.

    With the SSv2 protocol's 2 clips this gives the original's two clips (segment centres and
    segment starts, the original numbers them the other way round); 1 clip is the centre clip
    of `segment_indices` without a generator.
    """
    _check_segments(total_frames, num_segments)
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    return [
        _segment_points(total_frames, num_segments, (0.5 + c / num_clips) % 1.0)
        for c in range(num_clips)
    ]


def multi_clip_starts(total_frames: int, window: int, num_clips: int) -> list[int]:
    """Starts of `num_clips` windows of `window` frames spread uniformly over the video, the
    first at frame 0 and the last ending at the last frame: int(c * (total - window) /
    (num_clips - 1)), as the original's test mode. Windows longer than the video all start at
    0. One clip is the centre window (the original divides by zero there)."""
    if total_frames < 1 or window < 1 or num_clips < 1:
        raise ValueError(
            f"total_frames, window and num_clips must be >= 1, got "
            f"{total_frames}, {window} and {num_clips}"
        )
    free = max(total_frames - window, 0)
    if num_clips == 1:
        return [free // 2]
    tick = free / (num_clips - 1)
    return [int(c * tick) for c in range(num_clips)]


def eval_clip_indices(
    total_frames: int, num_frames: int, sampling_rate: int, num_clips: int
) -> list[list[int]]:
    """Dense test clips (Kinetics, UCF101, HMDB51: 5 clips): as the original, the video is
    read on the grid 0, rate, 2 * rate, ... (padded with its last point to `num_frames`) and
    `num_clips` clips of `num_frames` consecutive grid points are spread over it with
    `multi_clip_starts`. Frames are exactly `sampling_rate` apart; short videos repeat the
    last grid frame, the largest multiple of the rate below `total_frames`."""
    _check(total_frames, num_frames, sampling_rate)
    grid = -(-total_frames // sampling_rate)  # len(range(0, total_frames, sampling_rate))
    starts = multi_clip_starts(max(grid, num_frames), num_frames, num_clips)
    return [
        [sampling_rate * min(start + i, grid - 1) for i in range(num_frames)] for start in starts
    ]


# How a fine-tuning recipe draws its frames: "dense" (Kinetics, UCF101, HMDB51) or "segment"
# (Something-Something V2).
SAMPLINGS = ("dense", "segment")


def _check_sampling(sampling: str) -> None:
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")


def finetune_clip_indices(
    total_frames: int,
    num_frames: int,
    sampling_rate: int,
    sampling: str,
    generator: torch.Generator | None = None,
) -> list[int]:
    """A training clip by the recipe's rule: `dense_indices` or `segment_indices` (which ignores
    `sampling_rate`)."""
    _check_sampling(sampling)
    if sampling == "segment":
        return segment_indices(total_frames, num_frames, generator)
    return dense_indices(total_frames, num_frames, sampling_rate, generator)


def evaluation_clip_indices(
    total_frames: int, num_frames: int, sampling_rate: int, sampling: str, num_clips: int
) -> list[list[int]]:
    """The `num_clips` temporal clips of the test protocol by the recipe's rule:
    `eval_clip_indices` (dense) or `eval_segment_indices` (segment). One clip is the centre
    clip, which validation during training uses."""
    _check_sampling(sampling)
    if sampling == "segment":
        return eval_segment_indices(total_frames, num_frames, num_clips)
    return eval_clip_indices(total_frames, num_frames, sampling_rate, num_clips)
