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
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import torch
from tqdm import tqdm

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.pretrain_dataset import VideoPretrainDataset
from videomae_ssl.data.readers import BACKENDS, VideoFile, open_record, resolve_backend
from videomae_ssl.data.workers import keep_freed_memory
from videomae_ssl.errors import ConfigError, UserInputError
from videomae_ssl.masking import MaskGenerator, MotionMaskGenerator, TubeMaskGenerator

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


if __name__ == "__main__":
    sys.exit(main())
