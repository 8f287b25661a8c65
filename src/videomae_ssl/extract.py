"""Frozen features of whole videos, one window every few frames: the input of temporal action
detection (ActionFormer and the like), as VideoMAE V2's `extract_tad_feature.py` makes it.

    python -m videomae_ssl.extract CKPT INPUT --out DIR [--window 16] [--stride 4]
        [--pool mean|tokens] [--batch N] [--device auto|cpu|cuda]

CKPT: any checkpoint the project reads (ours, original or V2 `.pth`, Hugging Face folder).
INPUT: one video, or an annotation file listing videos (v1, v2 or frames format, paths
relative to --root). For each video, `<DIR>/<video name>.npy` holds float32 features of shape
(windows, dim) (`--pool tokens`: (windows, tokens, dim)), windows = floor((frames - window) /
stride) + 1, each window of `window` consecutive frames resized to the model's input size (see
`videomae_ssl.probe.windows`). A video whose file is already there is skipped, and files are
written under a temporary name and renamed, so a run stopped half-way leaves no partial file
and a new run continues. The settings the features are made with (the checkpoint's contents,
window, stride, pool, input size, precision) are recorded in `<DIR>/extract.json`; a run with
other settings into the same DIR stops, naming the one that differs, rather than mixing
features of two models or windows. A video that cannot be decoded is named, and the others go
on; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from videomae_ssl.checkpoints.hub import resolve_checkpoint
from videomae_ssl.cli import INPUT_ERROR_STATUS, report_input_error, resolve_device
from videomae_ssl.console import count
from videomae_ssl.data.annotations import ANNOTATION_FORMATS, VideoRecord, read_annotations
from videomae_ssl.data.readers import FRAME_TEMPLATE, resolve_backend
from videomae_ssl.data.windows import VideoWindows, WindowAssembler, WindowSettings
from videomae_ssl.errors import ConfigError, DataError, UserInputError
from videomae_ssl.output_settings import check_and_record, file_fingerprint
from videomae_ssl.probe.encoder import FrozenEncoder, frozen_encoder_from_checkpoint

PARTIAL = ".partial"  # suffix of a file being written
TEXT_PROBE_BYTES = 4096  # INPUT is an annotation file when its start is text
SETTINGS_RECORD = "extract.json"  # in --out: the settings its features were made with


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m videomae_ssl.extract",
        description="Frozen VideoMAE features of sliding windows over whole videos, one .npy "
        "of shape (windows, dim) per video (temporal action detection).",
    )
    p.add_argument("ckpt", help="checkpoint file, Hugging Face folder or Hub id (owner/name)")
    p.add_argument("input", type=Path, help="a video, or an annotation file listing videos")
    p.add_argument("--out", type=Path, required=True, help="folder for the .npy files")
    p.add_argument("--window", type=int, help="frames per window (default: the model's, 16)")
    p.add_argument(
        "--stride",
        type=int,
        default=4,
        help="frames between window starts (default 4, THUMOS14; V2 uses 16 for FineAction)",
    )
    p.add_argument(
        "--pool",
        choices=("mean", "tokens"),
        default="mean",
        help="mean: one vector per window (V2's forward_features); tokens: every "
        "token, (windows, tokens, dim), large",
    )
    p.add_argument("--batch", type=int, default=16, help="windows per forward pass (default 16)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="auto: bf16 autocast on CUDA, fp32 on the CPU",
    )
    p.add_argument("--workers", type=int, default=2, help="decoding processes (default 2)")
    p.add_argument("--root", type=Path, help="folder the annotation file's paths are relative to")
    p.add_argument(
        "--format",
        choices=tuple(ANNOTATION_FORMATS),
        default="v1",
        help="annotation format of INPUT (default v1)",
    )
    p.add_argument(
        "--frame-template",
        default=FRAME_TEMPLATE,
        help=f"frame file names of folders of frames (default {FRAME_TEMPLATE})",
    )
    p.add_argument("--backend", choices=("auto", "decord", "torchcodec", "pyav"), default="auto")
    return p.parse_args(argv)


def _is_text(path: Path) -> bool:
    """Whether `path` starts as UTF-8 text (an annotation file) rather than a video. Only its
    first bytes are read; a character cut at their end is not an error (an incremental decoder
    keeps an incomplete sequence for later, and fails only on bytes UTF-8 never has)."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(TEXT_PROBE_BYTES)
    if not head or b"\0" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < TEXT_PROBE_BYTES)
    except UnicodeDecodeError:
        return False
    return True


