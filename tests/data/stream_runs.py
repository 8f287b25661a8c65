"""Helpers of the streaming tests: pack a folder of clips (tiny_runs.write_clips) into shards,
and a callback that writes which videos each rank trained on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning as L

from videomae_ssl.prep.pack import main as pack_main


def pack(data: Path, out: Path, *lists: str, extra: tuple[str, ...] = ()) -> int:
    """Pack `data/<list>` for each list (train.csv by default) into `out`; the exit status."""
    names = [str(data / name) for name in (lists or ("train.csv",))]
    return pack_main(
        [
            *names,
            "--root",
            str(data),
            "--out",
            str(out),
            "--workers",
            "1",
            "--backend",
            "pyav",
            "--no-progress",
            *extra,
        ]
    )


class SeenIndices(L.Callback):
    """Appends each training batch's (epoch, video rows) to `<folder>/rank<r>.jsonl`."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        os.makedirs(self.folder, exist_ok=True)
        line = {"epoch": trainer.current_epoch, "index": batch["index"].tolist()}
        with open(os.path.join(self.folder, f"rank{trainer.global_rank}.jsonl"), "a") as f:
            f.write(json.dumps(line) + "\n")
