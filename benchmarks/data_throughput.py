"""Data-loading throughput of the pretraining pipeline against decoding alone.

Generates (once, cached) a few 10-second videos like the ones VideoMAE is pretrained on:
Kinetics-like 568x320 H.264 mp4 at 30 fps and SSv2-like 428x240 VP9 webm at 12 fps, with
textured moving content so that the codecs do real work. Then, in this one process with one
torch thread (what a DataLoader worker gets), it measures clips/s of

  (a) decode only: open the video and read exactly the frames the pipeline reads, and
  (b) the pipeline: `VideoPretrainDataset.__getitem__` (decode, multi-scale crop, resize to 224,
      uint8 clip in the model's layout, tube mask 0.9 and its indices; normalising happens on
      the training device),

on the same clips and starts, (a) and (b) interleaved over several repetitions, and reports the
medians and the ratio (b)/(a) per backend and video type. The ratio is the share of a worker's
time that goes to decoding: 1.0 means the transforms are free. Rates are clips per second of
this process's CPU time, which other processes on a busy machine disturb far less than the wall
clock; the wall-clock ratio is reported alongside. Results are appended to benchmarks/RESULTS.md.

    python benchmarks/data_throughput.py [--backend auto|decord|pyav|torchcodec ...]
        [--masking tube motion]
        [--clips N] [--repeats R] [--videos V] [--out DIR] [--results FILE] [--label TEXT]
        [--default-malloc]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import random
import shlex
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import torch
from tqdm import tqdm

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.keyframes import frames_to_decode, keyframe_positions
from videomae_ssl.data.pretrain_dataset import VideoPretrainDataset
from videomae_ssl.data.readers import (
    AUTO_ORDER,
    BACKENDS,
    VideoFile,
    open_record,
    open_video,
    resolve_backend,
)
from videomae_ssl.data.workers import keep_freed_memory
from videomae_ssl.errors import ConfigError, UserInputError
from videomae_ssl.masking import MaskGenerator, MotionMaskGenerator, TubeMaskGenerator
from videomae_ssl.prep.reencode import reencode

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / ".cache" / "benchmark_videos"
DEFAULT_RESULTS = REPO / "benchmarks" / "RESULTS.md"
FORMAT_VERSION = 1  # bump when the rendering or encoding changes, so caches are regenerated

NUM_FRAMES = 16
INPUT_SIZE = 224
PATCH_SIZE = 16
TUBELET_SIZE = 2
MASK_RATIO = 0.9
# The encoder masks measured (--masking): motion-guided masking decodes with PyAV and reads the
# codec's motion vectors in the same decode, whatever the backend row.
MASKINGS: dict[str, type[MaskGenerator]] = {
    "tube": TubeMaskGenerator,
    "motion": MotionMaskGenerator,
}


@dataclass(frozen=True)
class VideoType:
    """One kind of benchmark video and the sampling rate VideoMAE pretrains on it with."""

    name: str
    width: int
    height: int
    fps: int
    seconds: int
    codec: str
    suffix: str
    options: tuple[tuple[str, str], ...]
    sampling_rate: int


VIDEO_TYPES = (
    # Kinetics-400 as usually pre-resized (short side 320), x264 defaults otherwise
    # (keyframe at most every 250 frames, B-frames), so random starts need real seeking.
    VideoType(
        name="k400-h264",
        width=568,
        height=320,
        fps=30,
        seconds=10,
        codec="libx264",
        suffix=".mp4",
        options=(("crf", "23"), ("preset", "medium")),
        sampling_rate=4,
    ),
    # Something-Something v2 as distributed: 240 px high VP9 webm at 12 fps.
    VideoType(
        name="ssv2-vp9",
        width=428,
        height=240,
        fps=12,
        seconds=10,
        codec="libvpx-vp9",
        suffix=".webm",
        options=(("crf", "32"), ("b", "0"), ("deadline", "good"), ("cpu-used", "4")),
        sampling_rate=2,
    ),
)


def _texture(rng: np.random.Generator, h: int, w: int, cell: int, grain: float) -> np.ndarray:
    """Smooth random colours varying over `cell` pixels plus fine noise -> float (h, w, 3)."""
    coarse = torch.rand(1, 3, h // cell + 2, w // cell + 2, generator=_torch_rng(rng)) * 255
    size = ((h // cell + 2) * cell, (w // cell + 2) * cell)
    smooth = torch.nn.functional.interpolate(coarse, size=size, mode="bicubic")[0, :, :h, :w]
    return smooth.permute(1, 2, 0).double().numpy() + rng.normal(0, grain, size=(h, w, 3))


def _torch_rng(rng: np.random.Generator) -> torch.Generator:
    return torch.Generator().manual_seed(int(rng.integers(2**62)))


def render_frames(rng: np.random.Generator, vt: VideoType) -> Iterator[np.ndarray]:
    """Frames of a panning noise texture with textured blobs moving across it -> uint8 (H, W, 3).

    Fine noise, a slow camera pan, independently moving blobs and a little per-frame grain give
    the encoder residuals and motion vectors to code, as in real footage; a flat colour would
    decode unrealistically fast.
    """
    h, w, n = vt.height, vt.width, vt.fps * vt.seconds
    pan = rng.uniform(-1.5, 1.5, size=2)  # (dy, dx) px per frame
    margin = int(np.ceil(np.abs(pan).max() * n)) + 1
    canvas = _texture(rng, h + 2 * margin, w + 2 * margin, cell=24, grain=12)

    num_blobs, side = 6, 96
    yy, xx = np.mgrid[:side, :side] - (side - 1) / 2
    alpha = np.exp(-(xx**2 + yy**2) / (2 * (side / 5) ** 2))[..., None]  # (side, side, 1)
    sprites = [_texture(rng, side, side, cell=8, grain=20) for _ in range(num_blobs)]
    pos = rng.uniform([0, 0], [h - side, w - side], size=(num_blobs, 2))
    vel = rng.uniform(-4, 4, size=(num_blobs, 2))

    for t in range(n):
        oy, ox = (margin + pan * t).astype(int)
        frame = canvas[oy : oy + h, ox : ox + w].copy()  # (H, W, 3)
        for b in range(num_blobs):
            y, x = pos[b].astype(int)
            patch = frame[y : y + side, x : x + side]
            patch += alpha * (sprites[b] - patch)
            pos[b] += vel[b]
            for axis, limit in ((0, h - side), (1, w - side)):  # bounce off the borders
                if not 0 <= pos[b, axis] <= limit:
                    vel[b, axis] = -vel[b, axis]
                    pos[b, axis] = np.clip(pos[b, axis], 0, limit)
        frame += rng.normal(0, 2, size=frame.shape)  # sensor grain
        yield np.clip(frame, 0, 255).astype(np.uint8)


def encode(path: Path, vt: VideoType, seed: int) -> None:
    """Write one video of type `vt`, rendered from `seed`, to `path` (yuv420p)."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(vt.codec, rate=vt.fps)
        stream.width, stream.height = vt.width, vt.height
        stream.pix_fmt = "yuv420p"
        stream.options = dict(vt.options)
        for frame in render_frames(rng, vt):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def ensure_videos(out: Path, per_type: int) -> dict[str, list[Path]]:
    """The cached videos under `out`, generated when missing or made with other parameters."""
    params = {
        "version": FORMAT_VERSION,
        "per_type": per_type,
        "types": [asdict(vt) for vt in VIDEO_TYPES],
        "av": av.__version__,
    }
    marker = out / "params.json"
    videos = {
        vt.name: [out / f"{vt.name}_{k}{vt.suffix}" for k in range(per_type)] for vt in VIDEO_TYPES
    }
    cached = marker.is_file() and json.loads(marker.read_text()) == json.loads(json.dumps(params))
    if cached and all(p.is_file() for paths in videos.values() for p in paths):
        return videos
    out.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    jobs = [(vt, k) for vt in VIDEO_TYPES for k in range(per_type)]
    for vt, k in tqdm(jobs, desc=f"generating videos in {out}", unit="video"):
        path = videos[vt.name][k]
        tmp = path.with_name(f"partial_{path.name}")
        encode(tmp, vt, seed=1000 * VIDEO_TYPES.index(vt) + k)
        tmp.replace(path)
    marker.write_text(json.dumps(params, indent=1))
    return videos


