"""Video readers: open a video or a folder of frames, report its frame count, decode a list of
frame indices.

Every reader returns the same thing, `uint8 (T, H, W, 3)` RGB frames, so the dataset does not
care which one decoded them. Video-file backends are registered by name in `BACKENDS`
(decord, torchcodec, pyav); folders of frames are read with PIL whatever the backend.

`short_side` asks for frames whose short side is that many pixels, aspect ratio kept (never
upscaled). `device="cuda"` (`data.decode_device`) decodes with TorchCodec on the GPU (NVDEC)
and returns the frames there; frame folders are read on the CPU whatever the device. Each reader scales while decoding where it can, which is much cheaper than
decoding at full size and resizing afterwards.

Safe with DataLoader worker processes: importing this module and `resolve_backend` open no
file and start no decoder (resolving "torchcodec" only loads its FFmpeg libraries, which is
fork-safe). Open readers inside `Dataset.__getitem__`, never before the workers start: decord
readers created before a fork are known to deadlock.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from fractions import Fraction
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.errors import ConfigError, DataError

if TYPE_CHECKING:
    import av

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
            raise VideoDecodeError(f"{self.path}: cannot decode frames ({_describe(err)})") from err
        if isinstance(frames, torch.Tensor):  # decoded on the GPU
            return frames.contiguous()
        return torch.from_numpy(np.ascontiguousarray(frames))

    def _read(self, indices: list[int]) -> np.ndarray | torch.Tensor:
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


def _require_file(path: str) -> None:
    if not os.path.isfile(path):
        raise VideoDecodeError(f"{path}: no such video file")


def _check_not_empty(path: str, num_frames: int) -> int:
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


def _probe_header(path: str) -> tuple[int, int, int]:
    """A video's (width, height, frame count) from its container header, without decoding a
    frame; the count is 0 where the container stores none (webm, mkv)."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = container.streams.video[0]
            return stream.codec_context.width, stream.codec_context.height, stream.frames or 0
    except VideoDecodeError:
        raise
    except Exception as err:
        raise VideoDecodeError(f"{path}: cannot open video ({_describe(err)})") from err


def _check_header_count(path: str, header_frames: int, num_frames: int) -> None:
    """Reject a video whose decoder indexed fewer frames than its header lists, beyond what
    re-muxing explains: the file lost its end, and reading it as a short video would hide that
    (PyAVVideo raises the same error when a read runs past the decodable frames)."""
    if header_frames > 0 and header_frames - num_frames > MAX_HEADER_EXCESS:
        raise VideoDecodeError(
            f"{path}: the header lists {header_frames} frames but the decoder indexed only "
            f"{num_frames}; the file is probably truncated"
        )


class DecordVideo(VideoFile):
    """decord.VideoReader on one thread (DataLoader workers already run in parallel); with
    `short_side`, decord's own scaler shrinks frames as they are decoded. decord reports only
    the frames it indexed, so the header's count (for the truncation check) and size come from
    one PyAV probe of the container header."""

    def __init__(self, path: str, short_side: int | None = None) -> None:
        super().__init__(path)
        _require_file(path)
        import decord

        width, height, header_frames = _probe_header(path)
        size = {}
        if short_side is not None:
            width, height = scaled_size(width, height, short_side)
            size = {"width": width, "height": height}
        try:
            self._reader = decord.VideoReader(path, num_threads=1, ctx=decord.cpu(0), **size)
            num_frames = len(self._reader)
        except Exception as err:
            raise VideoDecodeError(f"{path}: cannot open video ({_describe(err)})") from err
        _check_header_count(path, header_frames, num_frames)
        self.num_frames = _check_not_empty(path, num_frames)

    def _read(self, indices: list[int]) -> np.ndarray:
        return self._reader.get_batch(indices).asnumpy()  # (T, H, W, 3)

    def close(self) -> None:
        # decord frees its decoder only when the reader is garbage collected.
        self._reader = None


