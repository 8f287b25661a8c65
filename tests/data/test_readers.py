"""Video readers: decord and PyAV agree, decode the frames asked for, and fail with the path."""

import importlib.util
import os

import av
import numpy as np
import pytest

from videomae_ssl.data.readers import BACKENDS, VideoDecodeError, open_video, resolve_backend
from videomae_ssl.errors import ConfigError, DataError

HAS_DECORD = importlib.util.find_spec("decord") is not None
ALL_BACKENDS = [
    "pyav",
    pytest.param("decord", marks=pytest.mark.skipif(not HAS_DECORD, reason="decord missing")),
]
INDICES = [0, 5, 5, 47, 3, 20]  # out of order, with a repeat and the last frame


@pytest.fixture(scope="module")
def clip(tmp_path_factory, make_clip):
    """A 48-frame H.264 mp4 and the frames it was made from."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return str(path), make_clip(path, num_frames=48, size=(64, 48))


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_reads_the_frames_asked_for(clip, backend):
    path, source = clip
    with open_video(path, backend) as video:
        assert video.num_frames == 48
        frames = video.read(INDICES)
    assert frames.shape == (6, 48, 64, 3) and frames.dtype.is_floating_point is False
    decoded = frames.numpy().astype(np.float64)
    assert np.abs(decoded - source[INDICES]).mean() < 3.0  # within codec tolerance
    # Frame i has blue level 10 + 5 i: the nearest level tells which frame was decoded.
    blue = decoded[..., 2].mean(axis=(1, 2))
    assert np.rint((blue - 10) / 5).astype(int).tolist() == INDICES


@pytest.mark.skipif(not HAS_DECORD, reason="decord missing")
def test_decord_and_pyav_agree(clip):
    path, _ = clip
    with open_video(path, "decord") as a, open_video(path, "pyav") as b:
        x, y = a.read(INDICES).double(), b.read(INDICES).double()
    assert (x - y).abs().mean() < 2.0


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_container_without_frame_count(tmp_path, make_clip, backend):
    # Matroska stores no frame count in its header; PyAV then counts packets.
    path = tmp_path / "clip.mkv"
    source = make_clip(path, num_frames=20)
    with open_video(str(path), backend) as video:
        assert video.num_frames == 20
        first = video.read([19, 2]).numpy().astype(np.int64)
        again = video.read([19]).numpy().astype(np.int64)  # a second read on the same file
    assert np.abs(first - source[[19, 2]]).mean() < 3.0
    assert np.array_equal(first[:1], again)


def test_auto_prefers_decord():
    assert resolve_backend("auto") == ("decord" if HAS_DECORD else "pyav")
    assert set(BACKENDS) == {"decord", "pyav"}


def test_unknown_backend_names_the_key():
    with pytest.raises(ConfigError, match=r"data\.backend='torchcodecc'.*auto, decord, pyav"):
        resolve_backend("torchcodecc", key="data.backend")


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_missing_file(tmp_path, backend):
    path = str(tmp_path / "missing.mp4")
    with pytest.raises(VideoDecodeError, match=f"{path}: no such video file"):
        open_video(path, backend)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_corrupt_file(tmp_path, backend):
    path = tmp_path / "truncated.mp4"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(VideoDecodeError, match=f"{path}: cannot open video") as err:
        open_video(str(path), backend)
    assert isinstance(err.value, DataError)  # entry points print it without a traceback
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_video_without_frames(tmp_path, backend):
    path = tmp_path / "empty.mp4"
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    container.start_encoding()
    container.close()
    with pytest.raises(VideoDecodeError, match=str(path)):
        open_video(str(path), backend)


def test_indices_outside_the_video_are_rejected(clip):
    path, _ = clip
    with open_video(path, "pyav") as video, pytest.raises(ValueError, match=r"\[48\]"):
        video.read([0, 48])