@contextlib.contextmanager
def recording_reads(log: list[tuple[str, list[int]]]) -> Iterator[None]:
    """Append (path, indices) to `log` for every `VideoFile.read` made inside the block, so that
    decode-only replays exactly the frames the pipeline decoded, whatever its sampling."""
    original = VideoFile.read

    def read(self: VideoFile, indices: Sequence[int]) -> torch.Tensor:
        log.append((self.path, [int(i) for i in indices]))
        return original(self, indices)

    VideoFile.read = read  # type: ignore[method-assign]
    try:
        yield
    finally:
        VideoFile.read = original  # type: ignore[method-assign]


def decode_only(reads: list[tuple[str, list[int]]], backend: str) -> None:
    """Open each video and decode the recorded frames, nothing else."""
    for path, indices in reads:
        with open_record(VideoRecord(path), backend) as video:
            video.read(indices)  # (T, H, W, 3)


def pipeline(dataset: VideoPretrainDataset) -> None:
    """Every item of `dataset` as training would load it (epoch 0)."""
    for i in range(len(dataset)):
        dataset[(i, 0)]


@dataclass
class Result:
    """Median clips/s over the repetitions, by this process's CPU time and by the wall clock."""

    backend: str
    masking: str
    video: str
    clips: int
    decode_cpu: float
    pipeline_cpu: float
    decode_wall: float
    pipeline_wall: float

    @property
    def ratio_cpu(self) -> float:
        return self.pipeline_cpu / self.decode_cpu

    @property
    def ratio_wall(self) -> float:
        return self.pipeline_wall / self.decode_wall

    @property
    def extra_ms(self) -> float:
        """CPU time per clip the pipeline spends beyond decoding."""
        return 1000 / self.pipeline_cpu - 1000 / self.decode_cpu