class TorchCodecVideo(VideoFile):
    """TorchCodec's VideoDecoder (exact seeking, one FFmpeg thread); with `short_side` its
    Resize transform scales inside FFmpeg's filter graph, before the RGB tensor is built. With
    `device="cuda"` it decodes with NVDEC and the frames stay on the GPU; a decoder that would
    fall back to the CPU is a ConfigError naming `data.decode_device`."""

    def __init__(self, path: str, short_side: int | None = None, device: str = "cpu") -> None:
        super().__init__(path)
        _require_file(path)
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize

        self.device = device
        try:
            transforms = None
            if short_side is not None:
                # Header-only metadata; its size is after any rotation, as decoded frames are.
                meta = VideoDecoder(path, seek_mode="approximate").metadata
                width, height = scaled_size(meta.width, meta.height, short_side)
                if (width, height) != (meta.width, meta.height):
                    transforms = [Resize((height, width))]
            self._decoder = VideoDecoder(
                path,
                dimension_order="NHWC",
                num_ffmpeg_threads=1,
                transforms=transforms,
                device=device,
            )
            # Exact mode scans the packets: num_frames is what the scan indexed, and the header's
            # count (FFmpeg's nb_frames, PyAV's `stream.frames`) comes with it, no probe needed.
            metadata = self._decoder.metadata
            num_frames = metadata.num_frames or 0
            header_frames = metadata.num_frames_from_header or 0
        except Exception as err:
            raise VideoDecodeError(f"{path}: cannot open video ({_describe(err)})") from err
        if device != "cpu":
            fallback = getattr(self._decoder, "cpu_fallback", None)
            if fallback:  # NVDEC is missing or cannot decode this codec: a setting, not the file
                raise ConfigError(
                    f"{DECODE_DEVICE_KEY}={device}: TorchCodec cannot decode {path} with NVDEC "
                    f"({fallback}); use FFmpeg and a driver with NVDEC for this codec, or set "
                    f"{DECODE_DEVICE_KEY}=cpu."
                )
        _check_header_count(path, header_frames, num_frames)
        self.num_frames = _check_not_empty(path, num_frames)

    def _read(self, indices: list[int]) -> np.ndarray | torch.Tensor:
        frames = self._decoder.get_frames_at(indices).data  # (T, H, W, 3)
        return frames if self.device != "cpu" else frames.numpy()

    def close(self) -> None:
        self._decoder = None


class PyAVVideo(VideoFile):
    """PyAV on one thread: seeks to the keyframe before the first frame wanted, decodes up to
    the last one and converts (and scales, with `short_side`) only the frames asked for.
    Slower than decord on long videos but robust and maintained.

    A decoded frame's index comes from its timestamp, (pts - pts of frame 0) * frame rate. That
    is exact for constant-frame-rate videos; whenever the timestamps disagree with that (no pts,
    variable frame rate, a gap), the read falls back to decoding from the first frame and
    counting, which defines the indices.
    """

    def __init__(self, path: str, short_side: int | None = None) -> None:
        super().__init__(path)
        _require_file(path)
        import av

        self._av = av
        self._container = None
        try:
            self._container = av.open(path)
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
            raise VideoDecodeError(f"{path}: cannot open video ({_describe(err)})") from err
        self.num_frames = _check_not_empty(path, num_frames)
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

    def _stream(self) -> av.video.stream.VideoStream:
        stream = self._container.streams.video[0]
        if not stream.codec_context.is_open:
            stream.codec_context.thread_count = 1  # one thread per worker, like decord
        return stream

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
            self._container = self._av.open(self.path)
        self._consumed = True
        stream = self._stream()
        last = max(wanted)
        decoded: dict[int, np.ndarray] = {}
        for i, frame in enumerate(self._container.decode(stream)):
            self._last = (i, frame)
            if i in wanted:
                decoded[i] = self._to_array(frame)  # (H, W, 3)
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
        # Half a frame early, so a timestamp rounded to the container's clock still lands after.
        target = self._first_pts + int((first - Fraction(1, 2)) / frames_per_tick)
        self._container.seek(target, stream=stream, backward=True, any_frame=False)
        decoded: dict[int, np.ndarray] = {}
        expected = first
        for frame in self._container.decode(stream):
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
                decoded[index] = self._to_array(frame)  # (H, W, 3)
            if index == last:
                break
        return decoded or None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


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


class FrameFolder(VideoFile):
    """A folder of image files, frame i named `template.format(start + i)`, read with PIL as
    RGB. With `short_side`, JPEGs are decoded at a reduced scale (PIL `draft`) before the
    final resize."""

    def __init__(
        self,
        path: str,
        num_frames: int,
        start: int = 0,
        template: str = FRAME_TEMPLATE,
        short_side: int | None = None,
    ) -> None:
        super().__init__(path)
        if not os.path.isdir(path):
            raise VideoDecodeError(f"{path}: no such frame folder")
        if num_frames <= 0:
            raise VideoDecodeError(f"{path}: frame folder listed with {num_frames} frames")
        self.num_frames = num_frames
        self._start = start
        self._template = template
        self._short_side = short_side

    def frame_path(self, index: int) -> str:
        """The file holding frame `index` (0-based)."""
        return os.path.join(self.path, self._template.format(self._start + index))

    def _read(self, indices: list[int]) -> np.ndarray:
        images = {i: self._load(self.frame_path(i)) for i in dict.fromkeys(indices)}
        return np.stack([images[i] for i in indices])  # (T, H, W, 3)

    def _load(self, file: str) -> np.ndarray:
        if not os.path.isfile(file):
            raise VideoDecodeError(f"{file}: frame file missing (frame folder {self.path})")
        try:
            with Image.open(file) as image:
                size = scaled_size(*image.size, self._short_side)
                if size != image.size:
                    image.draft("RGB", size)  # JPEG only: decode at 1/2, 1/4 or 1/8 scale
                image = image.convert("RGB")
                if size != image.size:
                    image = image.resize(size, Image.Resampling.BILINEAR)
                return np.asarray(image)  # (H, W, 3)
        except Exception as err:
            raise VideoDecodeError(f"{file}: cannot read frame ({_describe(err)})") from err


