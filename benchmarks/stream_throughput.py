"""Clips/s of the pretraining pipeline from packed shards against the same videos as files.

Uses the generated benchmark videos of `data_throughput.py` (generated once, cached), packs
them with `videomae_ssl.prep.pack` into a temporary folder, then measures, in this one process
with one torch thread (the rate of one DataLoader worker), `VideoPretrainDataset.__getitem__`
(decode, multi-scale crop to 224, tube mask 0.9) over the same (index, epoch) samples:

  (a) files:  each video opened from its file, and
  (b) shards: each video's bytes read from the local shards (LitData, checked by CRC-32) and
      decoded from memory by the same backend.

(a) and (b) alternate within each repetition; medians of CPU-time and wall-clock clips/s and
the ratio (b)/(a) are printed and appended to benchmarks/RESULTS.md.

    python benchmarks/stream_throughput.py [--backend auto|decord|pyav|torchcodec]
        [--clips N] [--repeats R] [--videos V] [--out DIR] [--results FILE]
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_throughput import (  # noqa: E402
    DEFAULT_OUT,
    DEFAULT_RESULTS,
    INPUT_SIZE,
    MASK_RATIO,
    NUM_FRAMES,
    PATCH_SIZE,
    TUBELET_SIZE,
    VIDEO_TYPES,
    ensure_videos,
    machine,
    versions,
)

from videomae_ssl.data.annotations import read_annotations  # noqa: E402
from videomae_ssl.data.decode_options import DecodeOptions  # noqa: E402
from videomae_ssl.data.pretrain_dataset import VideoPretrainDataset  # noqa: E402
from videomae_ssl.data.readers import resolve_backend  # noqa: E402
from videomae_ssl.data.shards import ShardSplit  # noqa: E402
from videomae_ssl.masking import TubeMaskGenerator  # noqa: E402
from videomae_ssl.prep.pack import pack_list  # noqa: E402


def dataset(records, backend: str, sampling_rate: int) -> VideoPretrainDataset:
    return VideoPretrainDataset(
        records,
        num_frames=NUM_FRAMES,
        sampling_rate=sampling_rate,
        input_size=INPUT_SIZE,
        patch_size=PATCH_SIZE,
        tubelet_size=TUBELET_SIZE,
        mask_generator=TubeMaskGenerator(MASK_RATIO),
        seed=0,
        train=True,
        decode=DecodeOptions(backend=backend),
    )


def rate(data: VideoPretrainDataset, keys: list[tuple[int, int]]) -> tuple[float, float]:
    """(CPU-time, wall-clock) clips/s over `keys`."""
    cpu, wall = time.process_time(), time.perf_counter()
    for key in keys:
        data[key]
    return len(keys) / (time.process_time() - cpu), len(keys) / (time.perf_counter() - wall)


def measure(videos: list[Path], vt, backend: str, clips: int, repeats: int, work: Path) -> dict:
    listing = work / f"{vt.name}.csv"
    listing.write_text("".join(f"{path.name} 0\n" for path in videos))
    pack_list(
        listing,
        work / "packed",
        root=str(videos[0].parent),
        workers=1,
        backend=backend,
        progress=False,
    )
    records = read_annotations(listing, str(videos[0].parent))
    files = dataset(records, backend, vt.sampling_rate)
    split = ShardSplit(str(work / "packed" / vt.name))
    split.load()
    shards = dataset(split.records, backend, vt.sampling_rate)
    shards.shards = split
    keys = [(k % len(records), k // len(records)) for k in range(clips)]
    assert torch.equal(files[keys[0]]["video"], shards[keys[0]]["video"])  # same clips
    runs: dict[str, list[tuple[float, float]]] = {"files": [], "shards": []}
    for _ in range(repeats):
        runs["files"].append(rate(files, keys))
        runs["shards"].append(rate(shards, keys))
    medians = {
        name: (statistics.median(c for c, _ in r), statistics.median(w for _, w in r))
        for name, r in runs.items()
    }
    return {
        "video": vt.name,
        **{f"{n}_{k}": v[i] for n, v in medians.items() for i, k in enumerate(("cpu", "wall"))},
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--clips", type=int, default=10, help="clips per repetition")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--videos", type=int, default=3, help="videos per type")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="generated videos")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    backend = resolve_backend(args.backend, "--backend")
    videos = ensure_videos(args.out, args.videos)
    with tempfile.TemporaryDirectory() as work:
        rows = [
            measure(videos[vt.name], vt, backend, args.clips, args.repeats, Path(work))
            for vt in VIDEO_TYPES
        ]
    lines = [
        "| backend | video | files clips/s | shards clips/s | ratio | wall ratio |",
        "|---|---|---:|---:|---:|---:|",
        *(
            f"| {backend} | {r['video']} | {r['files_cpu']:.2f} | {r['shards_cpu']:.2f} | "
            f"{r['shards_cpu'] / r['files_cpu']:.3f} | {r['shards_wall'] / r['files_wall']:.3f} |"
            for r in rows
        ),
    ]
    command = shlex.join(["python", "benchmarks/stream_throughput.py", *(argv or sys.argv[1:])])
    section = "\n".join(
        [
            f"\n## Shards against files, {datetime.date.today()}\n",
            f"Machine: {machine()}; {versions()}.",
            f"Command: `{command}`; {args.clips} clips a repetition, {args.repeats} repetitions, "
            f"clips/s of CPU time (ratio = shards / files; the wall-clock ratio beside it).\n",
            *lines,
        ]
    )
    print(section)
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(section + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
