"""Test-only callbacks injected with `+callbacks.<name>._target_=injected.<Class>` (the
tests' folder is on the PYTHONPATH of tiny_runs.train and of the SLURM jobs): a rank that
fails alone, steps slowed down so that a job can be preempted mid-run, and each rank's view of
the world written to a file."""

from __future__ import annotations

import json
import os
import time

import lightning as L


class RaiseOnRank(L.Callback):
    """Raises RuntimeError in global rank `rank` only, when a training batch starts at
    optimizer step `step`: the other ranks go on into the step's gradient all-reduce."""

    def __init__(self, rank: int, step: int) -> None:
        self.rank, self.step = rank, step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_rank == self.rank and trainer.global_step == self.step:
            raise RuntimeError(f"injected failure on rank {self.rank} at step {self.step}")


class SlowSteps(L.Callback):
    """Sleeps `seconds` after every training batch (after the optimizer step, where Lightning's
    own step checkpoints are saved): a tiny run lasts long enough to be signalled mid-run."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(self.seconds)


class RecordWorld(L.Callback):
    """Writes `<folder>/rank<r>.json` when fitting starts: the world size and rank Lightning
    took, the cluster environment that gave them, and the launcher's rank variables."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_fit_start(self, trainer, pl_module) -> None:
        os.makedirs(self.folder, exist_ok=True)
        record = {
            "world_size": trainer.world_size,
            "global_rank": trainer.global_rank,
            "environment": type(trainer.strategy.cluster_environment).__name__,
            "SLURM_PROCID": os.environ.get("SLURM_PROCID"),
            "SLURM_NTASKS": os.environ.get("SLURM_NTASKS"),
            "pid": os.getpid(),
        }
        with open(os.path.join(self.folder, f"rank{trainer.global_rank}.json"), "w") as f:
            json.dump(record, f)
