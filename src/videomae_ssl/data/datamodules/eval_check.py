"""Evaluation videos are checked before a run, never replaced during it.

Rank 0 (by the launcher's environment) opens every evaluation video once and decodes the
frames evaluation will read, in DataLoader workers; the other ranks would decode the same list
again, so they wait for its verdict, which `agree` broadcasts once the trainer's processes are
up. `data.eval_broken=fail` stops on bad videos, listing them; `exclude` leaves them out (said
once, listed in the quarantine file under "eval").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from lightning.pytorch.utilities import rank_zero_info, rank_zero_only

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.quarantine import (
    EVAL_BROKEN_KEY,
    EVAL_TAG,
    broken_list_message,
    record_broken,
)
from videomae_ssl.data.video_check import probe_records
from videomae_ssl.errors import DataError


class EvalListCheck:
    """The verdict on each evaluation list, by mode ("val", "test"; "train" in frozen
    evaluation): every listed record, and the rows left out (None on ranks that did not
    check)."""

    def __init__(
        self,
        decode: DecodeOptions,
        *,
        eval_broken: str = "fail",
        quarantine_file: str | None = None,
        num_workers: int = 0,
        root: str | None = None,
    ) -> None:
        # Opened on the CPU whatever the decoding device: only whether it decodes matters.
        self.decode = replace(decode, device="cpu")
        self.eval_broken = eval_broken
        self.quarantine_file = quarantine_file
        self.num_workers = num_workers
        self.root = root
        self.listed: dict[str, list[VideoRecord]] = {}
        self.excluded_rows: dict[str, list[int] | None] = {}
        self.excluded: list[tuple[str, str]] = []

    def check(
        self,
        mode: str,
        records: list[VideoRecord],
        list_path: str,
        frames: Callable[[int], Sequence[int]],
    ) -> list[VideoRecord]:
        """Decode `frames(num_frames)` of every record (rank 0) -> the records kept; raises
        DataError with `eval_broken="fail"` when some do not decode."""
        self.listed[mode] = records
        self.excluded_rows[mode] = None
        if rank_zero_only.rank != 0:
            return records
        bad = probe_records(
            records,
            self.decode.resolved().open,
            frames=frames,
            num_workers=self.num_workers,
            desc=f"Checking {os.path.basename(list_path)}",
            progress=True,
        )
        self.excluded_rows[mode] = [row for row, _ in bad]
        if not bad:
            return records
        named = [(records[row].path, error) for row, error in bad]
        if self.eval_broken == "fail":
            raise DataError(broken_list_message(named, len(records), list_path))
        if len(bad) == len(records):
            raise DataError(
                f"{list_path}: none of its {len(records)} evaluation videos can be opened, e.g. "
                f"{named[0][0]}: {named[0][1]}; check data.root={self.root}."
            )
        if self.quarantine_file is not None:
            for path, error in named:
                record_broken(self.quarantine_file, path, error, tag=EVAL_TAG)
        listed = f", listed in {self.quarantine_file}" if self.quarantine_file else ""
        rank_zero_info(
            f"{EVAL_BROKEN_KEY}=exclude: left out {len(bad)} of {len(records)} evaluation "
            f"videos of {list_path} that cannot be opened{listed}."
        )
        self.excluded = named
        dropped = {row for row, _ in bad}
        return [r for row, r in enumerate(records) if row not in dropped]

    def agree(self, trainer: Any, mode: str) -> list[VideoRecord] | None:
        """Under DDP, the records rank 0 kept (a collective: every rank calls it); None when
        nothing changes (one process, a mode not checked, or no verdict to share)."""
        if mode not in self.listed or trainer is None or trainer.world_size == 1:
            return None
        excluded = trainer.strategy.broadcast(self.excluded_rows.get(mode), src=0)
        if excluded is None:
            return None  # rank 0 did not check either (a list set after validate_inputs)
        self.excluded_rows[mode] = excluded
        dropped = set(excluded)
        return [r for row, r in enumerate(self.listed[mode]) if row not in dropped]
