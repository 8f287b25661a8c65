"""Where a video's keyframes are, and how many frames a clip costs to decode from them.

H.264 (and VP9) decoding must start at a keyframe: to return frames `indices`, a decoder that
seeks decodes at least every frame from the last keyframe at or before the first index up to
the last index. With x264's default interval (up to 250 frames) that is often several times the
window a clip spans; re-encoding with a short interval (`prep.prepare --gop`) bounds it.
Reader-independent: the keyframes come from the container's packets, nothing is decoded.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from videomae_ssl.data.readers.base import VideoDecodeError, describe, source


def keyframe_positions(path: str, data: bytes | None = None) -> list[int]:
    """Display indices (0-based, presentation order) of the keyframes of the first video
    stream of the file `path` (or of `data`, its bytes), read from the packets' flags."""
    import av

    try:
        with av.open(source(path, data)) as container:
            stream = container.streams.video[0]
            packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.size > 0]
    except Exception as err:
        raise VideoDecodeError(f"{path}: cannot read packets ({describe(err)})") from err
    if any(pts is None for pts, _ in packets):  # no timestamps: decode order is all there is
        return [i for i, (_, key) in enumerate(packets) if key]
    ordered = sorted(packets, key=lambda p: p[0])
    return [i for i, (_, key) in enumerate(ordered) if key]


def frames_to_decode(keyframes: Sequence[int], indices: Sequence[int]) -> int:
    """How many frames a seeking decoder produces to return `indices`: from the last keyframe
    at or before min(indices) to max(indices), both included (`keyframes` ascending)."""
    first, last = min(indices), max(indices)
    k = bisect.bisect_right(keyframes, first) - 1
    start = keyframes[k] if k >= 0 else 0
    return last - start + 1
