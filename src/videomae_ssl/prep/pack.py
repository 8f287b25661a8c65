"""Pack the videos of annotation files into shards to stream from (`data.stream`).

    python -m videomae_ssl.prep.pack LIST [LIST ...] --root DIR --out DIR [--workers N]
        [--short-side PX] [--gop N] [--format v1|v2|frames] [--chunk-bytes 64MB]

Each list (any annotation format, parsed by `data.annotations`) becomes `<out>/<list name>`
(train.csv -> <out>/train), a folder of LitData shards (`litdata.optimize`) holding each
video's ENCODED bytes, or a frame folder's image files' bytes, never decoded frames: the loader
workers decode them as they decode files (layout in `videomae_ssl.data.shards`). Then train
with `data.stream=<out>`, or upload `<out>` and give its s3:// URL.

Every video is first checked by the scan's decode check (`prep.scan.scan_record`: it opens,
its first and last frames decode). Broken ones are left out, named on the console and in
`<out>/<list name>/broken.tsv` (line, path, status, reason); item i of the shards is the i-th
video kept, in list order. `--short-side PX` first re-encodes every video file to that short
side, `--gop N` with a keyframe at least every N frames (`prep.reencode`; either alone keeps
the other as the source has it; frame folders are packed as they are).

Resumable: re-encoded files are complete or absent, each checked video is journaled in
`scan.tsv`, LitData's writer keeps checkpoints, and the manifest `videos.json` is written last;
a rerun skips what is done and finishes the rest. Exit status 0 when every video was packed,
1 when some were left out, 2 on bad usage or a malformed annotation file.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from tqdm import tqdm

from videomae_ssl.data.annotations import FORMAT_KEY, VideoRecord, read_annotations
from videomae_ssl.data.readers import FRAME_TEMPLATE, resolve_backend
from videomae_ssl.data.shards import INDEX, encode_item, write_manifest
from videomae_ssl.errors import DataError, UserInputError
from videomae_ssl.prep.reencode import reencode_all
from videomae_ssl.prep.scan import ScanResult, numbered_lines, run_pool, scan_record

JOURNAL = "scan.tsv"
BROKEN = "broken.tsv"
REENCODED = "reencoded"
DEFAULT_CHUNK_BYTES = "64MB"
# Videos checked between two journal writes (per worker).
BATCH_PER_WORKER = 32


class PackItem:
    """The shard item of packed row `position` (a picklable callable for LitData's workers):
    the video file's bytes, or the frame folder's image files in frame order."""

    def __init__(self, records: Sequence[VideoRecord], frame_template: str) -> None:
        self.records = list(records)
        self.frame_template = frame_template

    def __call__(self, position: int) -> dict:
        record = self.records[position]
        if not record.is_frames:
            return encode_item(position, Path(record.path).read_bytes(), None)
        images = [
            Path(record.path, self.frame_template.format(record.start + i)).read_bytes()
            for i in range(record.num_frames)
        ]
        return encode_item(position, b"".join(images), [len(b) for b in images])


def _read_journal(path: Path) -> dict[int, ScanResult]:
    """Line -> result of the videos a previous run checked."""
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return {int(r[0]): ScanResult(int(r[0]), r[1], r[2], r[3]) for r in rows if len(r) == 4}


def check_videos(
    jobs: Sequence[tuple[int, VideoRecord]],
    journal: Path,
    *,
    backend: str,
    workers: int,
    frame_template: str,
    progress: bool,
) -> dict[int, ScanResult]:
    """Line -> scan result for every job, checking only those the journal lacks and appending
    each batch's results to it (a killed run loses at most one batch)."""
    done = _read_journal(journal)
    todo = [job for job in jobs if job[0] not in done]
    task = partial(scan_record, backend=backend, min_frames=1, frame_template=frame_template)
    batch = max(1, workers) * BATCH_PER_WORKER
    with tqdm(
        total=len(jobs),
        initial=len(jobs) - len(todo),
        desc="Checking videos",
        unit="video",
        disable=not progress,
    ) as bar:
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            if workers == 0:
                results = [task(*job) for job in part]
                bar.update(len(part))
            else:
                results = run_pool(part, task, workers, bar.update)
            with open(journal, "a", encoding="utf-8", newline="") as f:
                writer = csv.writer(f, delimiter="\t", lineterminator="\n")
                for r in results:
                    writer.writerow([r.line, r.path, r.status, " ".join(r.reason.split())])
                    done[r.line] = r
    return done


def _reencoded(
    jobs: list[tuple[int, VideoRecord]],
    folder: Path,
    short_side: int | None,
    workers: int,
    progress: bool,
    gop: int | None = None,
) -> tuple[list[tuple[int, VideoRecord]], dict[int, str]]:
    """The jobs with their video files re-encoded into `folder` (frame folders unchanged), and
    line -> reason of those that failed to re-encode."""
    targets = {
        line: folder / f"{line:08d}_{Path(record.path).stem}.mp4"
        for line, record in jobs
        if not record.is_frames
    }
    failures = reencode_all(
        [(Path(r.path), targets[line]) for line, r in jobs if line in targets],
        short_side,
        max(1, workers),
        progress,
        gop,
    )
    failed = {line: failures[Path(r.path)] for line, r in jobs if Path(r.path) in failures}
    out = [
        (
            line,
            VideoRecord(str(targets[line]), r.label, r.start, r.num_frames)
            if line in targets
            else r,
        )
        for line, r in jobs
    ]
    return out, failed


def pack_list(
    annotation: Path,
    out: Path,
    *,
    root: str | None,
    format: str = "v1",
    workers: int = 1,
    short_side: int | None = None,
    gop: int | None = None,
    backend: str = "auto",
    frame_template: str = FRAME_TEMPLATE,
    chunk_bytes: str = DEFAULT_CHUNK_BYTES,
    progress: bool = True,
) -> list[ScanResult]:
    """Pack one annotation file into `out/<its name>`; returns the results of the videos left
    out (empty: all packed)."""
    folder = out / annotation.stem
    try:
        records = read_annotations(annotation, root, format=format)
    except UserInputError as err:
        raise type(err)(str(err).replace(FORMAT_KEY, "--format")) from None
    lines = [number for number, _ in numbered_lines(annotation)]
    listed = [_as_listed(record.path, root) for record in records]  # as the lines give them
    folder.mkdir(parents=True, exist_ok=True)
    jobs = list(zip(lines, records, strict=True))
    failed: dict[int, str] = {}
    if short_side is not None or gop is not None:
        jobs, failed = _reencoded(jobs, folder / REENCODED, short_side, workers, progress, gop)
    checked = check_videos(
        [job for job in jobs if job[0] not in failed],
        folder / JOURNAL,
        backend=backend,
        workers=workers,
        frame_template=frame_template,
        progress=progress,
    )
    left_out = [
        ScanResult(line, path, "unreadable", f"cannot re-encode: {reason}")
        for (line, _), path in zip(jobs, listed, strict=True)
        if (reason := failed.get(line))
    ]
    kept: list[tuple[int, VideoRecord, str]] = []
    for (line, record), path in zip(jobs, listed, strict=True):
        result = checked.get(line)
        if result is None:
            continue
        if result.status == "ok":
            kept.append((line, record, path))
        else:
            left_out.append(ScanResult(line, path, result.status, result.reason))
    left_out.sort(key=lambda r: r.line)
    _write_broken(folder / BROKEN, left_out)
    if not kept:
        raise DataError(
            f"{annotation}: none of its {len(records)} videos decodes; nothing to pack."
        )
    _write_shards(folder, [r for _, r, _ in kept], frame_template, workers, chunk_bytes, progress)
    entries = [
        {"path": path, "label": r.label, "start": r.start, "num_frames": r.num_frames, "line": line}
        for line, r, path in kept
    ]
    source = {"list": str(annotation), "root": root, "annotation_format": format}
    write_manifest(folder, entries, source)
    return left_out


def _as_listed(path: str, root: str | None) -> str:
    """The path as the annotation line gave it (relative to --root where it was)."""
    if root is None:
        return path
    relative = os.path.relpath(path, root)
    return path if relative.startswith("..") else relative


def _write_broken(path: Path, left_out: Sequence[ScanResult]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["line", "path", "status", "reason"])
        for r in left_out:
            writer.writerow([r.line, r.path, r.status, " ".join(r.reason.split())])
    os.replace(tmp, path)


def _write_shards(
    folder: Path,
    records: list[VideoRecord],
    frame_template: str,
    workers: int,
    chunk_bytes: str,
    progress: bool,
) -> None:
    """LitData's writer over the kept records, in order (one static slice per worker, merged in
    worker order), resuming from its checkpoints; skipped when its index is complete."""
    if (folder / INDEX).is_file():
        return
    import litdata

    litdata.optimize(
        fn=PackItem(records, frame_template),
        inputs=list(range(len(records))),
        output_dir=str(folder),
        chunk_bytes=chunk_bytes,
        num_workers=max(1, min(workers, len(records))),
        keep_data_ordered=True,
        reorder_files=False,
        use_checkpoint=True,
        # The main process holds no decoder here; forking skips re-importing torch per worker.
        start_method="fork" if sys.platform == "linux" else None,
        verbose=progress,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m videomae_ssl.prep.pack",
        description="Pack the videos of annotation files into LitData shards for data.stream, "
        "leaving out (and naming) the ones that do not decode.",
    )
    parser.add_argument("lists", nargs="+", type=Path, help="annotation files to pack")
    parser.add_argument("--root", help="folder that relative video paths are joined onto")
    parser.add_argument("--out", type=Path, required=True, help="folder of the packed lists")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(8, os.cpu_count() or 1),
        help="worker processes (default: min(8, CPU count); 0: check here)",
    )
    parser.add_argument("--short-side", type=int, help="re-encode videos to this short side")
    parser.add_argument(
        "--gop", type=int, help="re-encode videos with a keyframe at least every N frames"
    )
    parser.add_argument(
        "--format",
        choices=["v1", "v2", "frames"],
        default="v1",
        help="annotation format (default: v1)",
    )
    parser.add_argument(
        "--backend", default="auto", help="decoder of the check: auto, decord, pyav or torchcodec"
    )
    parser.add_argument(
        "--frame-template",
        default=FRAME_TEMPLATE,
        help=f"file names in a frame folder (default: {FRAME_TEMPLATE})",
    )
    parser.add_argument(
        "--chunk-bytes",
        default=DEFAULT_CHUNK_BYTES,
        help=f"size of a shard file (default: {DEFAULT_CHUNK_BYTES})",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(argv)
    if args.workers < 0:
        parser.error(f"--workers must be >= 0, got {args.workers}")
    if args.short_side is not None and args.short_side < 2:
        parser.error(f"--short-side must be at least 2 pixels, got {args.short_side}")
    if args.gop is not None and args.gop < 1:
        parser.error(f"--gop must be at least 1 frame, got {args.gop}")
    stems = [path.stem for path in args.lists]
    if len(set(stems)) != len(stems):
        parser.error(f"the lists' names must differ: each becomes <out>/<name> ({stems})")
    return args


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 all packed, 1 some videos left out, 2 bad usage or annotation file."""
    args = parse_args(argv)
    left_out = 0
    try:
        backend = resolve_backend(args.backend, "--backend")
        for annotation in args.lists:
            bad = pack_list(
                annotation,
                args.out,
                root=args.root,
                format=args.format,
                workers=args.workers,
                short_side=args.short_side,
                gop=args.gop,
                backend=backend,
                frame_template=args.frame_template,
                chunk_bytes=args.chunk_bytes,
                progress=not args.no_progress,
            )
            folder = args.out / annotation.stem
            for r in bad:
                print(f"left out {annotation}:{r.line}: {r.path}: {r.status}: {r.reason}")
            print(
                f"Packed {annotation} into {folder}"
                + (f" ({len(bad)} left out, listed in {folder / BROKEN})" if bad else "")
            )
            left_out += len(bad)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1 if left_out else 0


if __name__ == "__main__":
    sys.exit(main())
