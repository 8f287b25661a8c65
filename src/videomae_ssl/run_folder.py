"""Which folder a run writes into, decided before anything is written there.

A training run's folder holds what it made: `checkpoints/last.ckpt`, `csv/metrics.csv`, the
composed config in `.hydra/config.yaml`, `train.log`, and after a test `predictions.csv` and
`confusion.png`. Another run given the same folder (`run_name=<name>`, `hydra.run.dir=...`)
would write over them. So:

- a folder that holds a checkpoint is continued only with `resume=auto` (or `ckpt_path=` its
  own last.ckpt), replaced only with `overwrite=true`, and otherwise refused with one line;
- `stage=test` and `stage=probe` pointed at the folder of another kind of run (a training run,
  a pipeline) write into a sub-folder of it named after the stage, `<folder>/test/`
  or `<folder>/probe/`, and leave the training run's metrics, config and log as they are.

Hydra writes `<folder>/.hydra/config.yaml` and opens `<folder>/train.log` before the task
function runs, so this is a Hydra callback (`configs/hydra/default.yaml`): `on_run_start`
receives the config before the run's folder is made, and may still move it. A multirun's
jobs each get a new numbered folder and are not looked at.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from videomae_ssl.cli import INPUT_ERROR_STATUS, report_input_error
from videomae_ssl.errors import ConfigError, UserInputError
from videomae_ssl.run_resolvers import launcher_rank

# Stages that read a trained model and write their results into a folder of their own.
EVALUATION_STAGES = ("test", "probe")
LAST = "last.ckpt"
REPLACED = (LAST, "best.ckpt")  # what overwrite=true removes from the checkpoint folder
KINDS = {
    "fit": "a training run",
    "distill": "a distillation run",
    "pipeline": "a pipeline's runs",
    "test": "a test run",
    "probe": "a probe run",
}


def recorded_kind(folder: Path) -> str | None:
    """What ran in `folder`, from the config Hydra saved there: its stage (fit, test, probe),
    "pipeline" for a pipeline's folder, "unknown" for a config that cannot be read, None where
    no run saved one."""
    saved = folder / ".hydra" / "config.yaml"
    if not saved.is_file():
        return None
    try:
        # Unresolved: the saved config's interpolations need Hydra's runtime to resolve.
        raw = OmegaConf.to_container(OmegaConf.load(saved), resolve=False)
    except Exception:  # noqa: BLE001 -- any unreadable file is a run of unknown kind
        return "unknown"
    if not isinstance(raw, dict):
        return "unknown"
    if raw.get("pipeline"):
        return "pipeline"
    return str(raw.get("stage", "fit"))


def checkpoint_folder(config: DictConfig, folder: Path) -> Path:
    """Where the run's last.ckpt goes: `callbacks.model_checkpoint.dirpath` as it resolves for
    a run in `folder` (`<folder>/checkpoints` by default, and where it cannot be resolved)."""
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        # The value Hydra's run_job gives it next; `paths.output_dir` interpolates it.
        config.hydra.runtime.output_dir = str(folder)
    HydraConfig.instance().set_config(config)
    try:
        dirpath = OmegaConf.select(config, "callbacks.model_checkpoint.dirpath", default=None)
    except Exception:  # noqa: BLE001 -- an interpolation only the task can resolve
        dirpath = None
    return Path(dirpath) if dirpath else folder / "checkpoints"


def held_checkpoints(config: DictConfig, folder: Path) -> list[Path]:
    """The last checkpoints a run in `folder` would write over: its own, and for a pipeline
    those of its stages (`<folder>/<stage>/checkpoints/last.ckpt`)."""
    candidates = [checkpoint_folder(config, folder) / LAST]
    for stage in config.get("pipeline") or []:
        candidates.append(folder / str(stage.get("name")) / "checkpoints" / LAST)
    return [path for path in candidates if path.is_file()]


def _same_file(a: Any, b: Path) -> bool:
    try:
        return bool(a) and Path(str(a)).resolve() == b.resolve()
    except OSError:
        return False


def is_rank_zero() -> bool:
    """Whether this process is rank 0 (or runs alone): torchrun and srun say so in RANK and
    SLURM_PROCID, Lightning's own launcher in the LOCAL_RANK of the ranks it starts."""
    return launcher_rank() == 0 and os.environ.get("LOCAL_RANK", "0") in ("", "0")


def settle_run_folder(config: DictConfig) -> Path:
    """Decide the run's folder (`config.hydra.run.dir`, changed in place for an evaluation
    stage given another run's folder) and refuse to write over a run; -> the folder.

    Raises ConfigError when the folder holds a checkpoint and neither `resume=auto`, a
    `ckpt_path` to that checkpoint, nor `overwrite=true` says what to do with it. With
    `overwrite=true` the earlier run's last (and best) checkpoints are removed, so that a later
    `resume=auto` or test cannot take them for this run's."""
    overwrite, resume = config.get("overwrite", False), config.get("resume")
    if not isinstance(overwrite, bool):
        raise ConfigError(f"overwrite={overwrite!r}: expected true or false.")
    if overwrite and resume == "auto":
        raise ConfigError(
            "resume=auto and overwrite=true are both set: resume=auto continues the run in the "
            "folder, overwrite=true replaces it; keep one of them."
        )
    folder = Path(os.path.abspath(str(config.hydra.run.dir)))
    stage = config.get("stage", "fit")
    if stage in EVALUATION_STAGES and not config.get("pipeline"):
        kind = recorded_kind(folder)
        # A checkpoint without a saved config (hydra.output_subdir=null): a training run's.
        bare = (folder / "checkpoints" / LAST).is_file() or held_checkpoints(config, folder)
        other_run = kind not in (None, stage) or (kind is None and bare)
        if other_run:
            own = folder / str(stage)
            if is_rank_zero():
                held = KINDS.get(kind or "fit", "another run")
                print(
                    f"{folder} holds {held}: stage={stage} writes into {own} and leaves that "
                    f"run's files as they are.",
                    flush=True,
                )
            folder = own
            with read_write(config.hydra.run), open_dict(config.hydra.run):
                config.hydra.run.dir = str(folder)
    held = held_checkpoints(config, folder)
    continuing = resume == "auto" or any(_same_file(config.get("ckpt_path"), p) for p in held)
    if held and not continuing:
        if not overwrite:
            shown = held[0].relative_to(folder) if held[0].is_relative_to(folder) else held[0]
            raise ConfigError(
                f"{folder} already holds a run ({shown}); add resume=auto to continue it, "
                f"overwrite=true to replace it, or choose another run_name"
            )
        if is_rank_zero():
            # last.ckpt and, from fine-tuning, best.ckpt: a checkpoint the new run has not yet
            # written over is the old run's.
            for path in [p.with_name(name) for p in held for name in REPLACED]:
                if path.is_file():
                    path.unlink()
                    print(f"overwrite=true: removed {path} of the earlier run.", flush=True)
    return folder


class RunFolderGuard(Callback):
    """Hydra callback: `settle_run_folder` before Hydra makes the run's folder.

    Hydra turns an exception raised in a callback into a warning and runs the job anyway, so
    an input error ends the command here, as every input error does: `error: <message>` on
    stderr and exit status 2; a bug ends it with its traceback and status 1."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            settle_run_folder(config)
        except UserInputError as err:
            report_input_error(str(err))
            sys.exit(INPUT_ERROR_STATUS)
        except Exception:  # noqa: BLE001 -- Hydra would swallow it and write over the folder
            traceback.print_exc()
            sys.exit(1)
