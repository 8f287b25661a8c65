"""Video readers: every backend and frame folders decode the frames asked for, agree with each
other, scale to `short_side`, seek exactly, and fail naming the file or config key."""

import importlib.util
import os
import re
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from clips import clip_frames, ffmpeg_libraries_load, needs_ffmpeg_libraries, write_clip
from PIL import Image

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.readers import (
    BACKENDS,
    PyAVVideo,
    VideoDecodeError,
    check_decode_device,
    open_record,
    open_video,
    resolve_backend,
    scaled_size,
)
from videomae_ssl.errors import ConfigError, DataError

HAS_DECORD = importlib.util.find_spec("decord") is not None

TORCHCODEC = pytest.param("torchcodec", marks=needs_ffmpeg_libraries)
DECORD = pytest.param(
    "decord", marks=pytest.mark.skipif(not HAS_DECORD, reason="decord has no wheel here")
)
ALL_BACKENDS = ["pyav", DECORD, TORCHCODEC]
CODECS = {"mp4": "libx264", "avi": "mpeg4", "webm": "libvpx-vp9"}
INDICES = [0, 5, 5, 47, 3, 20]  # out of order, with a repeat and the last frame
SIZE = (64, 48)  # (width, height)


def frame_ids(frames: np.ndarray) -> list[int]:
    """Frame i of `clip_frames` has blue level 10 + 5 i (i < 48): the nearest level names it."""
    blue = frames[..., 2].astype(np.float64).mean(axis=(1, 2))
    return np.rint((blue - 10) / 5).astype(int).tolist()


def write_frames(folder, frames: np.ndarray, suffix: str, start: int = 1) -> None:
    """Frame i as `img_{start + i:05d}{suffix}`, PNG lossless or JPEG at quality 95."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"img_{start + i:05d}{suffix}", quality=95)


def pil_resize(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An independent downscale of (T, H, W, 3) frames to size = (width, height)."""
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR)) for f in frames])


@pytest.fixture(scope="module")
def clips(tmp_path_factory, make_clip):
    """48-frame clips in h264 mp4, mpeg4 avi and vp9 webm, and the frames they were made from."""
    folder = tmp_path_factory.mktemp("clips")
    source = {}
    for suffix, codec in CODECS.items():
        source[suffix] = make_clip(folder / f"clip.{suffix}", num_frames=48, size=SIZE, codec=codec)
    return {suffix: str(folder / f"clip.{suffix}") for suffix in CODECS}, source


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    """150-frame clips with a keyframe every 12 frames, so a late window needs a real seek."""
    folder = tmp_path_factory.mktemp("long")
    frames = clip_frames(150, SIZE)
    paths = {}
    for suffix, codec in CODECS.items():
        path = str(folder / f"long.{suffix}")
        with av.open(path, "w") as container:
            stream = container.add_stream(codec, rate=25)
            stream.width, stream.height = SIZE
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = 8_000_000
            stream.options = {"g": "12", "threads": "1"}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        paths[suffix] = path
    return paths


def decode_all(path: str) -> np.ndarray:
    """Every frame, decoded from the start with plain PyAV -> (T, H, W, 3)."""
    with av.open(path) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.mark.parametrize("suffix", CODECS)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_reads_the_frames_asked_for(clips, backend, suffix):
    paths, source = clips
    with open_video(paths[suffix], backend) as video:
        assert video.num_frames == 48
        frames = video.read(INDICES)
    assert frames.shape == (6, 48, 64, 3) and frames.dtype.is_floating_point is False
    decoded = frames.numpy()
    assert np.abs(decoded.astype(np.float64) - source[suffix][INDICES]).mean() < 3.0
    assert frame_ids(decoded) == INDICES


@pytest.mark.parametrize("suffix", CODECS)
@pytest.mark.parametrize("backend", [DECORD, TORCHCODEC])
def test_backends_agree_with_pyav(clips, backend, suffix):
    paths, _ = clips
    with open_video(paths[suffix], backend) as a, open_video(paths[suffix], "pyav") as b:
        x, y = a.read(INDICES).double(), b.read(INDICES).double()
    assert (x - y).abs().mean() < 2.0


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_frame_folder_reads_the_frames_asked_for(tmp_path, suffix):
    source = clip_frames(48, SIZE)
    write_frames(tmp_path / "clip", source, suffix, start=1)
    record = VideoRecord(str(tmp_path / "clip"), label=3, start=1, num_frames=48)
    with open_record(record, "pyav", frame_template="img_{:05d}" + suffix) as video:
        assert video.num_frames == 48
        frames = video.read(INDICES).numpy()
    assert frames.shape == (6, 48, 64, 3)
    if suffix == ".png":
        assert np.array_equal(frames, source[INDICES])
    else:
        assert np.abs(frames.astype(np.float64) - source[INDICES]).mean() < 2.0
    assert frame_ids(frames) == INDICES


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_frame_folder_agrees_with_video_backends(clips, tmp_path, backend):
    paths, source = clips
    write_frames(tmp_path / "clip", source["mp4"], ".png", start=0)
    record = VideoRecord(str(tmp_path / "clip"), start=0, num_frames=48)
    with open_record(record, frame_template="img_{:05d}.png") as folder:
        x = folder.read(INDICES).double()
    with open_record(VideoRecord(paths["mp4"]), backend) as video:
        y = video.read(INDICES).double()
    assert (x - y).abs().mean() < 3.0