def read_input(args: argparse.Namespace) -> list[VideoRecord]:
    """The videos INPUT names: itself, a list of video paths (one per line), or the lines of an
    annotation file in --format (whose labels extraction does not read)."""
    path = args.input
    if not path.exists():
        raise DataError(f"{path}: no such video or annotation file.")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give a video or an annotation file listing videos.")
    if path.stat().st_size == 0:
        raise DataError(
            f"{path}: is empty; give a video, or a list of videos (a path per line, or an "
            f"annotation file in the --format given)."
        )
    if not _is_text(path):
        return [VideoRecord(str(path))]
    root = str(args.root) if args.root else None
    text = path.read_text(encoding="utf-8-sig")
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and all(len(line.split()) == 1 for line in lines):
        # A plain list of videos: extraction reads no labels.
        return [
            VideoRecord(
                line.strip()
                if root is None or os.path.isabs(line.strip())
                else os.path.join(root, line.strip())
            )
            for line in lines
        ]
    return read_annotations(str(path), root, format=args.format, format_key="--format")


def output_names(records: list[VideoRecord]) -> list[str]:
    """`<name>.npy` of each video: its file name without the suffix (a folder of frames: the
    folder's name). Two videos of the same name would overwrite each other: an error."""
    names = [Path(r.path).name if r.is_frames else Path(r.path).stem for r in records]
    seen: dict[str, str] = {}
    for name, record in zip(names, records, strict=True):
        if name in seen:
            raise DataError(
                f"{seen[name]} and {record.path} would both be written as {name}.npy; give "
                f"videos distinct names (or extract them into separate --out folders)."
            )
        seen[name] = record.path
    return [f"{n}.npy" for n in names]


