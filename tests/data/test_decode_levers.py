"""The decoding levers: `data.backend=auto` picks the fastest backend that works and everything
still reads when one is missing; readers decode only from the keyframe before a clip; the
opt-in loop-filter skip; and the default path's clips, crops and masks against frames read
independently with plain PyAV."""

import importlib.util

import av
import numpy as np
import pytest
import torch
from clips import clip_frames, needs_ffmpeg_libraries, pretrain_dataset

from videomae_ssl.data import readers
from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.keyframes import frames_to_decode, keyframe_positions
from videomae_ssl.data.readers import open_video, resolve_backend
from videomae_ssl.data.transforms import MultiScaleCrop, channels_first
from videomae_ssl.errors import ConfigError
from videomae_ssl.masking import TubeMaskGenerator
from videomae_ssl.seeding import STREAM_CROP, STREAM_FRAMES, STREAM_MASK, sample_generator

SIZE = (96, 64)  # (width, height)


def write_video(path, num_frames: int, gop: int, size=SIZE) -> np.ndarray:
    """H.264 with a keyframe every `gop` frames and B-frames; returns the frames written."""
    frames = clip_frames(num_frames, size)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "2"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return frames


def plain_pyav(path) -> np.ndarray:
    """Every frame, decoded from the start with plain PyAV -> (T, H, W, 3)."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("levers") / "gop12.mp4"
    write_video(path, num_frames=120, gop=12)
    return path


def hide(monkeypatch, *modules: str) -> None:
    """Make the named Python packages look uninstalled to the backend checks."""
    find_spec = importlib.util.find_spec

    def hidden(name, *args, **kwargs):
        return None if name in modules else find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", hidden)


def test_auto_takes_the_first_backend_that_works(monkeypatch, capsys):
    monkeypatch.setattr(readers, "_announced", set())
    works = [n for n in readers.AUTO_ORDER if _works(n)]
    assert resolve_backend("auto") == works[0]
    assert resolve_backend("auto") == works[0]
    printed = capsys.readouterr().out
    assert printed.count(f"Video backend (auto): {works[0]}") == 1  # said once per process
    hide(monkeypatch, "torchcodec")
    assert resolve_backend("auto") == ("decord" if _works("decord") else "pyav")
    hide(monkeypatch, "torchcodec", "decord")
    assert resolve_backend("auto") == "pyav"
    assert readers.AUTO_ORDER == ("torchcodec", "decord", "pyav")


def test_auto_skips_a_torchcodec_that_cannot_load_ffmpeg(monkeypatch):
    torchcodec = pytest.importorskip("torchcodec")
    monkeypatch.setattr(torchcodec, "ffmpeg_major_version", None)
    assert resolve_backend("auto") == ("decord" if _works("decord") else "pyav")


def _works(name: str) -> bool:
    try:
        resolve_backend(name)
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("hidden", [("torchcodec",), ("decord",), ("torchcodec", "decord")])
def test_the_dataset_reads_with_a_backend_missing(video, monkeypatch, hidden):
    hide(monkeypatch, *hidden)
    ds = pretrain_dataset(
        [VideoRecord(str(video))], num_frames=8, sampling_rate=4, decode=DecodeOptions()
    )
    assert ds.decoding.backend not in hidden
    assert ds[(0, 3)]["video"].shape == (3, 8, 32, 32)


@pytest.mark.parametrize(
    "backend", ["pyav", "decord", pytest.param("torchcodec", marks=needs_ffmpeg_libraries)]
)
def test_default_path_matches_plain_pyav_frames_crop_and_mask(video, backend):
    """A sample is the frames plain PyAV decodes at the indices drawn from the sample's frame
    stream, cropped with the crop stream and masked with the mask stream."""
    if not _works(backend):
        pytest.skip(f"{backend} is not installed")
    ds = pretrain_dataset(
        [VideoRecord(str(video))],
        num_frames=8,
        sampling_rate=4,
        decode=DecodeOptions(backend=backend),
        seed=5,
    )
    every = torch.from_numpy(plain_pyav(video))  # (T, H, W, 3)
    for epoch in (0, 1, 7):
        item = ds[(0, epoch)]
        frames_stream = sample_generator(5, epoch, 0, stream=STREAM_FRAMES)
        start = int(torch.randint(120 - 32 + 1, (1,), generator=frames_stream))
        clip = every[start : start + 32 : 4].permute(0, 3, 1, 2)  # (T, 3, H, W)
        crop = MultiScaleCrop(32)(clip, sample_generator(5, epoch, 0, stream=STREAM_CROP))
        assert torch.equal(item["video"], channels_first(crop))
        mask = TubeMaskGenerator(0.75)(ds.grid, sample_generator(5, epoch, 0, stream=STREAM_MASK))
        assert torch.equal(item["mask"], mask)


def test_keyframes_are_read_from_the_packets(video):
    assert keyframe_positions(str(video)) == list(range(0, 120, 12))
    assert keyframe_positions(str(video), data=video.read_bytes()) == list(range(0, 120, 12))
    keys = [0, 12, 24]
    assert frames_to_decode(keys, [13, 17, 21]) == 21 - 12 + 1
    assert frames_to_decode(keys, [24]) == 1
    assert frames_to_decode(keys, [11, 40, 3]) == 41
    assert frames_to_decode([5], [2, 3]) == 4  # before the first keyframe: from frame 0


@pytest.mark.parametrize("indices", [[50, 54, 58, 62], [36, 40, 44], [100, 119], [0, 4]])
def test_pyav_decodes_only_from_the_keyframe_before_the_clip(video, indices):
    with open_video(str(video), "pyav") as reader:
        reader.read(indices)
        assert reader.frames_decoded == frames_to_decode(keyframe_positions(str(video)), indices)


def test_skip_loop_filter_is_pyav_only_and_close_to_a_full_decode(video):
    indices = [40, 44, 48, 52, 56]
    with open_video(str(video), "pyav", skip_loop_filter=True) as reader:
        skipped = reader.read(indices).numpy().astype(np.float64)
        again = reader.read(indices).numpy().astype(np.float64)
    full = plain_pyav(video)[indices].astype(np.float64)
    assert np.array_equal(skipped, again)  # deterministic: resume gives the same pixels
    mse = ((skipped - full) ** 2).mean()
    assert mse > 0  # the filter really is off
    assert 10 * np.log10(255**2 / mse) > 30
    for backend in ("decord", "torchcodec"):
        with pytest.raises(ConfigError, match=r"data\.decode_skip_loop_filter=true.*pyav"):
            DecodeOptions(backend=backend, skip_loop_filter=True).check()
    DecodeOptions(backend="pyav", skip_loop_filter=True).check()


def test_skip_loop_filter_keeps_samples_a_function_of_seed_epoch_index(video):
    options = DecodeOptions(backend="pyav", skip_loop_filter=True)

    def item(epoch):
        ds = pretrain_dataset(
            [VideoRecord(str(video))], num_frames=8, sampling_rate=4, decode=options
        )
        return ds[(0, epoch)]

    a, b = item(2), item(2)  # two datasets, as a run and its resume
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["mask"], b["mask"])
    plain = pretrain_dataset([VideoRecord(str(video))], num_frames=8, sampling_rate=4)[(0, 2)]
    assert torch.equal(a["mask"], plain["mask"])
    assert not torch.equal(a["video"], plain["video"])
