"""Which frames of a video form a clip: pure functions of the frame count (and a generator).

A clip is `num_frames` frames `sampling_rate` apart, taken from a window of
`num_frames * sampling_rate` frames, as in VideoMAE pretraining (16 frames, rate 4 for
Kinetics/UCF101/HMDB51, rate 2 for SSv2).
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