def test_scaled_size():
    assert scaled_size(640, 480, 240) == (320, 240)
    assert scaled_size(480, 640, 240) == (240, 320)  # portrait
    assert scaled_size(340, 256, 224) == (298, 224)  # 340 * 224 / 256 = 297.5
    assert scaled_size(64, 48, None) == (64, 48)
    assert scaled_size(64, 48, 48) == (64, 48)
    assert scaled_size(64, 48, 100) == (64, 48)  # never upscaled


@pytest.mark.parametrize("suffix", CODECS)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_short_side(clips, backend, suffix):
    paths, source = clips
    with open_video(paths[suffix], backend, short_side=24) as video:
        frames = video.read(INDICES).numpy()
    assert frames.shape == (6, 24, 32, 3)
    expected = pil_resize(source[suffix][INDICES], (32, 24))
    assert np.abs(frames.astype(np.float64) - expected).mean() < 4.0
    assert frame_ids(frames) == INDICES


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_short_side_never_upscales(clips, backend):
    paths, _ = clips
    with open_video(paths["mp4"], backend, short_side=100) as video:
        assert video.read([1]).shape == (1, 48, 64, 3)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_frame_folder_short_side(tmp_path, suffix):
    # Portrait frames, large enough for JPEG draft mode to decode at a reduced scale.
    source = clip_frames(8, (96, 192))
    write_frames(tmp_path / "clip", source, suffix, start=1)
    record = VideoRecord(str(tmp_path / "clip"), start=1, num_frames=8)
    with open_record(record, frame_template="img_{:05d}" + suffix, short_side=40) as video:
        frames = video.read([7, 2]).numpy()
    assert frames.shape == (2, 80, 40, 3)
    expected = pil_resize(source[[7, 2]], (40, 80))
    assert np.abs(frames.astype(np.float64) - expected).mean() < 4.0
    assert frame_ids(frames) == [7, 2]


def test_invalid_short_side_is_a_config_error(clips):
    paths, _ = clips
    with pytest.raises(ConfigError, match=r"short_side=0 must be a positive"):
        open_video(paths["mp4"], "pyav", short_side=0)


@pytest.mark.parametrize("short_side", [None, 24])
@pytest.mark.parametrize("suffix", CODECS)
def test_pyav_seek_matches_decoding_from_start(long_clips, monkeypatch, suffix, short_side):
    path = long_clips[suffix]
    late = [130, 149, 131, 140, 140]
    with open_video(path, "pyav", short_side=short_side) as video:
        assert video.num_frames == 150
        from_start = video.read([0, *late]).numpy()[1:]  # frame 0 wanted: decoded from start

        def no_fallback(self, wanted):
            raise AssertionError("a late window should be read after a seek")

        monkeypatch.setattr(PyAVVideo, "_decode_from_start", no_fallback)
        seeked = video.read(late).numpy()
    assert np.array_equal(seeked, from_start)
    if short_side is None:
        assert np.array_equal(seeked, decode_all(path)[late])
    # clip_frames' blue level repeats every 48 frames.
    assert frame_ids(seeked) == [i % 48 for i in late]


@pytest.mark.parametrize("suffix", ["mkv", *CODECS])
def test_pyav_falls_back_when_timestamps_have_a_gap(tmp_path, monkeypatch, suffix):
    # One frame slot is skipped at frame 60: counting frames and reading timestamps disagree
    # after it, so the reader must decode from the start, where the count defines the index.
    path = str(tmp_path / f"gap.{suffix}")
    frames = clip_frames(90, SIZE)
    with av.open(path, "w") as container:
        stream = container.add_stream(CODECS.get(suffix, "libx264"), rate=25)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 8_000_000
        stream.options = {"g": "12", "threads": "1"}
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = i + (i >= 60), Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    calls = []
    original = PyAVVideo._decode_from_start

    def counting(self, wanted):
        calls.append(sorted(wanted))
        return original(self, wanted)

    monkeypatch.setattr(PyAVVideo, "_decode_from_start", counting)
    late = [70, 85, 71]
    with open_video(path, "pyav") as video:
        got = video.read(late).numpy()
    assert np.array_equal(got, decode_all(path)[late])
    assert frame_ids(got) == [i % 48 for i in late]
    assert calls == [sorted(late)]


