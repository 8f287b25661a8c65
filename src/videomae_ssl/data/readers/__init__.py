"""Video readers: open a video or a folder of frames, report its frame count, decode a list of
frame indices.

Every reader returns the same thing, `uint8 (T, H, W, 3)` RGB frames, so the dataset does not
care which one decoded them. Video-file backends are registered by name in `BACKENDS`
(decord, torchcodec, pyav); folders of frames are read with PIL whatever the backend.

`short_side` asks for frames whose short side is that many pixels, aspect ratio kept (never
upscaled). `device="cuda"` (`data.decode_device`) decodes with TorchCodec on the GPU (NVDEC)
and returns the frames there; frame folders are read on the CPU whatever the device. Each
reader scales while decoding where it can, which is much cheaper than decoding at full size
and resizing afterwards.

Every reader also decodes from memory: a video file's encoded bytes (`data=`), or a frame
folder's image files' bytes (`FrameImages`), as read from shards (`videomae_ssl.data.shards`);
the frames are the same as those decoded from the files.

The readers live in `base` (the interface and shared checks), `decoders` (decord,
TorchCodec), `pyav` and `frames`; this module picks one by name.

Safe with DataLoader worker processes: importing this module and `resolve_backend` open no
file and start no decoder (resolving "torchcodec" only loads its FFmpeg libraries, which is
fork-safe). Open readers inside `Dataset.__getitem__`, never before the workers start: decord
readers created before a fork are known to deadlock.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import torch

from videomae_ssl.console import say
from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.readers.base import (
    DECODE_DEVICE_KEY,
    DECODE_DEVICES,
    FRAME_TEMPLATE,
    MAX_HEADER_EXCESS,
    VideoDecodeError,
    VideoFile,
    describe,
    scaled_size,
)
from videomae_ssl.data.readers.decoders import DecordVideo, TorchCodecVideo
from videomae_ssl.data.readers.frames import FrameFolder, FrameImages
from videomae_ssl.data.readers.pyav import PyAVVideo
from videomae_ssl.errors import ConfigError

__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "DECODE_DEVICES",
    "DECODE_DEVICE_KEY",
    "FRAME_TEMPLATE",
    "MAX_HEADER_EXCESS",
    "DecordVideo",
    "FrameFolder",
    "FrameImages",
    "PyAVVideo",
    "TorchCodecVideo",
    "VideoDecodeError",
    "VideoFile",
    "auto_backend",
    "check_decode_device",
    "check_skip_loop_filter",
    "open_record",
    "open_video",
    "resolve_backend",
    "scaled_size",
]

# Config key of the option that skips H.264's deblocking filter while decoding (PyAV only).
SKIP_LOOP_FILTER_KEY = "data.decode_skip_loop_filter"

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
        loaded, problem = False, describe(err)
    if not loaded:
        raise ConfigError(
            f"{key}='torchcodec' cannot load FFmpeg ({problem}); install FFmpeg's libraries "
            f"(e.g. `apt-get install ffmpeg`, `conda install ffmpeg`) or set {key}=pyav "
            f"(or auto)."
        )


# What "auto" tries, fastest first (benchmarks/RESULTS.md: TorchCodec decodes the pretraining
# clips fastest per core; decord is unmaintained; PyAV, a dependency, always works).
AUTO_ORDER = ("torchcodec", "decord", "pyav")
_announced: set[str] = set()  # the auto choices this process has printed


def auto_backend() -> str:
    """The first backend of `AUTO_ORDER` that works on this machine (installed and, for
    TorchCodec, able to load FFmpeg), said once per process. Opens no file."""
    for name in AUTO_ORDER:
        try:
            resolve_backend(name)
        except ConfigError:
            continue
        if name not in _announced:
            _announced.add(name)
            say(
                f"Video backend (auto): {name}, the fastest of {', '.join(AUTO_ORDER)} that works here"
            )
        return name
    raise ConfigError(f"no video backend works here; install one of {', '.join(AUTO_ORDER)}.")


def resolve_backend(name: str, key: str = "backend") -> str:
    """Map "auto" to the fastest backend that works here (`auto_backend`); reject unknown or
    unusable backends with a ConfigError naming `key`. Opens no file."""
    if name == "auto":
        return auto_backend()
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


def check_skip_loop_filter(skip: bool, backend: str, key: str = SKIP_LOOP_FILTER_KEY) -> bool:
    """Only PyAV passes FFmpeg's skip_loop_filter to the decoder: a ConfigError naming `key`
    for any other backend."""
    if skip and backend != "pyav":
        raise ConfigError(
            f"{key}=true: only the pyav backend can skip the loop filter; set "
            f"data.backend=pyav (now {backend!r}) or {key}=false."
        )
    return bool(skip)


def open_video(
    path: str,
    backend: str = "auto",
    short_side: int | None = None,
    device: str = "cpu",
    data: bytes | None = None,
    skip_loop_filter: bool = False,
    motion_vectors: bool = False,
) -> VideoFile:
    """Open the video file `path` with the named backend, decoding at `short_side` pixels on the
    short side (None: full size) on `device` ("cuda": TorchCodec with NVDEC); with `data`, the
    file's bytes are decoded from memory and `path` only names it. `skip_loop_filter` (PyAV
    only) skips H.264's deblocking filter. With `motion_vectors` the file is decoded by PyAV
    whatever `backend` says: only PyAV exports the codec's motion vectors, and one decode then
    gives the frames and the vectors (`read_with_vectors`). Raises VideoDecodeError naming the
    file on failure."""
    short_side = _check_short_side(short_side)
    if motion_vectors:
        return PyAVVideo(
            str(path),
            short_side,
            data=data,
            motion_vectors=True,
            skip_loop_filter=check_skip_loop_filter(skip_loop_filter, "pyav"),
        )
    backend = resolve_backend(backend)
    backend = resolve_backend(backend)
    if device != "cpu":
        check_decode_device(device, backend)
        return TorchCodecVideo(str(path), short_side, device, data=data)
    if check_skip_loop_filter(skip_loop_filter, backend):
        return PyAVVideo(str(path), short_side, data=data, skip_loop_filter=True)
    return BACKENDS[backend](str(path), short_side, data=data)


def open_record(
    record: VideoRecord,
    backend: str = "auto",
    *,
    frame_template: str = FRAME_TEMPLATE,
    short_side: int | None = None,
    device: str = "cpu",
    data: bytes | Sequence[bytes] | None = None,
    skip_loop_filter: bool = False,
    motion_vectors: bool = False,
) -> VideoFile:
    """Open what an annotation line points at: a video file with `backend` on `device`, or a
    folder of frames named by `frame_template` (numbered from `record.start`, read on the CPU).
    `short_side` asks the decoder for frames whose short side is that many pixels (None: full
    size). `data` holds what the line points at in memory instead: the video file's bytes, or
    for a frame folder the bytes of its image files in frame order. `motion_vectors` asks for
    the codec's motion vectors (see `open_video`); frame folders have none."""
    if not record.is_frames:
        if data is not None and not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"{record.path}: a video file's data is its bytes")
        return open_video(
            record.path,
            backend,
            short_side,
            device,
            data=data,
            skip_loop_filter=skip_loop_filter,
            motion_vectors=motion_vectors,
        )
    if data is not None:
        if isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"{record.path}: a frame folder's data is one bytes per frame")
        return FrameImages(str(record.path), list(data), _check_short_side(short_side))
    try:
        frame_template.format(record.start)
    except (IndexError, KeyError, ValueError) as err:
        raise ConfigError(
            f"frame_template={frame_template!r} cannot name frame files ({describe(err)}); "
            "use one integer field, e.g. 'img_{:05d}.jpg'."
        ) from err
    return FrameFolder(
        str(record.path),
        record.num_frames,
        start=record.start,
        template=frame_template,
        short_side=_check_short_side(short_side),
    )