def measure(
    backend: str,
    vt: VideoType,
    paths: list[Path],
    clips: int,
    repeats: int,
    bar: tqdm,
    masking: str = "tube",
) -> Result:
    """Decode-only and pipeline throughput on the same `clips` clips; the two are interleaved,
    alternating which goes first, so that load from other processes hits both alike. Decode-only
    uses `backend` whatever the masking, so that rows with motion masking show its cost against
    a plain decode with that backend."""
    records = [VideoRecord(str(paths[i % len(paths)])) for i in range(clips)]
    dataset = VideoPretrainDataset(
        records,
        num_frames=NUM_FRAMES,
        sampling_rate=vt.sampling_rate,
        input_size=INPUT_SIZE,
        patch_size=PATCH_SIZE,
        tubelet_size=TUBELET_SIZE,
        mask_generator=MASKINGS[masking](MASK_RATIO),
        seed=0,
        train=True,
        decode=DecodeOptions(backend=backend),
    )
    reads: list[tuple[str, list[int]]] = []
    with recording_reads(reads):
        pipeline(dataset)  # warm-up, and the frames decode-only will read
    if len(reads) < clips:  # a reader that bypasses VideoFile.read would make (a) empty
        raise RuntimeError(f"recorded {len(reads)} reads for {clips} clips; cannot replay them")
    decode_only(reads, backend)  # warm-up

    runs: dict[str, Callable[[], None]] = {
        "decode": lambda: decode_only(reads, backend),
        "pipeline": lambda: pipeline(dataset),
    }
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    for rep in range(repeats):
        for name in list(runs) if rep % 2 == 0 else list(runs)[::-1]:
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            runs[name]()
            cpu[name].append(clips / (time.process_time() - cpu_start))
            wall[name].append(clips / (time.perf_counter() - wall_start))
        bar.update(1)
    return Result(
        backend=backend,
        masking=masking,
        video=vt.name,
        clips=clips,
        decode_cpu=statistics.median(cpu["decode"]),
        pipeline_cpu=statistics.median(cpu["pipeline"]),
        decode_wall=statistics.median(wall["decode"]),
        pipeline_wall=statistics.median(wall["pipeline"]),
    )


# The original loader, the decode waste, the levers and what one GPU needs.
#
# These rows run on the Kinetics-like H.264 videos only (the goals are stated for them), each
# a callable that loads `clips` videos, timed interleaved like the rows above. A row with
# `num_sample` V yields V clips per video decoded, and its clips/s counts them all.

H100_BF16_TFLOPS = 989.0  # dense bf16 peak
MFU = 0.4  # the share of the peak a well-fed pretraining step reaches
GFLOP_PER_CLIP = 202.0  # ViT-B pretraining step, 16x224^2, mask 0.9, forward and backward
GOAL_VS_ORIGINAL = 1.4
GOAL_RECIPE = 125.0
LEVER_GOP = 16


def clips_per_gpu() -> float:
    """Clips/s one H100 takes at MFU of its bf16 peak."""
    return MFU * H100_BF16_TFLOPS * 1e12 / (GFLOP_PER_CLIP * 1e9)


def import_original(checkout: Path) -> tuple[type, type]:
    """VideoMAE's pretraining dataset and transform (`kinetics.VideoMAE`,
    `datasets.DataAugmentationForVideoMAE`) imported unchanged from a checkout of
    MCG-NJU/VideoMAE. Two modules it imports at the top and never uses on this path are
    stubbed: `numpy.lib.function_base` (gone in NumPy 2) and `cv2` (fine-tuning resizes only)."""
    import types

    if not (checkout / "kinetics.py").is_file():
        raise UserInputError(f"--original {checkout}: no kinetics.py (a MCG-NJU/VideoMAE checkout)")
    stubs = {"numpy.lib.function_base": {"disp": print}, "cv2": {}}
    for name, attrs in stubs.items():
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
    sys.path.insert(0, str(checkout))
    try:
        from datasets import DataAugmentationForVideoMAE  # type: ignore[import-not-found]
        from kinetics import VideoMAE  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(checkout))
    return VideoMAE, DataAugmentationForVideoMAE


def original_dataset(checkout: Path, paths: list[Path], clips: int, rate: int, folder: Path):
    """The original pretraining dataset over `clips` rows cycling through `paths`, built as
    its `build_pretraining_dataset` builds it (decord, 16 frames, tube mask 0.9)."""
    video_mae, augmentation = import_original(checkout)
    setting = folder / "original_train.csv"
    setting.write_text("".join(f"{paths[i % len(paths)]} 0\n" for i in range(clips)))
    args = argparse.Namespace(
        input_size=INPUT_SIZE,
        mask_type="tube",
        window_size=(
            NUM_FRAMES // TUBELET_SIZE,
            INPUT_SIZE // PATCH_SIZE,
            INPUT_SIZE // PATCH_SIZE,
        ),
        mask_ratio=MASK_RATIO,
    )
    return video_mae(
        root=None,
        setting=str(setting),
        video_ext="mp4",
        is_color=True,
        modality="rgb",
        new_length=NUM_FRAMES,
        new_step=rate,
        transform=augmentation(args),
        temporal_jitter=False,
        video_loader=True,
        use_decord=True,
        lazy_init=False,
    )


def ours(
    paths: list[Path],
    clips: int,
    rate: int,
    backend: str,
    num_sample: int = 1,
    skip: bool = False,
    frames: list[list[int]] | None = None,
) -> VideoPretrainDataset:
    """Our pretraining dataset over `clips` rows cycling through `paths`; with `frames`, item
    i decodes frames[i] instead of drawing its start (`GivenFrames`)."""
    kind = VideoPretrainDataset if frames is None else GivenFrames
    dataset = kind(
        [VideoRecord(str(paths[i % len(paths)])) for i in range(clips)],
        num_frames=NUM_FRAMES,
        sampling_rate=rate,
        input_size=INPUT_SIZE,
        patch_size=PATCH_SIZE,
        tubelet_size=TUBELET_SIZE,
        mask_generator=TubeMaskGenerator(MASK_RATIO),
        seed=0,
        train=True,
        decode=DecodeOptions(backend=backend, skip_loop_filter=skip),
        num_sample=num_sample,
    )
    if frames is not None:
        dataset.given = frames
    return dataset