BACKENDS: dict[str, type[VideoFile]] = {
    "decord": DecordVideo,
    "torchcodec": TorchCodecVideo,
    "pyav": PyAVVideo,
}

# Python modules each backend needs, checked before use so a missing one is a config error.
_REQUIRES = {"decord": "decord", "torchcodec": "torchcodec", "pyav": "av"}


def _torchcodec_loads(key: str) -> None:
    """Raise a ConfigError naming `key` when TorchCodec cannot load FFmpeg's libraries."""
    try:
        import torchcodec

        loaded = torchcodec.ffmpeg_major_version is not None
        problem = "" if loaded else "FFmpeg's shared libraries were not found"
    except Exception as err:  # older TorchCodec releases fail at import instead
        loaded, problem = False, _describe(err)
    if not loaded:
        raise ConfigError(
            f"{key}='torchcodec' cannot load FFmpeg ({problem}); install FFmpeg's libraries "
            f"(e.g. `apt-get install ffmpeg`, `conda install ffmpeg`) or set {key}=pyav "
            f"(or auto)."
        )


def resolve_backend(name: str, key: str = "backend") -> str:
    """Map "auto" to decord when it is installed, else pyav; reject unknown or unusable
    backends with a ConfigError naming `key`. Opens no file."""
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
    if name == "torchcodec":
        _torchcodec_loads(key)
    return name


def _check_short_side(short_side: int | None) -> int | None:
    if short_side is None:
        return None
    if isinstance(short_side, bool) or not isinstance(short_side, int) or short_side <= 0:
        raise ConfigError(
            f"short_side={short_side!r} must be a positive number of pixels, or null for "
            "full-size frames."
        )
    return short_side


def check_decode_device(device: str, backend: str, key: str = DECODE_DEVICE_KEY) -> str:
    """Reject a decode device this machine cannot use, with a ConfigError naming `key`: "cuda"
    needs the torchcodec backend, a CUDA device and TorchCodec's CUDA support (NVDEC itself is
    checked when the first video opens). Opens no file."""
    if device not in DECODE_DEVICES:
        raise ConfigError(f"{key}={device!r}: choose one of {', '.join(DECODE_DEVICES)}.")
    if device == "cpu":
        return device
    if backend != "torchcodec":
        raise ConfigError(
            f"{key}={device}: only TorchCodec decodes on the GPU; set data.backend=torchcodec "
            f"(now {backend!r}) or {key}=cpu."
        )
    if not torch.cuda.is_available():
        raise ConfigError(
            f"{key}={device}: no CUDA device is available to decode on; set {key}=cpu."
        )
    resolve_backend(backend)
    return device


def open_video(
    path: str, backend: str = "auto", short_side: int | None = None, device: str = "cpu"
) -> VideoFile:
    """Open the video file `path` with the named backend, decoding at `short_side` pixels on the
    short side (None: full size) on `device` ("cuda": TorchCodec with NVDEC); raises
    VideoDecodeError naming the file on failure."""
    backend = resolve_backend(backend)
    if device != "cpu":
        check_decode_device(device, backend)
        return TorchCodecVideo(str(path), _check_short_side(short_side), device)
    return BACKENDS[backend](str(path), _check_short_side(short_side))


def open_record(
    record: VideoRecord,
    backend: str = "auto",
    *,
    frame_template: str = FRAME_TEMPLATE,
    short_side: int | None = None,
    device: str = "cpu",
) -> VideoFile:
    """Open what an annotation line points at: a video file with `backend` on `device`, or a
    folder of frames named by `frame_template` (numbered from `record.start`, read on the CPU).
    `short_side` asks the decoder for frames whose short side is that many pixels (None: full
    size)."""
    if not record.is_frames:
        return open_video(record.path, backend, short_side, device)
    try:
        frame_template.format(record.start)
    except (IndexError, KeyError, ValueError) as err:
        raise ConfigError(
            f"frame_template={frame_template!r} cannot name frame files ({_describe(err)}); "
            "use one integer field, e.g. 'img_{:05d}.jpg'."
        ) from err
    return FrameFolder(
        str(record.path),
        record.num_frames,
        start=record.start,
        template=frame_template,
        short_side=_check_short_side(short_side),
    )
