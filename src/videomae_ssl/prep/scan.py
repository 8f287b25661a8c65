"""Scan the videos of an annotation file before training and write a list of the good ones.

    python -m videomae_ssl.prep.scan train.csv --root /data/kinetics400/videos

Each listed video is opened in a pool of worker processes (each opens its own readers),
checked by `videomae_ssl.data.probe.check_decodes` (the evaluation check before a run uses the
same function) and given one status:

- `ok`: it opens and its first and last frames decode;
- `missing`: the file (or frame folder) does not exist;
- `unreadable`: opening it or decoding its first or last frame fails (the reason is the
  decoder's message), or it crashed the worker process;
- `too_short`: it decodes but has fewer than `--min-frames` frames.

A file that decodes is never excluded for its size: a static low-bitrate clip can be a few KB.
Size is only a hint beside a decode failure: broken Kinetics downloads are 0-9 KB, so the
reason of a file under 10 KiB that fails ends with "(the file is only N bytes)".

Outputs, beside the annotation file unless `--out` says otherwise: `<name>.clean<ext>`, the
lines of the `ok` videos copied verbatim in their order, and `<name>.scan.tsv`, one row per
line with the status, the reason and the video's metadata. The annotation file itself is never
rewritten. Exit status: 0 when every video is `ok`, 1 when some are not, 2 on bad usage or a
malformed annotation file.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import astuple, dataclass, fields
from functools import partial
from pathlib import Path

from tqdm import tqdm

from videomae_ssl.data import video_check as probe
from videomae_ssl.data.annotations import FORMAT_KEY, VideoRecord, read_annotations
from videomae_ssl.data.readers import FRAME_TEMPLATE, open_record, resolve_backend
from videomae_ssl.errors import UserInputError

STATUSES = ("ok", "missing", "unreadable", "too_short")
DEFAULT_MIN_FRAMES = 16
MAX_PROBLEMS_SHOWN = 10
READERS_MODULE = "videomae_ssl.data.readers"


@dataclass(frozen=True)
class ScanResult:
    """What the scan found for one annotation line. Metadata the scan could not learn is None:
    `fps`, `codec` and `bytes` are only known for video files, not frame folders."""

    line: int
    path: str
    status: str
    reason: str = ""
    frames: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    bytes: int | None = None


def _container_info(path: str) -> dict:
    """Container metadata of a video file from PyAV; an empty dict when it cannot be read."""
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            return {
                "fps": float(rate) if rate else None,
                "width": stream.codec_context.width or None,
                "height": stream.codec_context.height or None,
                "codec": stream.codec_context.name or None,
            }
    except Exception:  # any failure only means the metadata stays unknown
        return {}


def scan_record(
    line: int,
    record: VideoRecord,
    *,
    backend: str = "auto",
    min_frames: int = DEFAULT_MIN_FRAMES,
    frame_template: str = FRAME_TEMPLATE,
) -> ScanResult:
    """Check one video: does it exist, do its first and last frames decode, is it long enough.
    `line` is the annotation line it came from, carried into the result; `frame_template`
    names the files of a frame folder (see `open_record`). Its size never excludes it."""
    path = record.path
    if record.is_frames:
        if not os.path.isdir(path):
            return ScanResult(line, path, "missing", "no such folder of frames")
        meta: dict = {}
    else:
        if not os.path.isfile(path):
            return ScanResult(line, path, "missing", "no such file")
        meta = {"bytes": os.path.getsize(path)}
        meta.update(_container_info(path))

    opener = partial(open_record, backend=backend, frame_template=frame_template)
    check = probe.check_decodes(record, opener, probe.first_and_last)
    meta["frames"] = check.frames
    if check.error:
        return ScanResult(line, path, "unreadable", check.error, **meta)
    meta["height"], meta["width"] = check.height, check.width

    if check.frames < min_frames:
        reason = f"{check.frames} frames < --min-frames {min_frames}"
        return ScanResult(line, path, "too_short", reason, **meta)
    return ScanResult(line, path, "ok", **meta)


def _pool_context() -> multiprocessing.context.BaseContext:
    """Workers start from a fork server that has imported the readers once: cheap to start,
    and never a fork of a process that already holds decoders or threads."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([READERS_MODULE])
    return context


