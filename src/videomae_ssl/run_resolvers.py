"""Config values that depend on the process or on the run folder, for configs/hydra and
configs/logger: `${log_suffix:}` names each rank's log file, `${wandb_id:<run folder>}` gives a
run folder one wandb run that a resumed job continues."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

# Launchers that start every rank themselves say which one a process is: torchrun in RANK,
# SLURM's srun in SLURM_PROCID. Lightning's own launcher (trainer=ddp_cpu, trainer=ddp on one
# node) starts its ranks > 0 with hydra.job.name=train_ddp_process_<k>: a log file of their own.
RANK_VARIABLES = ("RANK", "SLURM_PROCID")


def launcher_rank() -> int:
    """This process's global rank as set by the launcher that started it, 0 when none did."""
    for name in RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def log_suffix() -> str:
    """'' for rank 0, `.rank<k>` for rank k: train.log is rank 0's, train.rank1.log rank 1's,
    instead of every rank appending to the same file."""
    rank = launcher_rank()
    return f".rank{rank}" if rank else ""


def wandb_id(run_dir: str) -> str:
    """`<folder name>-<8 hex digits of its absolute path>`: the same for every start of a run
    folder (`run_name=... resume=auto`), different for different folders (the stages of a
    pipeline, runs of the same name in other places). wandb refuses / \\ # ? % : in an id."""
    path = str(Path(run_dir).resolve())
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).name)[:48]
    return f"{name}-{digest}"


def register_resolvers() -> None:
    """Make `${log_suffix:}` and `${wandb_id:...}` known to OmegaConf (done when the package is
    imported)."""
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("log_suffix", log_suffix, replace=True)
    OmegaConf.register_new_resolver("wandb_id", wandb_id, replace=True)