class GivenFrames(VideoPretrainDataset):
    """The pretraining dataset with each item's frames given (`given[index]`) instead of
    drawn, so that it decodes exactly the clips another loader decoded; crops and masks are
    drawn as usual. For measuring only."""

    given: list[list[int]]
    _index = 0

    def decode_train(self, index: int, epoch: int) -> tuple[int, int, torch.Tensor]:
        self._index = index
        return super().decode_train(index, epoch)

    def pick_frames(self, total_frames: int, generator: torch.Generator | None) -> list[int]:
        return self.given[self._index]


def seeded(run: Callable[[], None], seed: int = 0) -> Callable[[], None]:
    """`run` with NumPy's and Python's global generators seeded first, so that a loader that
    draws from them (the original) draws the same clips on every call."""

    def go() -> None:
        np.random.seed(seed)
        random.seed(seed)
        run()

    return go


@contextlib.contextmanager
def recording_decord(dataset, log: list[tuple[str, list[int]]]) -> Iterator[None]:
    """Append (path, indices) to `log` for every `get_batch` the original loader `dataset`
    makes inside the block (its module's `decord` is swapped for a recording wrapper)."""
    module = sys.modules[type(dataset).__module__]
    real = module.decord

    class Reader:
        def __init__(self, path: str, **kwargs) -> None:
            self.path, self._reader = path, real.VideoReader(path, **kwargs)

        def __len__(self) -> int:
            return len(self._reader)

        def get_batch(self, indices):
            log.append((self.path, [int(i) for i in indices]))
            return self._reader.get_batch(indices)

    module.decord = types.SimpleNamespace(VideoReader=Reader)
    try:
        yield
    finally:
        module.decord = real


_KEYFRAMES: dict[str, list[int]] = {}


def decoded_per_read(reads: list[tuple[str, list[int]]]) -> float:
    """Mean frames a seeking decoder produces per read of `reads` (keyframe arithmetic)."""
    for path, _ in reads:
        if path not in _KEYFRAMES:
            _KEYFRAMES[path] = keyframe_positions(path)
    return statistics.mean(frames_to_decode(_KEYFRAMES[p], i) for p, i in reads)


def expected_decoded(paths: list[Path], rate: int) -> float:
    """Mean frames decoded per clip over every start a uniform draw can pick, averaged over
    `paths`: what the mean of many random clips converges to."""
    means = []
    for path in paths:
        with open_video(str(path), "pyav") as video:
            total = video.num_frames
        keys = keyframe_positions(str(path))
        span = (NUM_FRAMES - 1) * rate
        starts = range(max(total - span, 1))
        means.append(
            statistics.mean(frames_to_decode(keys, [s, min(s + span, total - 1)]) for s in starts)
        )
    return statistics.mean(means)


def prepared_videos(paths: list[Path], out: Path, gop: int | None, short: int | None) -> list[Path]:
    """`paths` re-encoded as `prep.prepare --gop/--short-side` would (cached under `out`)."""
    name = f"prep_gop{gop or 'default'}_short{short or 'same'}"
    folder = out / name
    made = [folder / p.with_suffix(".mp4").name for p in paths]  # H.264 goes in mp4
    for src, dst in zip(paths, made, strict=True):
        reencode(src, dst, short, threads=1, gop=gop)
    return made


@dataclass
class Row:
    """One measured way of loading: its name, what it needs, and clips/s per CPU second."""

    name: str
    videos: str
    load: Callable[[], None]
    clips: int
    cpu: list[float]
    wall: list[float]
    kind: str = "k400-h264"
    views: int = 1
    decoded: float = float("nan")  # frames decoded per read, from the keyframes
    count: Callable[[list[tuple[str, list[int]]]], contextlib.AbstractContextManager] | None = None

    @property
    def rate(self) -> float:
        return statistics.median(self.cpu)


def time_rows(rows: list[Row], repeats: int, bar: tqdm) -> None:
    """Each row's `load` once as a warm-up, recording its reads to count the frames it decodes,
    then `repeats` rounds, each running every row once in a rotated order, so that load from
    other processes hits all rows alike."""
    for row in rows:
        reads: list[tuple[str, list[int]]] = []
        with (row.count or recording_reads)(reads):
            row.load()
        row.decoded = decoded_per_read(reads)
    for rep in range(repeats):
        shift = rep % len(rows)
        for row in rows[shift:] + rows[:shift]:
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            row.load()
            row.cpu.append(row.clips / (time.process_time() - cpu_start))
            row.wall.append(row.clips / (time.perf_counter() - wall_start))
        bar.update(1)


def load_all(dataset) -> Callable[[], None]:
    def run() -> None:
        for i in range(len(dataset)):
            dataset[(i, 0)] if isinstance(dataset, VideoPretrainDataset) else dataset[i]

    return run