def _quiet_worker() -> None:
    """Send a worker's stderr to /dev/null: decoders print their complaints about each broken
    file there, over the progress bar, and the report already carries them."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_quiet_worker)


def _crashed(line: int, record: VideoRecord) -> ScanResult:
    return ScanResult(line, record.path, "unreadable", "the decoder crashed the worker process")


def _run_isolated(job: tuple[int, VideoRecord], task: Callable[..., ScanResult]) -> ScanResult:
    """Scan one video in a process of its own, so a crash points at that video."""
    with _pool(1) as pool:
        try:
            return pool.submit(task, *job).result()
        except BrokenProcessPool:
            return _crashed(*job)


def run_pool(
    jobs: Sequence[tuple[int, VideoRecord]],
    task: Callable[..., ScanResult],
    workers: int,
    on_result: Callable[[], None] = lambda: None,
) -> list[ScanResult]:
    """Run `task(line, record)` for every job on `workers` processes; results in job order.

    Decoders can crash on broken files (a segfault kills the worker and the pool with it). At
    most 2 x `workers` jobs are in flight, so after a crash only those are suspects: each is
    rerun alone, the one that crashes again is reported unreadable, and a fresh pool takes the
    rest.
    """
    results: dict[int, ScanResult] = {}
    todo = deque(range(len(jobs)))
    while todo:
        running: dict[Future, int] = {}
        suspects: list[int] = []
        with _pool(workers) as pool:
            try:
                while todo or running:
                    while todo and len(running) < 2 * workers:
                        index = todo.popleft()
                        running[pool.submit(task, *jobs[index])] = index
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        index = running.pop(future)
                        try:
                            results[index] = future.result()
                        except BrokenProcessPool:
                            suspects.append(index)
                            raise
                        on_result()
            except BrokenProcessPool:
                suspects.extend(running.values())
        for index in sorted(suspects):
            results[index] = _run_isolated(jobs[index], task)
            on_result()
    return [results[i] for i in range(len(jobs))]


class _Task:
    """`scan_record` with the scan's options bound; a picklable callable for the workers."""

    def __init__(self, **options: object) -> None:
        self.options = options

    def __call__(self, line: int, record: VideoRecord) -> ScanResult:
        return scan_record(line, record, **self.options)


def scan(
    records_with_lines: Iterable[tuple[int, VideoRecord]],
    *,
    backend: str = "auto",
    workers: int = 1,
    min_frames: int = DEFAULT_MIN_FRAMES,
    frame_template: str = FRAME_TEMPLATE,
    progress: bool = False,
) -> list[ScanResult]:
    """Scan (line number, record) pairs; one result per pair, in the same order.

    `workers` >= 1 scans in that many worker processes; 0 scans in this process (no crash
    isolation; for debugging). `backend` "auto" is resolved once here so every worker uses the
    same decoder.
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    jobs = list(records_with_lines)
    task = _Task(
        backend=resolve_backend(backend, "--backend"),
        min_frames=min_frames,
        frame_template=frame_template,
    )
    with tqdm(total=len(jobs), desc="Scanning videos", unit="video", disable=not progress) as bar:
        if workers == 0:
            results = []
            for job in jobs:
                results.append(task(*job))
                bar.update()
            return results
        return run_pool(jobs, task, workers, bar.update)


def numbered_lines(path: str | Path) -> list[tuple[int, str]]:
    """The non-blank lines of an annotation file as (line number, text with its line ending),
    numbered and split exactly as `read_annotations` numbers them."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    return [
        (number, line)
        for number, line in enumerate(text.splitlines(keepends=True), start=1)
        if line.strip()
    ]


def output_paths(annotation: Path, out_dir: Path | None) -> tuple[Path, Path]:
    """(cleaned list, report) for `annotation`: `<name>.clean<ext>` and `<name>.scan.tsv`."""
    folder = annotation.parent if out_dir is None else out_dir
    stem, ext = annotation.stem, annotation.suffix
    return folder / f"{stem}.clean{ext}", folder / f"{stem}.scan.tsv"