def save_atomically(path: Path, array: np.ndarray) -> None:
    """np.save under a temporary name in the same folder, then rename: never a partial file."""
    tmp = path.with_name(f".{path.name}{PARTIAL}")
    with open(tmp, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def remove_partial_files(folder: Path) -> int:
    """Delete what a stopped run was writing; -> how many."""
    stale = list(folder.glob(f".*.npy{PARTIAL}"))
    for path in stale:
        path.unlink()
    return len(stale)


@torch.inference_mode()
def encode(
    encoder: FrozenEncoder,
    windows: torch.Tensor,
    pool: str,
    device: torch.device,
    dtype: torch.dtype | None,
) -> np.ndarray:
    """(B, 3, T, S, S) normalised windows -> float32 (B, D) pooled or (B, N, D) tokens."""
    video = windows.to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        out = encoder(video) if pool == "mean" else encoder.forward_tokens(video)
    return out.float().cpu().numpy()


def load_encoder(ckpt: Path, window: int | None) -> FrozenEncoder:
    """The checkpoint's encoder for windows of `window` frames (None: the model's own). A
    window that does not split into whole tubelets is a ConfigError naming --window; the
    checkpoint's tubelet is looked up only then, the encoder's constructor having refused it."""
    try:
        return frozen_encoder_from_checkpoint(str(ckpt), num_frames=window, log=print)
    except ValueError:
        from videomae_ssl.checkpoints import load_checkpoint

        tubelet = load_checkpoint(str(ckpt)).config.get("tubelet_size") if window else None
        if tubelet and window % tubelet:
            raise ConfigError(
                f"--window {window}: must be a multiple of the model's tubelet size {tubelet} "
                f"(frames per token); e.g. --window {max(tubelet, window - window % tubelet)}."
            ) from None
        raise


def has_features(folder: Path) -> bool:
    """Whether `folder` holds features (finished or being written)."""
    return folder.is_dir() and any(
        p.name.endswith((".npy", f".npy{PARTIAL}")) for p in folder.iterdir()
    )


def extract(args: argparse.Namespace) -> int:
    """Check the inputs, load the model, extract every video; -> exit status."""
    for flag in ("stride", "batch"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag} {getattr(args, flag)}: must be at least 1.")
    if args.window is not None and args.window < 1:
        raise ConfigError(f"--window {args.window}: must be at least 1.")
    if args.workers < 0:
        raise ConfigError(f"--workers {args.workers}: must be 0 or more.")
    backend = resolve_backend(args.backend, key="--backend")
    records = read_input(args)
    names = output_names(records)
    device = resolve_device(args.device)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    args.ckpt = resolve_checkpoint(args.ckpt, "CKPT")
    encoder = load_encoder(args.ckpt, args.window)
    window = encoder.num_frames
    encoder.to(device)
    made_with = {
        "checkpoint": file_fingerprint(args.ckpt),
        "--window": window,
        "--stride": args.stride,
        "--pool": args.pool,
        "input size": encoder.img_size,
        "--precision": "bf16" if bf16 else "fp32",
    }
    check_and_record(
        args.out,
        SETTINGS_RECORD,
        made_with,
        has_outputs=has_features(args.out),
        shown={"checkpoint": str(args.ckpt.resolve())},
    )
    if removed := remove_partial_files(args.out):
        print(f"removed {count(removed, 'partial file')} of a stopped run")
    todo = [i for i, name in enumerate(names) if not (args.out / name).exists()]
    done = len(records) - len(todo)
    print(
        f"{count(len(records), 'video')}: {done} already extracted, {len(todo)} to go; windows "
        f"of {window} frames every {args.stride} at {encoder.img_size} px, pool {args.pool}, "
        f"{device.type}{' bf16' if bf16 else ''} -> {args.out}",
        flush=True,
    )
    settings = WindowSettings(
        window=window,
        stride=args.stride,
        size=encoder.img_size,
        batch=args.batch,
        backend=backend,
        frame_template=args.frame_template,
    )
    failed = run(
        encoder,
        [records[i] for i in todo],
        [args.out / names[i] for i in todo],
        settings,
        args.pool,
        device,
        torch.bfloat16 if bf16 else None,
        args.workers,
    )
    for path, error in failed:
        named = error if error.startswith(str(path)) else f"{path}: {error}"
        print(f"failed: {named}", file=sys.stderr)
    print(
        f"extracted {count(len(todo) - len(failed), 'video')} into {args.out}"
        + (f"; {len(failed)} could not be read (listed above)" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


def _items(records: list[VideoRecord], settings: WindowSettings, workers: int) -> Iterator[Any]:
    dataset = VideoWindows(records, settings)
    loader = DataLoader(dataset, batch_size=None, num_workers=min(workers, len(records)))
    yield from loader


def run(
    encoder: FrozenEncoder,
    records: list[VideoRecord],
    outputs: list[Path],
    settings: WindowSettings,
    pool: str,
    device: torch.device,
    dtype: torch.dtype | None,
    workers: int,
) -> list[tuple[str, str]]:
    """Extract `records` into `outputs`; -> [(path, error)] of the videos that failed."""
    failed: list[tuple[str, str]] = []
    if not records:
        return failed
    assemblers: dict[int, WindowAssembler] = {}
    parts: dict[int, list[np.ndarray]] = {}
    windows_done, start = 0, time.monotonic()
    with tqdm(total=len(records), desc="Extracting", unit="video") as bar:
        for item in _items(records, settings, workers):
            video = item["video"]
            if item["error"]:
                failed.append((records[video].path, item["error"]))
                assemblers.pop(video, None)
                parts.pop(video, None)
                bar.update()
                continue
            clips = assemblers.setdefault(video, WindowAssembler(settings.window)).windows(item)
            parts.setdefault(video, []).append(encode(encoder, clips, pool, device, dtype))
            windows_done += len(clips)
            if item["last"]:
                save_atomically(outputs[video], np.concatenate(parts.pop(video)))
                assemblers.pop(video)
                bar.update()
            bar.set_postfix(windows_per_s=f"{windows_done / (time.monotonic() - start):.1f}")
    return failed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return extract(args)
    except UserInputError as err:
        report_input_error(str(err))
        return INPUT_ERROR_STATUS


if __name__ == "__main__":
    sys.exit(main())