def lever_rows(
    args: argparse.Namespace, videos: dict[str, list[Path]], backends: list[str]
) -> list[Row]:
    """The rows of the levers on the Kinetics-like H.264 and the SSv2-like VP9 videos (see
    `levers_report`), timed together."""
    plan = k400_plan(args, videos, backends) + ssv2_plan(args, videos, backends)
    rows = [
        Row(name, label, load, args.clips * views, [], [], kind, views, count=count)
        for kind, name, label, load, views, count in plan
    ]
    with tqdm(total=args.repeats, unit="round", desc="levers") as bar:
        time_rows(rows, args.repeats, bar)
    return rows


# One planned row: (video kind, name, videos, load, num_sample, read recorder or None)
Planned = tuple[str, str, str, Callable[[], None], int, Callable | None]


def original_plan(
    args: argparse.Namespace, vt: VideoType, source: list[Path]
) -> tuple[list[Planned], list[list[int]] | None]:
    """The original loader's row on `source` (its global generators seeded before every pass,
    so each pass loads the same clips) and the frames it reads, which our rows then decode
    too; nothing and None without --original."""
    if args.original is None:
        return [], None
    original = original_dataset(args.original, source, args.clips, vt.sampling_rate, args.out)
    load = seeded(load_all(original))
    reads: list[tuple[str, list[int]]] = []
    with recording_decord(original, reads):
        load()
    frames = [indices for _, indices in reads]

    def count(log: list[tuple[str, list[int]]]) -> contextlib.AbstractContextManager:
        return recording_decord(original, log)

    return [(vt.name, "original VideoMAE loader (decord)", "source", load, 1, count)], frames


def k400_plan(
    args: argparse.Namespace, videos: dict[str, list[Path]], backends: list[str]
) -> list[Planned]:
    """Kinetics-like H.264: the original and our backends on the source videos (the
    loop-filter skip with PyAV), each backend on --gop 16 and --gop 8 re-encodes, repeated
    sampling on both, and those with --short-side 256."""
    vt = VIDEO_TYPES[0]
    source = videos[vt.name]
    clips, rate = args.clips, vt.sampling_rate
    plan, frames = original_plan(args, vt, source)
    fastest = backends[0]

    def row(label: str, paths: list[Path], backend: str, views: int = 1, skip=False) -> None:
        data = ours(paths, clips, rate, backend, num_sample=views, skip=skip, frames=frames)
        options = [backend] + (["skip_loop_filter"] if skip else [])
        options += [f"num_sample {views}"] if views > 1 or "short" in label else []
        plan.append((vt.name, ", ".join(["ours", *options]), label, load_all(data), views, None))

    for backend in backends:
        row("source", source, backend)
    if "pyav" in backends:
        row("source", source, "pyav", skip=True)
    for gop in (LEVER_GOP, 8):
        paths = prepared_videos(source, args.out, gop, None)
        for backend in backends:
            row(f"--gop {gop}", paths, backend)
        for views in (2, 4) if gop == LEVER_GOP else (4, 8):
            row(f"--gop {gop}", paths, fastest, views)
    for gop in (LEVER_GOP, 8):
        paths = prepared_videos(source, args.out, gop, 256)
        label = f"--gop {gop} --short-side 256"
        for views in (1, 4) if gop == LEVER_GOP else (1, 4, 8):
            row(label, paths, fastest, views)
        if gop == 8:
            for backend in backends[1:]:
                row(label, paths, backend, 4)
            if "pyav" in backends:
                row(label, paths, "pyav", 4, skip=True)
    return plan


def ssv2_plan(
    args: argparse.Namespace, videos: dict[str, list[Path]], backends: list[str]
) -> list[Planned]:
    """SSv2-like VP9 webm (already 240 px high, so no --short-side): the original and our
    backends on the source videos, each backend on the --gop 8 H.264 re-encode, and repeated
    sampling on it."""
    vt = VIDEO_TYPES[1]
    source = videos[vt.name]
    clips, rate = args.clips, vt.sampling_rate
    plan, frames = original_plan(args, vt, source)
    gop = prepared_videos(source, args.out, 8, None)
    for label, paths in (("source", source), ("--gop 8", gop)):
        for backend in backends:
            data = ours(paths, clips, rate, backend, frames=frames)
            plan.append((vt.name, f"ours, {backend}", label, load_all(data), 1, None))
    for views in (4, 8):
        data = ours(gop, clips, rate, backends[0], num_sample=views, frames=frames)
        name = f"ours, {backends[0]}, num_sample {views}"
        plan.append((vt.name, name, "--gop 8", load_all(data), views, None))
    return plan


def read_cpu(path: str, backend: str, indices: list[int]) -> float:
    """CPU seconds of one read of `indices` on a freshly opened reader (opening not counted),
    the better of two tries."""
    best = float("inf")
    for _ in range(2):
        with open_record(VideoRecord(path), backend) as video:
            start = time.process_time()
            video.read(indices)
            best = min(best, time.process_time() - start)
    return best


