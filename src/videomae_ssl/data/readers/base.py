"""What every reader shares: the reader interface, the decode error, sizes and header checks."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from types import TracebackType

import numpy as np
import torch

from videomae_ssl.errors import DataError

FRAME_TEMPLATE = "img_{:05d}.jpg"

# Where video files are decoded: "cpu" (every backend) or "cuda" (TorchCodec with NVDEC).
DECODE_DEVICES = ("cpu", "cuda")
DECODE_DEVICE_KEY = "data.decode_device"


class VideoDecodeError(DataError):
    """A video that cannot be opened or decoded; the message names the file and the reason."""


class VideoFile:
    """An open video. Subclasses set `num_frames` in `__init__` and implement `_read`."""

    num_frames: int

    def __init__(self, path: str) -> None:
        self.path = path

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """Decode the frames at `indices` (any order, repeats allowed) -> uint8 (T, H, W, 3)."""
        indices = [int(i) for i in indices]
        if not indices:
            raise ValueError("read() needs at least one frame index")
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise ValueError(f"{self.path}: frame indices {bad} outside [0, {self.num_frames})")
        try:
            frames = self._read(indices)  # (T, H, W, 3)
        except VideoDecodeError:
            raise
        except Exception as err:  # decoders raise many unrelated types; all mean a bad file
            raise VideoDecodeError(f"{self.path}: cannot decode frames ({describe(err)})") from err
        if isinstance(frames, torch.Tensor):  # decoded on the GPU
            return frames.contiguous()
        return torch.from_numpy(np.ascontiguousarray(frames))

    def _read(self, indices: list[int]) -> np.ndarray | torch.Tensor:
        raise NotImplementedError

    def read_with_vectors(
        self, indices: Sequence[int]
    ) -> tuple[torch.Tensor, list[np.ndarray | None]]:
        """The frames at `indices` as `read` gives them, and per frame the codec's motion
        vectors (`data.motion.frame_vectors` rows, in the decoded frame's pixels) or None where
        it has none. Only a reader opened to export them (PyAV, `motion_vectors=True`) has any;
        every other reader returns None for every frame."""
        return self.read(indices), [None] * len(indices)

    def close(self) -> None:
        """Release the decoder; the object cannot read afterwards."""

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def describe(err: BaseException) -> str:
    """The error's type and first line: decord appends whole C++ stack traces."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:300]}" if lines else type(err).__name__


def require_file(path: str, data: bytes | None = None) -> None:
    """A video read from disk must exist; one given as `data` (its encoded bytes, e.g. read
    from a shard) needs no file and must not be empty."""
    if data is not None:
        if not data:
            raise VideoDecodeError(f"{path}: the video's bytes are empty")
        return
    if not os.path.isfile(path):
        raise VideoDecodeError(f"{path}: no such video file")


def source(path: str, data: bytes | None) -> str | io.BytesIO:
    """What a decoder opens: the file at `path`, or a fresh in-memory file over `data` (each
    call a new one: a decoder consumes and may close the object it was given)."""
    return path if data is None else io.BytesIO(data)


def check_not_empty(path: str, num_frames: int) -> int:
    if num_frames <= 0:
        raise VideoDecodeError(f"{path}: video has no frames")
    return num_frames


def scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(width, height) scaled so the short side is `short_side`, aspect ratio kept and the long
    side rounded to the nearest pixel; unchanged when `short_side` is None or not smaller."""
    short = min(width, height)
    if short_side is None or short <= short_side:
        return width, height
    long_side = max(1, int(max(width, height) * short_side / short + 0.5))
    return (short_side, long_side) if width <= height else (long_side, short_side)


# How many frames a container's header may overstate the decodable frames by (re-muxed files do)
# before the shortfall counts as a truncated file rather than a short video.
MAX_HEADER_EXCESS = 2


def probe_header(path: str, data: bytes | None = None) -> tuple[int, int, int]:
    """A video's (width, height, frame count) from its container header (of the file `path`,
    or of `data`, its bytes in memory), without decoding a frame; the count is 0 where the
    container stores none (webm, mkv)."""
    import av

    try:
        with av.open(source(path, data)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = container.streams.video[0]
            return stream.codec_context.width, stream.codec_context.height, stream.frames or 0
    except VideoDecodeError:
        raise
    except Exception as err:
        raise VideoDecodeError(f"{path}: cannot open video ({describe(err)})") from err


def check_header_count(path: str, header_frames: int, num_frames: int) -> None:
    """Reject a video whose decoder indexed fewer frames than its header lists, beyond what
    re-muxing explains: the file lost its end, and reading it as a short video would hide that
    (PyAVVideo raises the same error when a read runs past the decodable frames)."""
    if header_frames > 0 and header_frames - num_frames > MAX_HEADER_EXCESS:
        raise VideoDecodeError(
            f"{path}: the header lists {header_frames} frames but the decoder indexed only "
            f"{num_frames}; the file is probably truncated"
        )
