"""Small real video files for tests, written with PyAV (imported by conftest.py and tests)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.pretrain_dataset import VideoPretrainDataset
from videomae_ssl.masking import TubeMaskGenerator


def ffmpeg_libraries_load() -> bool:
    """Whether TorchCodec finds FFmpeg's shared libraries (the system's, not PyAV's bundled ones):
    TorchCodec and transformers' video pipeline decode with them."""
    try:
        import torchcodec
    except Exception:
        return False
    return torchcodec.ffmpeg_major_version is not None


# A test that decodes with the system's FFmpeg libraries skips, naming the install, on a machine
# without them (`make test` on a fresh machine); under CI, whose .ci/run installs them, it always
# runs, so a broken install fails instead of vanishing.
needs_ffmpeg_libraries = pytest.mark.skipif(
    not ffmpeg_libraries_load() and not os.environ.get("CI"),
    reason="needs FFmpeg's shared libraries (TorchCodec, transformers' video pipeline): "
    "apt-get install ffmpeg",
)


def clip_frames(num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """Frames that are easy to tell apart after lossy coding -> uint8 (T, H, W, 3).

    Red ramps left to right and green top to bottom (so crops and flips are visible); blue is a
    flat level, 10 + 5 * i for frame i (i < 48), so a frame's mean blue identifies it.
    """
    width, height = size
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    frames[..., 0] = np.linspace(16, 239, width, dtype=np.float32).astype(np.uint8)[None, None, :]
    frames[..., 1] = np.linspace(16, 239, height, dtype=np.float32).astype(np.uint8)[None, :, None]
    frames[..., 2] = (10 + (5 * np.arange(num_frames)) % 240).astype(np.uint8)[:, None, None]
    return frames


def write_clip(
    path: str | Path,
    num_frames: int = 16,
    size: tuple[int, int] = (64, 48),
    codec: str = "libx264",
    fps: int = 25,
) -> np.ndarray:
    """Encode `clip_frames(num_frames, size)` (size = (width, height), even numbers) as yuv420p
    with `codec`; the container follows the file suffix (.mp4, .mkv, .avi, .webm). Returns the
    frames written, uint8 (T, H, W, 3), to compare decoded frames against."""
    frames = clip_frames(num_frames, size)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "10", "threads": "1"}  # near lossless: tight tolerances
        else:
            stream.bit_rate = 8_000_000
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return frames


def pretrain_dataset(records, **overrides) -> VideoPretrainDataset:
    """A small training `VideoPretrainDataset` read with PyAV: 4 frames 2 apart at 32 px, patch
    8, tube mask 0.75, seed 0; keyword arguments replace any of these."""
    # The decode settings travel as one DecodeOptions.
    decode = {
        key: overrides.pop(key)
        for key in ("backend", "frame_template", "short_side")
        if key in overrides
    }
    args = dict(
        num_frames=4,
        sampling_rate=2,
        input_size=32,
        patch_size=8,
        tubelet_size=2,
        mask_generator=TubeMaskGenerator(0.75),
        seed=0,
        train=True,
        decode=DecodeOptions(**{"backend": "pyav", **decode}),
    )
    return VideoPretrainDataset(records, **{**args, **overrides})


# The moving square of `write_square_clip`: its side, row and step in pixels, where it starts.
SQUARE_SIDE, SQUARE_TOP, SQUARE_STEP, SQUARE_LEFT = 32, 32, 3, 8


def square_frames(num_frames: int = 30, size: tuple[int, int] = (128, 96)) -> np.ndarray:
    """A textured square of SQUARE_SIDE px moving SQUARE_STEP px right per frame (left edge
    SQUARE_LEFT + SQUARE_STEP * t, top SQUARE_TOP) over a static textured background ->
    uint8 (T, H, W, 3). Both textures are smooth noise (random per 8 px, upsampled), so the
    encoder finds the displacement."""
    width, height = size
    rng = np.random.default_rng(0)

    def texture(h: int, w: int) -> np.ndarray:
        coarse = rng.integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
        return np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:h, :w]

    background = texture(height, width)
    square = texture(SQUARE_SIDE, SQUARE_SIDE)
    frames = np.repeat(background[None], num_frames, axis=0)
    for t in range(num_frames):
        left = SQUARE_LEFT + SQUARE_STEP * t
        shown = frames[t, SQUARE_TOP : SQUARE_TOP + SQUARE_SIDE, left : left + SQUARE_SIDE]
        shown[...] = square[: shown.shape[0], : shown.shape[1]]  # cut at the frame's border
    return frames


def write_square_clip(
    path: str | Path,
    num_frames: int = 30,
    size: tuple[int, int] = (128, 96),
    codec: str = "libx264",
    intra_only: bool = False,
) -> np.ndarray:
    """Encode `square_frames`: H.264 with one reference frame and no B-frames (so a vector's
    displacement is one frame's), every frame a keyframe with `intra_only`; or MJPEG (an .avi).
    Returns the frames written, uint8 (T, H, W, 3)."""
    frames = square_frames(num_frames, size)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height = size
        if codec == "libx264":
            stream.pix_fmt = "yuv420p"
            keyint = ":keyint=1" if intra_only else ""
            stream.options = {
                "crf": "12",
                "threads": "1",
                "x264-params": f"ref=1:bframes=0{keyint}",
            }
        else:
            stream.pix_fmt = "yuvj420p"  # MJPEG's full-range YUV
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return frames