def waste_rows(videos: dict[str, list[Path]], args: argparse.Namespace, backends: list[str]):
    """Frames decoded per 16-frame clip, per backend, on the source and the --gop videos: the
    minimum (keyframe before the clip's first frame to its last, from the packets), PyAV's own
    count, and for every backend an estimate from timing: one frame read at several distances
    d after a keyframe costs a + b d when the decoder starts at that keyframe (the fit's b is
    the cost of a decoded frame, printed with its r^2); a clip's read time less a, over b, is
    then the frames it decoded (plus its 15 other conversions, so an upper bound)."""
    vt = VIDEO_TYPES[0]
    table = []
    for label, paths in (
        ("source", videos[vt.name]),
        (f"--gop {LEVER_GOP}", prepared_videos(videos[vt.name], args.out, LEVER_GOP, None)),
    ):
        reads: list[tuple[str, list[int]]] = []
        with recording_reads(reads):
            load_all(ours(paths, args.clips, vt.sampling_rate, "pyav"))()
        keys = {p: keyframe_positions(p) for p in {path for path, _ in reads}}
        minimum = statistics.mean(frames_to_decode(keys[p], i) for p, i in reads)
        counted = 0
        for path, indices in reads:
            with open_record(VideoRecord(path), "pyav") as video:
                video.read(indices)
                counted += video.frames_decoded
        probe = str(paths[0])
        first, second = (keys[probe] + [10**9])[:2] if len(keys[probe]) > 1 else (0, 10**9)
        with open_record(VideoRecord(probe), "pyav") as video:
            span = min(second, video.num_frames) - first
        distances = [round(span * f) for f in (0.05, 0.3, 0.55, 0.8, 0.95)]
        for backend in backends:
            cost = [read_cpu(probe, backend, [first + d]) for d in distances]
            b, a = np.polyfit(distances, cost, 1)
            r2 = float(np.corrcoef(distances, cost)[0, 1] ** 2)
            clip = statistics.mean(read_cpu(p, backend, i) for p, i in reads)
            table.append(
                {
                    "videos": label,
                    "backend": backend,
                    "minimum": minimum,
                    "pyav_counted": counted / len(reads) if backend == "pyav" else None,
                    "ms_per_frame": 1000 * b,
                    "r2": r2,
                    "estimated": (clip - a) / b,
                }
            )
    return table


def seek_mode_lines(videos: dict[str, list[Path]], args: argparse.Namespace) -> list[str]:
    """TorchCodec's seek modes on the same clips: "exact" (what the reader uses; opening scans
    the packets) against "approximate" (frame positions from the header's rate), clips/s per
    core of opening and reading, interleaved, and whether every frame is identical."""
    from torchcodec.decoders import VideoDecoder

    vt = VIDEO_TYPES[0]
    lines = [
        "TorchCodec seek modes (open and read the same clips; medians of "
        f"{args.repeats} interleaved passes):",
        "",
        "| videos | exact clips/s | approximate clips/s | approximate / exact | same frames |",
        "|---|---:|---:|---:|---|",
    ]
    for label, paths in (
        ("source", videos[vt.name]),
        ("--gop 8 --short-side 256", prepared_videos(videos[vt.name], args.out, 8, 256)),
    ):
        reads: list[tuple[str, list[int]]] = []
        with recording_reads(reads):
            load_all(ours(paths, args.clips, vt.sampling_rate, "pyav"))()

        def run(mode: str, reads=reads) -> list[torch.Tensor]:
            return [
                VideoDecoder(path, seek_mode=mode, num_ffmpeg_threads=1).get_frames_at(i).data
                for path, i in reads
            ]

        same = all(torch.equal(a, b) for a, b in zip(run("exact"), run("approximate"), strict=True))
        rates: dict[str, list[float]] = {"exact": [], "approximate": []}
        for rep in range(args.repeats):
            for mode in list(rates) if rep % 2 == 0 else list(rates)[::-1]:
                start = time.process_time()
                run(mode)
                rates[mode].append(len(reads) / (time.process_time() - start))
        exact, approx = (statistics.median(rates[m]) for m in ("exact", "approximate"))
        lines.append(
            f"| {label} | {exact:.1f} | {approx:.1f} | {approx / exact:.2f} | "
            f"{'yes' if same else 'no'} |"
        )
    return lines


def expected_lines(videos: dict[str, list[Path]], args: argparse.Namespace) -> list[str]:
    """Mean frames decoded per clip over all starts (what many random clips converge to)."""
    lines = ["Mean decoded frames per read over every possible start (the population mean):", ""]
    for vt in VIDEO_TYPES:
        source = videos[vt.name]
        variants = [("source", source), ("--gop 8", prepared_videos(source, args.out, 8, None))]
        if vt is VIDEO_TYPES[0]:
            variants.insert(1, ("--gop 16", prepared_videos(source, args.out, LEVER_GOP, None)))
        text = ", ".join(
            f"{label} {expected_decoded(paths, vt.sampling_rate):.0f}" for label, paths in variants
        )
        lines.append(f"- {vt.name}: {text}")
    return lines


def disk_sizes(videos: dict[str, list[Path]], out: Path) -> list[tuple[str, int]]:
    source = videos[VIDEO_TYPES[0].name]
    variants = [
        ("source (x264 medium, keyframes up to 250 apart)", source),
        ("re-encoded, x264 default keyframes", prepared_videos(source, out, None, None)),
        (f"--gop {LEVER_GOP}", prepared_videos(source, out, LEVER_GOP, None)),
        (f"--gop {LEVER_GOP} --short-side 256", prepared_videos(source, out, LEVER_GOP, 256)),
        ("--gop 8", prepared_videos(source, out, 8, None)),
        ("--gop 8 --short-side 256", prepared_videos(source, out, 8, 256)),
    ]
    return [(name, sum(p.stat().st_size for p in paths)) for name, paths in variants]


