"""Data-wait share of a pretraining run fed by the real data pipeline.

Generates Kinetics-like videos (568x320 H.264 mp4 at 30 fps, 10 s, the `k400-h264` type of
`data_throughput.py`), writes an annotation list of them, runs

    python -m videomae_ssl.train experiment=k400_pretrain ...

on it for a number of steps (DataLoader workers decoding with the configured backend, uint8
clips normalised on the device) and reports, from the run's own CSV log, `perf/data_wait`
(the share of step time spent waiting for the next batch) and `perf/clips_per_s` over the
steps after a warm-up, as a Markdown line and a JSON file.

    python benchmarks/data_wait.py --out .cache/data_wait            # one GPU, ViT-B, batch 32
    python benchmarks/data_wait.py --trainer cpu --size tiny --batch 2 --steps 6 --workers 2

Extra arguments after `--` go to the training command as Hydra overrides.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_throughput import VIDEO_TYPES, encode  # noqa: E402

K400 = next(vt for vt in VIDEO_TYPES if vt.name == "k400-h264")


def ensure_videos(out: Path, count: int, jobs: int) -> list[Path]:
    """`count` k400-h264 videos under `out`, encoded in parallel where missing."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{K400.name}_{k}{K400.suffix}" for k in range(count)]
    missing = [(k, p) for k, p in enumerate(paths) if not p.is_file()]
    if missing:
        print(f"encoding {len(missing)} videos into {out} ...", flush=True)
        partial = [p.with_name(f"partial_{p.name}") for _, p in missing]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(encode, partial, [K400] * len(missing), [k for k, _ in missing]))
        for tmp, (_, path) in zip(partial, missing, strict=True):
            tmp.replace(path)
    return paths


def write_list(path: Path, videos: Sequence[Path], lines: int) -> None:
    """The V1 annotation format, `<path> <label>`, cycling through the videos."""
    with path.open("w") as f:
        for i in range(lines):
            f.write(f"{videos[i % len(videos)].name} {i % 400}\n")


def read_metrics(csv_path: Path, skip: int) -> dict[str, list[float]]:
    """Logged values of the perf/ metrics at steps >= `skip`."""
    values: dict[str, list[float]] = {"perf/data_wait": [], "perf/clips_per_s": []}
    with csv_path.open() as f:
        for row in csv.DictReader(f):
            if int(row.get("step") or 0) < skip:
                continue
            for key, seen in values.items():
                if row.get(key):
                    seen.append(float(row[key]))
    return values


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".cache/data_wait"))
    parser.add_argument("--videos", type=int, default=64, help="distinct videos (default 64)")
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps (default 60)")
    parser.add_argument("--warmup", type=int, default=None, help="steps left out (default 1/3)")
    parser.add_argument("--size", default="base", help="model size (default base)")
    parser.add_argument("--batch", type=int, default=32, help="videos per step (default 32)")
    cores = os.cpu_count() or 1
    parser.add_argument(
        "--workers",
        type=int,
        default=max(1, cores - 2),
        help=f"DataLoader workers (default cores - 2 = {max(1, cores - 2)})",
    )
    parser.add_argument("--trainer", default="gpu", help="trainer config (default gpu)")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    return parser.parse_args(argv), extra


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parse_args(argv)
    out = args.out.resolve()
    videos = ensure_videos(out / "videos", args.videos, jobs=os.cpu_count() or 1)
    train_list = out / "train.csv"
    write_list(train_list, videos, lines=max(len(videos), (args.steps + 1) * args.batch))
    run_dir = out / f"run_{time.strftime('%Y%m%d_%H%M%S')}"
    command = [
        sys.executable,
        "-m",
        "videomae_ssl.train",
        "experiment=k400_pretrain",
        f"trainer={args.trainer}",
        f"model.net.size={args.size}",
        f"data.train_list={train_list}",
        f"data.val_list={train_list}",
        f"data.root={out / 'videos'}",
        f"data.batch_size={args.batch}",
        f"data.num_workers={args.workers}",
        f"trainer.max_steps={args.steps}",
        "trainer.limit_val_batches=0",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        f"hydra.run.dir={run_dir}",
        "callbacks.reconstruction_grid=null",
        *extra,
    ]
    print(" ".join(command), flush=True)
    start = time.monotonic()
    subprocess.run(command, check=True)
    wall = time.monotonic() - start
    warmup = args.steps // 3 if args.warmup is None else args.warmup
    metrics = read_metrics(run_dir / "csv" / "metrics.csv", skip=warmup)
    if not metrics["perf/data_wait"]:
        raise SystemExit(f"no perf/data_wait logged after step {warmup} in {run_dir}")
    result = {
        "command": " ".join(command),
        "steps": args.steps,
        "warmup_steps": warmup,
        "batch": args.batch,
        "workers": args.workers,
        "size": args.size,
        "data_wait_median": statistics.median(metrics["perf/data_wait"]),
        "data_wait_max": max(metrics["perf/data_wait"]),
        "clips_per_s_median": statistics.median(metrics["perf/clips_per_s"] or [math.nan]),
        "wall_s": wall,
    }
    print(
        f"data wait {100 * result['data_wait_median']:.1f}% (median over steps {warmup}-"
        f"{args.steps}, max {100 * result['data_wait_max']:.1f}%), "
        f"{result['clips_per_s_median']:.1f} clips/s, {args.workers} workers, batch "
        f"{args.batch}, ViT {args.size}; {wall:.0f} s",
        flush=True,
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