def test_auto_prefers_torchcodec_then_decord():
    if ffmpeg_libraries_load():
        assert resolve_backend("auto") == "torchcodec"
    else:
        assert resolve_backend("auto") == ("decord" if HAS_DECORD else "pyav")
    assert set(BACKENDS) == {"decord", "torchcodec", "pyav"}


def test_unknown_backend_names_the_key():
    with pytest.raises(
        ConfigError, match=r"data\.backend='torchcodecc'.*auto, decord, torchcodec, pyav"
    ):
        resolve_backend("torchcodecc", key="data.backend")


def test_torchcodec_without_ffmpeg_is_a_config_error(monkeypatch):
    torchcodec = pytest.importorskip("torchcodec")
    monkeypatch.setattr(torchcodec, "ffmpeg_major_version", None)
    with pytest.raises(ConfigError, match=r"data\.backend='torchcodec'.*apt-get install ffmpeg"):
        resolve_backend("torchcodec", key="data.backend")


def test_missing_frame_file_names_the_file(tmp_path):
    write_frames(tmp_path / "clip", clip_frames(10, SIZE), ".png", start=1)
    missing = tmp_path / "clip" / "img_00006.png"  # frame 5
    missing.unlink()
    record = VideoRecord(str(tmp_path / "clip"), start=1, num_frames=10)
    with open_record(record, frame_template="img_{:05d}.png") as video:
        assert frame_ids(video.read([0, 9]).numpy()) == [0, 9]
        with pytest.raises(VideoDecodeError, match=f"{missing}: frame file missing"):
            video.read([0, 5])


def test_unreadable_frame_file_names_the_file(tmp_path):
    write_frames(tmp_path / "clip", clip_frames(4, SIZE), ".jpg", start=1)
    broken = tmp_path / "clip" / "img_00003.jpg"
    broken.write_bytes(b"not a jpeg")
    record = VideoRecord(str(tmp_path / "clip"), start=1, num_frames=4)
    with open_record(record) as video, pytest.raises(VideoDecodeError, match=f"{broken}: cannot"):
        video.read([2])


def test_missing_frame_folder(tmp_path):
    folder = tmp_path / "nowhere"
    with pytest.raises(VideoDecodeError, match=f"{folder}: no such frame folder"):
        open_record(VideoRecord(str(folder), start=1, num_frames=16))


def test_bad_frame_template_is_a_config_error(tmp_path):
    record = VideoRecord(str(tmp_path), start=1, num_frames=16)
    with pytest.raises(ConfigError, match=r"frame_template='img_\{:05d\.jpg'"):
        open_record(record, frame_template="img_{:05d.jpg")


@pytest.mark.parametrize("suffix", ["mp4", "mkv"])
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_second_read_on_the_same_file(tmp_path, make_clip, backend, suffix):
    # Matroska stores no frame count in its header; PyAV then counts packets.
    path = tmp_path / f"clip.{suffix}"
    source = make_clip(path, num_frames=20)
    with open_video(str(path), backend) as video:
        assert video.num_frames == 20
        first = video.read([19, 2]).numpy().astype(np.int64)
        again = video.read([19]).numpy().astype(np.int64)
        late = video.read([18, 19]).numpy().astype(np.int64)
    assert np.abs(first - source[[19, 2]]).mean() < 3.0
    assert np.array_equal(first[:1], again)
    assert np.array_equal(late[1:], again)


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


def test_indices_outside_the_video_are_rejected(clips):
    paths, _ = clips
    with open_video(paths["mp4"], "pyav") as video, pytest.raises(ValueError, match=r"\[48\]"):
        video.read([0, 48])


def cut_at_packet(src, dst, keep: int) -> None:
    """Remux `src` with its index first (faststart), then end the file just before packet
    `keep`: the header still lists every frame, but the stream stops cleanly after `keep`."""
    faststart = str(dst) + ".faststart.mp4"
    with (
        av.open(str(src)) as inp,
        av.open(faststart, "w", options={"movflags": "faststart"}) as out,
    ):
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    with av.open(faststart) as inp:
        offsets = [p.pos for p in inp.demux(inp.streams.video[0]) if p.pos is not None]
    with open(faststart, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data[: offsets[keep]])


