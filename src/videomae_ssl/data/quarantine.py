"""Broken videos: the quarantine file, the training-time budget, and the evaluation check's
error.

The original VideoMAE replaces a video it cannot decode with a random other one, silently and
even at test time, which changes reported accuracy. Here:

- Training replaces it (deterministically, see `VideoPretrainDataset`), lists it once in the
  quarantine file and counts it; `BrokenVideoTracker` stops the run once more than
  `data.max_broken_fraction` of the training list is broken.
- Evaluation never replaces a video: `video_check.probe_records` opens every listed video
  before evaluation starts and decodes its clip (with `video_check.check_decodes`, as the
  dataset scan does), and the data module either stops with the list of bad files or leaves
  them out (`data.eval_broken`).

The quarantine file is a TSV without header, one line per broken video: `path`, `error` and the
split that met it (`train` or `eval`). DataLoader workers are separate processes that may meet
the same video, so lines are appended under an exclusive `fcntl.flock`, and a path already
listed for that split is not written again.

Imported by the datasets in DataLoader workers: no Lightning here.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from videomae_ssl.errors import DataError

MAX_BROKEN_KEY = "data.max_broken_fraction"
EVAL_BROKEN_KEY = "data.eval_broken"
EVAL_BROKEN_MODES = ("fail", "exclude")
TRAIN_TAG = "train"
EVAL_TAG = "eval"


class LoaderDataError(DataError):
    """A DataError that keeps its own message when raised inside a DataLoader worker.

    torch re-raises a worker's exception in the main process as `type(err)(text)`, where `text`
    is "Caught <name> in DataLoader worker process <n>.", then the worker's traceback, ending
    with the original message. Entry points print the message without a traceback, so the
    constructor keeps only that original message.
    """

    def __init__(self, message: str) -> None:
        cls = type(self)
        header = f"\n{cls.__module__}.{cls.__qualname__}: "
        if message.startswith(f"Caught {cls.__name__} ") and header in message:
            message = message[message.rindex(header) + len(header) :].rstrip("\n")
        super().__init__(message)


def _one_field(text: str) -> str:
    return " ".join(text.split())  # no tabs or newlines inside a TSV field


def read_quarantine(file: str | os.PathLike, tag: str | None = None) -> dict[str, str]:
    """Path -> error of the videos listed in the quarantine file (only `tag`'s when given);
    empty when the file does not exist."""
    try:
        with open(file, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    listed = {}
    for line in lines:
        fields = line.split("\t")
        if len(fields) == 3 and (tag is None or fields[2] == tag):
            listed.setdefault(fields[0], fields[1])
    return listed


def record_broken(file: str | os.PathLike, path: str, error: str, tag: str = TRAIN_TAG) -> bool:
    """Append `path<TAB>error<TAB>tag` to the quarantine file unless `path` is already listed
    under `tag`; returns whether a line was written. Safe across processes (file lock)."""
    Path(file).parent.mkdir(parents=True, exist_ok=True)
    path, line_error = _one_field(path), _one_field(error)
    # "a+": reads start wherever we seek, writes always go to the end.
    with open(file, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) == 3 and fields[0] == path and fields[2] == tag:
                    return False
            f.write(f"{path}\t{line_error}\t{tag}\n")
            f.flush()
            return True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class BrokenVideoTracker:
    """Counts the distinct broken videos of the training list, in the main process.

    `update` takes the rows that training batches flagged as replaced. The count is the union
    of those rows' paths and the `train` lines of the quarantine file, which also holds what
    substitute draws (and other ranks) found. It raises a DataError once the count exceeds
    `max_fraction` of the list: raised here rather than in a worker, the message stays clean.
    Under DDP the data module calls `add`, `total` and `check` itself, with the rows and counts
    of every rank, so that all ranks see the same count and stop at the same step.
    """

    def __init__(
        self,
        paths: Sequence[str],
        *,
        max_fraction: float,
        quarantine_file: str | None = None,
        list_name: str = "the training list",
    ) -> None:
        self.paths = list(paths)
        self.max_fraction = max_fraction
        self.quarantine_file = quarantine_file
        self.list_name = list_name
        self.seen: set[str] = set()
        self.count = 0
        self.unreported: list[str] = []  # newly broken videos not yet said in the log

    def add(self, rows: Iterable[int]) -> bool:
        """Add the broken `rows`; return whether any was new."""
        new = {self.paths[r] for r in rows} - self.seen
        self.seen |= new
        self.unreported += sorted(new)
        return bool(new)

    def report_new(self, say: Any) -> None:
        """One line each, through `say`, for the videos found broken since the last call: the
        console and train.log show what quarantine.tsv records."""
        if not self.unreported:
            return
        reasons = read_quarantine(self.quarantine_file) if self.quarantine_file else {}
        where = f"listed in {self.quarantine_file}" if self.quarantine_file else "not listed"
        for path in self.unreported:
            reason = f" ({reasons[path]})" if path in reasons else ""
            say(
                f"warning: training video {path} could not be decoded{reason}; another video "
                f"stood in for it ({where}). {self.count} of {len(self.paths)} so far, at most "
                f"{MAX_BROKEN_KEY}={self.max_fraction} of the list."
            )
        self.unreported = []

    def total(self) -> int:
        """Distinct broken videos: those added here and the quarantine file's `train` lines."""
        listed = set()
        if self.quarantine_file is not None:
            listed = set(read_quarantine(self.quarantine_file, TRAIN_TAG))
        return len(self.seen | listed)

    def check(self, count: int) -> None:
        """Record `count` as the number of broken videos; DataError past `max_fraction`."""
        self.count = count
        if count > self.max_fraction * len(self.paths):
            where = (
                f"they are listed in {self.quarantine_file}"
                if self.quarantine_file is not None
                else "set data.quarantine_file to list them"
            )
            raise DataError(
                f"{count} of {len(self.paths)} videos in {self.list_name} "
                f"({count / len(self.paths):.2%}) could not be decoded, more than "
                f"{MAX_BROKEN_KEY}={self.max_fraction}; {where}. Repair or remove them from the "
                f"list, or raise {MAX_BROKEN_KEY}."
            )

    def update(self, rows: Iterable[int]) -> int:
        """Add the broken `rows` and check the budget (one process); return the count so far."""
        if self.add(rows):
            self.check(self.total())
        return self.count


def broken_list_message(
    bad: Sequence[tuple[str, str]], total: int, list_path: str, shown: int = 20
) -> str:
    """The evaluation probe's error: every bad file with its reason (the first `shown`)."""
    lines = [f"  {path}: {error}" for path, error in bad[:shown]]
    if len(bad) > shown:
        lines.append(f"  ... and {len(bad) - shown} more")
    return (
        f"{list_path}: {len(bad)} of {total} evaluation videos cannot be opened; evaluation "
        f"never replaces a video. Repair or remove them, or set {EVAL_BROKEN_KEY}=exclude to "
        f"leave them out:\n" + "\n".join(lines)
    )


def count_broken_over_ranks(strategy: Any, tracker: BrokenVideoTracker, rows: list[int]) -> int:
    """The tracker's count over all ranks, the same on every rank; `rows` are the training
    rows this rank's batch found broken, `strategy` Lightning's (its collectives).

    Every rank takes part in the same collectives at every training batch (one all-reduce,
    plus a gather and another all-reduce at batches where some rank met a new broken video),
    so the budget is checked against the videos of every shard and, when it is exceeded,
    every rank raises at the same step instead of one raising and the others waiting in the
    next collective until the timeout.
    """
    import torch

    device = strategy.root_device
    most = int(strategy.reduce(torch.tensor(len(rows), device=device), reduce_op="max"))
    if most == 0:
        return tracker.count
    padded = torch.full((most,), -1, dtype=torch.long, device=device)
    padded[: len(rows)] = torch.tensor(rows, dtype=torch.long)
    gathered = strategy.all_gather(padded)  # (world, most), -1 = no row
    tracker.add(gathered[gathered >= 0].tolist())
    # The quarantine file grows while the ranks read it: agree on the largest count.
    total = torch.tensor(tracker.total(), device=device)
    count = int(strategy.reduce(total, reduce_op="max"))
    tracker.check(count)
    return count