def skip_psnr(videos: dict[str, list[Path]]) -> float:
    """PSNR (dB) of PyAV frames decoded without the loop filter against a full decode."""
    errors = []
    for path in videos[VIDEO_TYPES[0].name]:
        indices = list(range(60, 124, 4))
        with (
            open_video(str(path), "pyav") as full,
            open_video(str(path), "pyav", skip_loop_filter=True) as skip,
        ):
            a, b = full.read(indices).double(), skip.read(indices).double()
        errors.append(float(((a - b) ** 2).mean()))
    return 10 * np.log10(255**2 / statistics.mean(errors))


def levers_report(rows: list[Row], waste, sizes, psnr: float, extra: Sequence[str] = ()) -> str:
    need = clips_per_gpu()
    lines = [
        f"One H100 at {MFU:.0%} of {H100_BF16_TFLOPS:.0f} TFLOP/s bf16 takes "
        f"{MFU * H100_BF16_TFLOPS:.0f} / {GFLOP_PER_CLIP / 1000:.3f} = {need:.0f} clips/s "
        f"(ViT-B pretraining step, {GFLOP_PER_CLIP:.0f} GFLOP per clip).",
        "",
        "Every row decodes the same clips (the original's starts, its generators seeded "
        "before each pass, when it is measured); decoded frames per read come from the "
        "keyframes; a read gives num_sample clips.",
    ]
    for kind in dict.fromkeys(r.kind for r in rows):
        lines += [
            "",
            f"{kind}:",
            "",
            "| loader | videos | clips/s per core | x original | decoded frames per read | "
            "per clip | cores per H100 |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        mine = [r for r in rows if r.kind == kind]
        base = next((r.rate for r in mine if r.name.startswith("original")), None)
        for r in mine:
            times = f"{r.rate / base:.2f}" if base else "-"
            lines.append(
                f"| {r.name} | {r.videos} | {r.rate:.1f} | {times} | {r.decoded:.0f} | "
                f"{r.decoded / r.views:.0f} | {need / r.rate:.0f} |"
            )
    lines += ["", *extra]
    k400 = [r for r in rows if r.kind == VIDEO_TYPES[0].name]
    base = next((r.rate for r in k400 if r.name.startswith("original")), None)
    lines += [
        "",
        "Frames decoded per 16-frame clip (decode waste): the minimum from the keyframes, "
        "PyAV's count, and each backend's estimate from timing (ms per decoded frame from a "
        "fit of one-frame reads against the distance from the keyframe, its r^2).",
        "",
        "| videos | backend | minimum | PyAV counted | estimated | ms/frame | r^2 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for w in waste:
        counted = f"{w['pyav_counted']:.0f}" if w["pyav_counted"] is not None else "-"
        lines.append(
            f"| {w['videos']} | {w['backend']} | {w['minimum']:.0f} | {counted} | "
            f"{w['estimated']:.0f} | {w['ms_per_frame']:.2f} | {w['r2']:.2f} |"
        )
    lines += ["", "| videos | MB (3 videos, 10 s each) |", "|---|---:|"]
    lines += [f"| {name} | {size / 1e6:.2f} |" for name, size in sizes]
    lines += ["", f"skip_loop_filter: PSNR {psnr:.1f} dB against a full decode (PyAV)."]
    goals = []
    if base:
        best = max(
            (
                r.rate
                for r in k400
                if r.videos == "source" and r.name.startswith("ours") and "skip" not in r.name
            ),
            default=0.0,
        )
        goals.append(
            f"- goal 1, at the original's settings at least {GOAL_VS_ORIGINAL}x the original: "
            f"{best / base:.2f}x ({'met' if best / base >= GOAL_VS_ORIGINAL else 'not met'})"
        )
    for views in (4, 8):
        recipe = max(
            (r.rate for r in k400 if r.views == views and "skip" not in r.name), default=0.0
        )
        goals.append(
            f"- goal 2, the recipe (num_sample {views}) at least {GOAL_RECIPE:.0f} clips/s per "
            f"core: {recipe:.1f} ({'met' if recipe >= GOAL_RECIPE else 'not met'})"
        )
    return "\n".join([*lines, "", *goals])


def machine() -> str:
    """CPU model and core count, from /proc/cpuinfo where it exists."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores"


def versions() -> str:
    found = [f"python {platform.python_version()}"]
    for package in ("torch", "torchvision", "av", "decord", "torchcodec"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{package} {importlib.metadata.version(package)}")
    return ", ".join(found)


def table(results: list[Result]) -> str:
    lines = [
        "| backend | masking | video | decode-only clips/s | pipeline clips/s | ratio | "
        "ratio (wall) | extra ms/clip |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.masking} | {r.video} | {r.decode_cpu:.2f} | {r.pipeline_cpu:.2f} | "
            f"{r.ratio_cpu:.3f} | {r.ratio_wall:.3f} | {r.extra_ms:.1f} |"
        )
    return "\n".join(lines)


def report(results: list[Result], skipped: list[str], args: argparse.Namespace) -> str:
    """The Markdown section appended to the results file."""
    # Variables that change what runs (module search path, glibc's allocator) are part of it.
    env = [
        f"{k}={shlex.quote(v)}"
        for k, v in sorted(os.environ.items())
        if k == "PYTHONPATH" or k.startswith("MALLOC_")
    ]
    args_text = [shlex.quote(a) for a in sys.argv[1:]]
    command = " ".join([*env, "python", "benchmarks/data_throughput.py", *args_text])
    title = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    if args.label:
        title += f" - {args.label}"
    parts = [
        f"## {title}",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- versions: {versions()}",
        f"- one process, torch.set_num_threads(1) (one DataLoader worker); {args.repeats} "
        f"interleaved repetitions of {args.clips} clips per row; medians of clips per second "
        "of this process's CPU time (wall-clock ratio alongside); one run",
        "- allocator: "
        + ("tuned as in the DataLoader workers" if args.tuned_malloc else "glibc defaults"),
        "",
        table(results),
    ]
    if skipped:
        parts += ["", *[f"- skipped {s}" for s in skipped]]
    return "\n".join(parts) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend",
        nargs="+",
        default=["decord", "pyav", "torchcodec"],
        help="video backends to measure (auto, decord, pyav, torchcodec); unavailable ones are "
        "skipped with a note (default: decord pyav torchcodec)",
    )
    parser.add_argument(
        "--masking",
        nargs="+",
        choices=list(MASKINGS),
        default=["tube"],
        help="encoder masks to measure the pipeline with (tube, motion; default tube)",
    )
    parser.add_argument("--clips", type=int, default=10, help="clips per repetition (default 10)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument(
        "--videos", type=int, default=3, help="videos generated per type (default 3)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"video cache folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help="Markdown file the results are appended to (default benchmarks/RESULTS.md)",
    )
    parser.add_argument("--label", default="", help="text added to the results heading")
    parser.add_argument(
        "--levers",
        action="store_true",
        help="instead of the table above, measure on the Kinetics-like videos the original "
        "loader (with --original), the decode waste and each lever: --gop re-encoded videos, "
        "repeated sampling, skip_loop_filter, and the cores one H100 needs with each",
    )
    parser.add_argument(
        "--original",
        type=Path,
        help="a checkout of MCG-NJU/VideoMAE whose pretraining loader --levers measures "
        "unchanged on the same videos (needs decord)",
    )
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="leave glibc's allocator as it is, instead of tuning it as the data modules' "
        "DataLoader workers do (videomae_ssl.data.workers.worker_init)",
    )
    args = parser.parse_args(argv)
    for name in ("clips", "repeats", "videos"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def select_backends(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """The installed backends among `names` (auto resolved, duplicates dropped), and a note for
    each known one that is not installed. Unknown names are a ConfigError."""
    unknown = [n for n in names if n != "auto" and n not in BACKENDS]
    if unknown:
        choices = ", ".join(["auto", *BACKENDS])
        raise ConfigError(f"--backend {' '.join(unknown)}: not a backend; choose from {choices}")
    backends, skipped = [], []
    for name in dict.fromkeys(names):
        try:
            resolved = resolve_backend(name, key="--backend")
        except UserInputError as err:
            skipped.append(f"{name}: {err}")
            continue
        if resolved not in backends:
            backends.append(resolved)
    if not backends:
        raise ConfigError(f"--backend {' '.join(names)}: none of these is installed")
    return backends, skipped


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    args.tuned_malloc = False if args.default_malloc else keep_freed_memory()
    try:
        backends, skipped = select_backends(args.backend)
        for note in skipped:
            print(f"skipping {note}", file=sys.stderr)
        videos = ensure_videos(args.out, args.videos)
        if args.levers:
            return run_levers(args, videos, backends, skipped)
        results = []
        rows = len(backends) * len(args.masking) * len(VIDEO_TYPES)
        with tqdm(total=rows * args.repeats, unit="rep") as bar:
            for backend in backends:
                for masking in args.masking:
                    for vt in VIDEO_TYPES:
                        bar.set_description(f"{backend} {masking} {vt.name}")
                        paths = videos[vt.name]
                        results.append(
                            measure(backend, vt, paths, args.clips, args.repeats, bar, masking)
                        )
    except (UserInputError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    text = report(results, skipped, args)
    print(text)
    try:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        with args.results.open("a") as f:
            f.write("\n" + text)
    except OSError as err:
        print(f"error: cannot append the results to {args.results}: {err}", file=sys.stderr)
        return 1
    print(f"appended to {args.results}")
    return 0


def run_levers(
    args: argparse.Namespace, videos: dict[str, list[Path]], backends: list[str], skipped
) -> int:
    """The --levers section: measured, printed and appended to --results."""
    order = [b for b in AUTO_ORDER if b in backends]  # fastest first, as data.backend=auto
    rows = lever_rows(args, videos, order)
    waste = waste_rows(videos, args, order)
    extra = expected_lines(videos, args)
    if "torchcodec" in backends:
        extra += ["", *seek_mode_lines(videos, args)]
    text = levers_report(rows, waste, disk_sizes(videos, args.out), skip_psnr(videos), extra)
    args.tuned_malloc = getattr(args, "tuned_malloc", True)
    header = report([], skipped, args).split("\n\n| backend")[0]
    text = f"{header}\n\n{text}\n"
    print(text)
    with args.results.open("a") as f:
        f.write("\n" + text)
    print(f"appended to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