def _write_atomically(path: Path, write: Callable[[object], None]) -> None:
    """Write through a temporary sibling renamed into place: no half-written output."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        write(f)
    os.replace(tmp, path)


def write_outputs(
    lines: Sequence[tuple[int, str]],
    results: Sequence[ScanResult],
    clean_path: Path,
    report_path: Path,
) -> None:
    """Write the lines whose result is ok, verbatim and in order, and the TSV report."""
    text = {number: line for number, line in lines}

    def write_clean(f) -> None:
        for result in results:
            if result.status == "ok":
                line = text[result.line]
                f.write(line if line.endswith(("\n", "\r")) else line + "\n")

    def write_report(f) -> None:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow([field.name for field in fields(ScanResult)])
        for result in results:
            row = astuple(result)
            writer.writerow(["" if value is None else _cell(value) for value in row])

    _write_atomically(clean_path, write_clean)
    _write_atomically(report_path, write_report)


def _cell(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def summary(results: Sequence[ScanResult], clean_path: Path, report_path: Path) -> str:
    """Counts per status, the first problems with their reasons, and the files written."""
    counts = Counter(result.status for result in results)
    out = [
        f"Scanned {len(results)} videos: "
        + ", ".join(f"{counts[status]} {status}" for status in STATUSES if counts[status])
    ]
    problems = [result for result in results if result.status != "ok"]
    if problems:
        out.append(f"First problems ({min(len(problems), MAX_PROBLEMS_SHOWN)} of {len(problems)}):")
        for result in problems[:MAX_PROBLEMS_SHOWN]:
            out.append(f"  line {result.line}: {result.path}: {result.status}: {result.reason}")
    kept = counts["ok"]
    out.append(f"Wrote {clean_path} ({kept} of {len(results)} lines kept)")
    out.append(f"Wrote {report_path}")
    return "\n".join(out)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


class _Removed(argparse.Action):
    """`--min-bytes` excluded small files that decode; say why it is gone rather than
    "unrecognized arguments"."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(
            f"{option_string} was removed: a file that decodes is never excluded for its size "
            f"(a file under {probe.SMALL_FILE_BYTES} bytes that fails to decode says so in its reason)"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m videomae_ssl.prep.scan",
        description="Open every video of an annotation file, report the broken ones and write "
        "a cleaned copy of the file that lists only the readable, long-enough ones.",
    )
    parser.add_argument("annotation", type=Path, help="annotation file to scan")
    parser.add_argument("--root", help="folder that relative video paths are joined onto")
    parser.add_argument(
        "--out", type=Path, help="folder for the outputs (default: the annotation's folder)"
    )
    parser.add_argument(
        "--workers",
        type=_non_negative,
        default=min(8, os.cpu_count() or 1),
        help="worker processes (default: min(8, CPU count); 0 scans in this process)",
    )
    parser.add_argument(
        "--format",
        choices=["v1", "v2", "frames"],
        default="v1",
        help="annotation format (default: v1)",
    )
    parser.add_argument(
        "--backend", default="auto", help="video decoder: auto, decord, pyav or torchcodec"
    )
    parser.add_argument(
        "--min-frames",
        type=_non_negative,
        default=DEFAULT_MIN_FRAMES,
        help=f"fewer frames than this is too_short (default: {DEFAULT_MIN_FRAMES})",
    )
    parser.add_argument("--min-bytes", action=_Removed, help=argparse.SUPPRESS)
    parser.add_argument(
        "--frame-template",
        default=FRAME_TEMPLATE,
        help=f"file names in a frame folder (default: {FRAME_TEMPLATE})",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[ScanResult]:
    """Parse, scan, write the outputs and print the summary; returns the results."""
    backend = resolve_backend(args.backend, "--backend")
    try:
        records = read_annotations(args.annotation, args.root, format=args.format)
    except UserInputError as err:
        # The parser names the training config key; here the same choice is the --format flag.
        raise type(err)(str(err).replace(FORMAT_KEY, "--format")) from None
    lines = numbered_lines(args.annotation)
    if len(lines) != len(records):
        raise RuntimeError(
            f"{args.annotation}: {len(lines)} non-blank lines but {len(records)} records parsed"
        )
    clean_path, report_path = output_paths(args.annotation, args.out)
    if args.annotation.resolve() in (clean_path.resolve(), report_path.resolve()):
        raise UserInputError(f"{args.annotation}: an output would replace the annotation file")
    results = scan(
        zip((number for number, _ in lines), records, strict=True),
        backend=backend,
        workers=args.workers,
        min_frames=args.min_frames,
        frame_template=args.frame_template,
        progress=not args.no_progress,
    )
    try:
        clean_path.parent.mkdir(parents=True, exist_ok=True)
        write_outputs(lines, results, clean_path, report_path)
    except OSError as err:
        raise UserInputError(f"{clean_path.parent}: cannot write the outputs ({err})") from err
    print(summary(results, clean_path, report_path), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 all videos ok, 1 some are not, 2 bad usage or annotation file."""
    args = parse_args(argv)
    try:
        results = run(args)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0 if all(result.status == "ok" for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