@pytest.mark.parametrize("keep", [30, 47])
def test_pyav_never_repeats_frames_past_a_truncation(tmp_path, make_clip, keep):
    make_clip(tmp_path / "full.mp4", num_frames=48, size=SIZE)
    cut_at_packet(tmp_path / "full.mp4", tmp_path / "cut.mp4", keep)
    with open_video(str(tmp_path / "cut.mp4"), "pyav") as video:
        assert video.num_frames == 48  # the header's count
        frames = frame_ids(video.read([0, 10, 20]).numpy())
        assert frames == [0, 10, 20]
        if keep == 47:
            # One frame short of the header: within what re-muxing can cause, so the last index
            # repeats the video's last frame, as a short video does.
            assert frame_ids(video.read([40, 47]).numpy()) == [40, 46]
        else:
            with pytest.raises(VideoDecodeError, match=r"cut\.mp4: the header lists 48 frames"):
                video.read([0, 40])


@pytest.fixture(scope="module")
def cut_avi(tmp_path_factory, make_clip):
    """A 120-frame mpeg4 avi and a copy cut to 40% of its bytes: the header still lists 120
    frames, but the decoders index only the frames whose data survived."""
    folder = tmp_path_factory.mktemp("cut_avi")
    full, cut = folder / "full.avi", folder / "cut.avi"
    make_clip(full, num_frames=120, size=SIZE, codec="mpeg4")
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    return str(full), str(cut)


@pytest.mark.parametrize("short_side", [None, 24])
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_truncated_avi_is_an_error_with_every_backend(cut_avi, backend, short_side):
    # The same file must not be broken with one backend and a short, healthy video with another.
    full, cut = cut_avi
    with open_video(full, backend, short_side=short_side) as video:
        assert video.num_frames == 120
        assert frame_ids(video.read([119]).numpy()) == [119 % 48]
    with (
        pytest.raises(VideoDecodeError, match=re.escape(cut)) as err,
        open_video(cut, backend, short_side=short_side) as video,
    ):
        video.read([video.num_frames - 1])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("backend", [DECORD, TORCHCODEC])
def test_truncation_names_both_counts(cut_avi, backend):
    _, cut = cut_avi
    with pytest.raises(
        VideoDecodeError,
        match=rf"{re.escape(cut)}: the header lists 120 frames but the decoder indexed only \d+;"
        r" the file is probably truncated",
    ):
        open_video(cut, backend)


@pytest.mark.parametrize("backend", [DECORD, TORCHCODEC])
def test_header_is_probed_at_most_once(cut_avi, monkeypatch, backend):
    # decord reads the header's size and frame count in one PyAV probe; TorchCodec's own
    # metadata carries the header's count, so it needs none.
    full, _ = cut_avi
    opened = []
    original = av.open

    def counting(*args, **kwargs):
        opened.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    with open_video(full, backend, short_side=24) as video:
        assert video.read([0]).shape == (1, 24, 32, 3)
    assert len(opened) == (1 if backend == "decord" else 0)


# Decoding on the GPU (data.decode_device)


def test_decode_device_cuda_is_refused_naming_the_key_where_it_cannot_work(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.decode_device='gpu': choose one of cpu, cuda"):
        check_decode_device("gpu", "pyav")
    with pytest.raises(
        ConfigError, match=r"data\.decode_device=cuda: only TorchCodec .* data\.backend=torchcodec"
    ):
        check_decode_device("cuda", "pyav")
    assert check_decode_device("cpu", "pyav") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"data\.decode_device=cuda: no CUDA device"):
            check_decode_device("cuda", "torchcodec")


@needs_ffmpeg_libraries
@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA"
)
def test_torchcodec_on_cuda_without_a_device_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "clip.mp4"
    write_clip(path, num_frames=4)
    with pytest.raises(ConfigError, match=r"data\.decode_device=cuda: no CUDA device"):
        open_video(str(path), "torchcodec", device="cuda")


@pytest.mark.skipif(not HAS_DECORD, reason="decord has no wheel here")
@pytest.mark.parametrize("suffix", ["mp4", "avi"])
def test_a_video_decord_cannot_decode_is_read_with_pyav(tmp_path, make_clip, suffix):
    """decord fails inside its buffer copy on 48x32 frames, which FFmpeg decodes: such a video
    is not lost but decoded by PyAV, giving the frames it was made from."""
    path = tmp_path / f"small.{suffix}"
    source = make_clip(path, num_frames=12, size=(48, 32), codec=CODECS[suffix])
    frames = open_video(str(path), "decord").read([0, 5, 11]).numpy()
    assert frames.shape == (3, 32, 48, 3)
    assert frame_ids(frames) == [0, 5, 11]
    assert np.array_equal(frames, open_video(str(path), "pyav").read([0, 5, 11]).numpy())
    assert np.abs(frames.astype(int) - source[[0, 5, 11]].astype(int)).mean() < 10
    # The same video streamed from a shard (no file under its name): PyAV reads the bytes too.
    named = str(tmp_path / "in-a-shard" / path.name)
    from_bytes = open_video(named, "decord", data=path.read_bytes()).read([0, 5, 11])
    assert np.array_equal(from_bytes.numpy(), frames)
