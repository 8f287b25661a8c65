"""Re-encode videos to a given short side and keyframe interval (H.264, yuv420p, same frame
rate, no audio), in parallel and resumable: each file is written under a temporary name and
renamed once complete. Used by `python -m videomae_ssl.prep.prepare` and `prep.pack` with
`--short-side PX` and `--gop N`.

A clip's decoding starts at the keyframe before its first frame: with x264's default interval
(up to 250 frames) a 64-frame window costs on average far more frames than it uses. `--gop N`
puts a keyframe at least every N frames, so a clip decodes at most N - 1 frames before its
first; the files grow (benchmarks/RESULTS.md measures both)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
from tqdm import tqdm

from videomae_ssl.errors import DataError

CRF = 23


def even_scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side set to `short_side` and the long side scaled to
    keep the aspect ratio, both rounded to even numbers (yuv420p needs them)."""
    short, long = min(width, height), max(width, height)
    new_long = max(2, round(long * short_side / short / 2) * 2)
    new_short = max(2, round(short_side / 2) * 2)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def reencode(
    src: Path, dst: Path, short_side: int | None, threads: int = 0, gop: int | None = None
) -> None:
    """Re-encode the first video stream of `src` as H.264 mp4 with short side `short_side`
    (None: the source's size, rounded to even), a keyframe at least every `gop` frames (None:
    x264's default, up to 250), same frame rate, no audio. Writes a temporary file renamed to
    `dst` once complete; does nothing if `dst` exists. `threads` 0 lets x264 choose."""
    if dst.is_file():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.tmp-{os.getpid()}.mp4")
    try:
        with av.open(str(src)) as source, av.open(str(tmp), "w", format="mp4") as target:
            if not source.streams.video:
                raise DataError(f"{src}: no video stream")
            stream = source.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            out = None
            for i, frame in enumerate(source.decode(stream)):
                if out is None:
                    out = target.add_stream("libx264", rate=rate)
                    short = short_side or min(frame.width, frame.height)
                    out.width, out.height = even_scaled_size(frame.width, frame.height, short)
                    out.pix_fmt = "yuv420p"
                    out.options = {
                        "crf": str(CRF),
                        "preset": "fast",
                        "threads": str(threads),
                        **keyframe_options(gop),
                    }
                small = frame.reformat(
                    width=out.width, height=out.height, format="yuv420p", interpolation="AREA"
                )
                small.pts, small.time_base = i, 1 / Fraction(rate)
                target.mux(out.encode(small))
            if out is None:
                raise DataError(f"{src}: no frame could be decoded")
            target.mux(out.encode())
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def keyframe_options(gop: int | None) -> dict[str, str]:
    """x264 options for a keyframe at least every `gop` frames (scene cuts may add more);
    none for None."""
    return {} if gop is None else {"g": str(gop)}


def _reencode_job(job: tuple[Path, Path, int | None, int, int | None]) -> str | None:
    """Run `reencode` and return None, or the reason it failed (decoders raise many types)."""
    try:
        reencode(*job)
    except Exception as err:
        lines = str(err).strip().splitlines()
        return f"{type(err).__name__}: {lines[0][:300]}" if lines else type(err).__name__
    return None


def reencode_all(
    jobs: list[tuple[Path, Path]],
    short_side: int | None,
    workers: int,
    progress: bool = True,
    gop: int | None = None,
) -> dict[Path, str]:
    """Re-encode (src, dst) pairs, `workers` at a time, with a progress bar. Returns the
    failures as {src: reason}."""
    threads = 0 if workers == 1 else 1  # parallel files already use the cores
    args = [(src, dst, short_side, threads, gop) for src, dst in jobs]
    failures: dict[Path, str] = {}
    with tqdm(total=len(args), desc="Re-encoding", unit="video", disable=not progress) as bar:

        def collect(results: Iterator[str | None]) -> None:
            for (src, *_), reason in zip(args, results, strict=True):
                if reason is not None:
                    failures[src] = reason
                    tqdm.write(f"cannot re-encode {src}: {reason}", file=sys.stderr)
                bar.update()

        if workers == 1:
            collect(map(_reencode_job, args))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                collect(pool.map(_reencode_job, args, chunksize=4))
    return failures
