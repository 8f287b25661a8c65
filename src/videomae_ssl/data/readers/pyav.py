"""Video files decoded by PyAV, seeking by timestamp where the frame rate is constant."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import torch

from videomae_ssl.data.motion import frame_vectors
from videomae_ssl.data.readers.base import (
    MAX_HEADER_EXCESS,
    VideoDecodeError,
    VideoFile,
    check_not_empty,
    describe,
    require_file,
    scaled_size,
    source,
)

if TYPE_CHECKING:
    import av


class PyAVVideo(VideoFile):
    """PyAV on one thread: seeks to the keyframe before the first frame wanted, decodes up to
    the last one and converts (and scales, with `short_side`) only the frames asked for.
    Slower than decord on long videos but robust and maintained.

    A decoded frame's index comes from its timestamp, (pts - pts of frame 0) * frame rate. That
    is exact for constant-frame-rate videos; whenever the timestamps disagree with that (no pts,
    variable frame rate, a gap), the read falls back to decoding from the first frame and
    counting, which defines the indices.

    With `data` (the file's bytes, e.g. read from a shard) PyAV reads them from memory and
    `path` only names the video in messages. `skip_loop_filter` turns off the codec's in-loop
    deblocking filter (FFmpeg's skip_loop_filter=all): faster, but the pixels differ from a
    full decode (`data.decode_skip_loop_filter`). With `motion_vectors`, the decoder exports the
    codec's motion vectors (FFmpeg's `flags2=+export_mvs`) and `read_with_vectors` returns
    them with the frames, from the same decode. `frames_decoded` counts the frames the decoder
    produced, converted or not.
    """

    def __init__(
        self,
        path: str,
        short_side: int | None = None,
        data: bytes | None = None,
        skip_loop_filter: bool = False,
        motion_vectors: bool = False,
    ) -> None:
        super().__init__(path)
        self._skip_loop_filter = skip_loop_filter
        self.frames_decoded = 0
        require_file(path, data)
        import av

        self._av = av
        self._data = data
        self._motion = motion_vectors
        self._vectors: dict[int, np.ndarray | None] = {}  # of the frames the last read kept
        self._container = None
        try:
            self._container = av.open(source(path, data))
            if not self._container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = self._stream()
            # Containers such as webm store no frame count; counting packets needs no decoding.
            # The packets' timestamps (or the container's in-memory index, for mp4 and avi)
            # show whether the frame rate is constant.
            num_frames = stream.frames
            if num_frames:
                timestamps = _index_timestamps(stream)
            else:
                timestamps = [p.pts for p in self._container.demux(stream) if p.size > 0]
                num_frames = len(timestamps)
            self._size = scaled_size(
                stream.codec_context.width, stream.codec_context.height, short_side
            )
            self._rate = _constant_rate(stream, num_frames, timestamps)
            self._first_pts = stream.start_time
        except VideoDecodeError:
            self.close()
            raise
        except Exception as err:
            self.close()
            raise VideoDecodeError(f"{path}: cannot open video ({describe(err)})") from err
        self.num_frames = check_not_empty(path, num_frames)
        self._consumed = stream.frames == 0  # demuxing moved the read position
        self._last: tuple[int, av.VideoFrame] | None = None  # the last frame a read decoded

    def _read(self, indices: list[int]) -> np.ndarray:
        decoded = None
        if min(indices) > 0 and self._rate is not None and self._first_pts is not None:
            decoded = self._decode_after_seek(set(indices))
        if decoded is None:
            decoded = self._decode_from_start(set(indices))
        if not decoded:
            raise VideoDecodeError(f"{self.path}: no frame could be decoded")
        missing = [i for i in indices if i not in decoded]
        if not missing:
            return np.stack([decoded[i] for i in indices])  # (T, H, W, 3)
        # The stream ended before the header's frame count. Re-muxed files can overstate it by
        # a frame or two: those indices repeat the video's last frame, as short videos do. A
        # larger shortfall is a truncated file, and repeating would silently change the clip.
        last_index, last_frame = self._last
        if max(missing) - last_index > MAX_HEADER_EXCESS:
            raise VideoDecodeError(
                f"{self.path}: the header lists {self.num_frames} frames but decoding ended "
                f"after {last_index + 1}; the file is probably truncated"
            )
        final = self._to_array(last_frame)  # (H, W, 3)
        return np.stack([decoded.get(i, final) for i in indices])  # (T, H, W, 3)

    def read_with_vectors(
        self, indices: Sequence[int]
    ) -> tuple[torch.Tensor, list[np.ndarray | None]]:
        self._vectors = {}
        frames = self.read(indices)  # (T, H, W, 3)
        return frames, [self._vectors.get(int(i)) for i in indices]

    def _stream(self) -> av.video.stream.VideoStream:
        stream = self._container.streams.video[0]
        if not stream.codec_context.is_open:
            stream.codec_context.thread_count = 1  # one thread per worker, like decord
            _set_decoder_options(stream, self._skip_loop_filter, self._motion)
        return stream

    def _keep(self, index: int, frame: av.VideoFrame) -> np.ndarray:
        """The frame wanted at `index` as an array; its motion vectors kept when exported."""
        if self._motion:
            side = frame.side_data.get("MOTION_VECTORS")
            width, height = self._size
            self._vectors[index] = (
                None
                if side is None
                else frame_vectors(side, width / frame.width, height / frame.height)
            )
        return self._to_array(frame)  # (H, W, 3)

    def _to_array(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = self._size
        if (width, height) == (frame.width, frame.height):
            return frame.to_ndarray(format="rgb24")  # (H, W, 3)
        # Scale in the decoder's YUV first, then convert the small frame: cheaper, and more
        # exact than swscale's combined scale-and-convert, which shifts colours by ~2 levels.
        small = frame.reformat(width=width, height=height, interpolation="AREA")
        return small.to_ndarray(format="rgb24")  # (H, W, 3)

    def _decode_from_start(self, wanted: set[int]) -> dict[int, np.ndarray]:
        """Decode from frame 0, counting frames, up to the last index wanted."""
        if self._consumed:
            self._container.close()
            self._container = self._av.open(source(self.path, self._data))
        self._consumed = True
        stream = self._stream()
        last = max(wanted)
        decoded: dict[int, np.ndarray] = {}
        for i, frame in enumerate(self._container.decode(stream)):
            self.frames_decoded += 1
            self._last = (i, frame)
            if i in wanted:
                decoded[i] = self._keep(i, frame)  # (H, W, 3)
            if i == last:
                break
        return decoded

    def _decode_after_seek(self, wanted: set[int]) -> dict[int, np.ndarray] | None:
        """Seek to the keyframe before the first index wanted and decode from there, indexing
        frames by timestamp; None when the timestamps cannot be trusted for this read."""
        self._consumed = True
        stream = self._stream()
        first, last = min(wanted), max(wanted)
        frames_per_tick = self._rate * stream.time_base  # frame index per pts unit
        # A quarter frame late: a frame's timestamp is within a quarter frame of its slot
        # (`_constant_rate`), so the seek lands on a keyframe at `first` itself, never on the
        # one before it (a whole interval decoded for nothing), and never after `first`.
        target = self._first_pts + int((first + Fraction(1, 4)) / frames_per_tick)
        self._container.seek(target, stream=stream, backward=True, any_frame=False)
        decoded: dict[int, np.ndarray] = {}
        expected = first
        for frame in self._container.decode(stream):
            self.frames_decoded += 1
            if frame.pts is None:
                return None
            position = (frame.pts - self._first_pts) * frames_per_tick
            index = round(position)
            if abs(position - index) > 0.25:
                return None  # between two frame slots: not a constant frame rate
            if index < first:
                continue
            if index != expected:
                return None  # the seek overshot, or a frame is missing or repeated
            expected += 1
            self._last = (index, frame)
            if index in wanted:
                decoded[index] = self._keep(index, frame)  # (H, W, 3)
            if index == last:
                break
        return decoded or None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


def _set_decoder_options(
    stream: av.video.stream.VideoStream, skip_loop_filter: bool, motion_vectors: bool
) -> None:
    """FFmpeg decoder options, set before the codec opens; kept beside any set elsewhere."""
    options = dict(stream.codec_context.options)
    if skip_loop_filter:
        options["skip_loop_filter"] = "all"
    if motion_vectors:
        options["flags2"] = "+export_mvs"
    if options != stream.codec_context.options:
        stream.codec_context.options = options


def _index_timestamps(stream: av.video.stream.VideoStream) -> list[int | None] | None:
    """Timestamps of the non-empty samples in the container's index (None where PyAV or the
    container has no index); decode order, which is enough to check their spacing."""
    entries = getattr(stream, "index_entries", None)
    if not entries:
        return None
    return [e.timestamp for e in entries if e.size > 0 and not e.is_discard]


def _constant_rate(
    stream: av.video.stream.VideoStream, num_frames: int, timestamps: list[int | None] | None
) -> Fraction | None:
    """The stream's frame rate when its timestamps look like a constant frame rate, else None.

    Needs the average rate to equal the base rate and, when the samples' `timestamps` are
    known, one sample every 1 / rate with no gap; else the stream's duration to match
    `num_frames`.
    """
    average, base = stream.average_rate, stream.base_rate
    if not average or not base or average != base or not stream.time_base:
        return None
    if stream.start_time is None:
        return None
    frames_per_tick = Fraction(average) * stream.time_base
    if timestamps:
        if any(t is None for t in timestamps):
            return None
        first = min(timestamps)
        positions = [(t - first) * frames_per_tick for t in sorted(timestamps)]
        if any(abs(x - k) > Fraction(1, 4) for k, x in enumerate(positions)):
            return None
    elif stream.duration and abs(stream.duration * frames_per_tick - num_frames) > Fraction(1, 2):
        return None
    return Fraction(average)
