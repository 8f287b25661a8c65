"""Video readers: open a file, report its frame count, decode a list of frame indices.

Every backend returns the same thing, `uint8 (T, H, W, 3)` RGB frames, so the dataset does not
care which one decoded them. Backends are registered by name in `BACKENDS`; a new one (e.g.
TorchCodec, or folders of JPEG frames) is a `VideoFile` subclass added to that dict.

Readers must be opened inside `Dataset.__getitem__`, never before the DataLoader workers start:
decord readers created before a fork are known to deadlock.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from types import TracebackType

import numpy as np
import torch

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.errors import ConfigError, DataError


class VideoDecodeError(DataError):
    """A video that cannot be opened or decoded; the message names the file and the reason."""


class VideoFile:
    """An open video. Subclasses set `num_frames` in `__init__` and implement `_read`."""

    num_frames: int

    def __init__(self, path: str) -> None:
        self.path = path
        if not os.path.isfile(path):
            raise VideoDecodeError(f"{path}: no such video file")

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
            raise VideoDecodeError(f"{self.path}: cannot decode frames ({_describe(err)})") from err
        return torch.from_numpy(np.ascontiguousarray(frames))

    def _read(self, indices: list[int]) -> np.ndarray:
        raise NotImplementedError

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


def _describe(err: BaseException) -> str:
    """The error's type and first line: decord appends whole C++ stack traces."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:300]}" if lines else type(err).__name__


def _check_not_empty(path: str, num_frames: int) -> int:
    if num_frames <= 0:
        raise VideoDecodeError(f"{path}: video has no frames")
    return num_frames


class DecordVideo(VideoFile):
    """decord.VideoReader on one thread (DataLoader workers already run in parallel)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        import decord

        try:
            self._reader = decord.VideoReader(path, num_threads=1, ctx=decord.cpu(0))
            num_frames = len(self._reader)
        except Exception as err:
            raise VideoDecodeError(f"{path}: cannot open video ({_describe(err)})") from err
        self.num_frames = _check_not_empty(path, num_frames)

    def _read(self, indices: list[int]) -> np.ndarray:
        return self._reader.get_batch(indices).asnumpy()  # (T, H, W, 3)

    def close(self) -> None:
        # decord frees its decoder only when the reader is garbage collected.
        self._reader = None


class PyAVVideo(VideoFile):
    """PyAV: decodes from the first frame up to the last index needed, converting only the
    frames asked for. Slower than decord on long videos but robust and maintained."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        import av

        self._av = av
        self._container = None
        try:
            self._container = av.open(path)
            if not self._container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = self._container.streams.video[0]
            # Containers such as webm store no frame count; counting packets needs no decoding.
            num_frames = stream.frames or sum(
                1 for p in self._container.demux(stream) if p.size > 0
            )
        except VideoDecodeError:
            self.close()
            raise
        except Exception as err:
            self.close()
            raise VideoDecodeError(f"{path}: cannot open video ({_describe(err)})") from err
        self.num_frames = _check_not_empty(path, num_frames)
        self._consumed = stream.frames == 0  # demuxing moved the read position

    def _read(self, indices: list[int]) -> np.ndarray:
        if self._consumed:
            self._container.close()
            self._container = self._av.open(self.path)
        self._consumed = True
        stream = self._container.streams.video[0]
        stream.codec_context.thread_count = 1  # one thread per worker, like decord
        wanted = set(indices)
        last = max(indices)
        decoded: dict[int, np.ndarray] = {}
        for i, frame in enumerate(self._container.decode(stream)):
            if i in wanted:
                decoded[i] = frame.to_ndarray(format="rgb24")  # (H, W, 3)
            if i == last:
                break
        if not decoded:
            raise VideoDecodeError(f"{self.path}: no frame could be decoded")
        # Header frame counts can overstate the decodable frames by one or two in re-muxed
        # files; indices past the end repeat the last decoded frame, as short videos do.
        final = decoded[max(decoded)]
        return np.stack([decoded.get(i, final) for i in indices])  # (T, H, W, 3)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


BACKENDS: dict[str, type[VideoFile]] = {"decord": DecordVideo, "pyav": PyAVVideo}

# Python modules each backend needs, checked before use so a missing one is a config error.
_REQUIRES = {"decord": "decord", "pyav": "av"}


def resolve_backend(name: str, key: str = "backend") -> str:
    """Map "auto" to decord when it is installed, else pyav; reject unknown or missing backends
    with a ConfigError naming `key`."""
    if name == "auto":
        return "decord" if importlib.util.find_spec("decord") is not None else "pyav"
    if name not in BACKENDS:
        choices = ", ".join(["auto", *BACKENDS])
        raise ConfigError(f"{key}={name!r} is not a video backend; choose one of {choices}.")
    module = _REQUIRES.get(name)
    if module is not None and importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"{key}={name!r} needs the Python package '{module}', which is not installed; "
            f"install it or set {key}=auto."
        )
    return name


def open_video(path: str, backend: str = "auto") -> VideoFile:
    """Open `path` with the named backend; raises VideoDecodeError naming the file on failure."""
    return BACKENDS[resolve_backend(backend)](str(path))


FRAME_TEMPLATE = "img_{:05d}.jpg"


def open_record(
    record: VideoRecord,
    backend: str = "auto",
    *,
    frame_template: str = FRAME_TEMPLATE,
    short_side: int | None = None,
) -> VideoFile:
    """Open what an annotation line points at: a video file with `backend`, or a folder of
    frames named by `frame_template` (numbered from `record.start`). `short_side` asks the
    decoder for frames whose short side is that many pixels (None: full size)."""
    if record.is_frames:
        raise NotImplementedError("frame folders")
    return open_video(record.path, backend)
