"""Training entry point.

    python -m videomae_ssl.train experiment=demo
    python -m videomae_ssl.train experiment=k400_pretrain mask_ratio=0.95
    python -m videomae_ssl.train experiment=ucf101_finetune pretrained=<checkpoint>
    python -m videomae_ssl.train experiment=ucf101_finetune stage=test ckpt_path=<classifier>
    python -m videomae_ssl.train experiment=ucf101_probe pretrained=<checkpoint> probe=[knn,linear]
    python -m videomae_ssl.train experiment=ucf101_pipeline

Composes configs/ with Hydra and hands the config to the stages (`videomae_ssl.stages`): they
check the inputs before any work, build the Trainer, the data module and the LightningModule,
and fit, test or probe; pipeline experiments run several such stages in turn. Every error in
the input ends the command with one line `error: ...` on stderr and exit status 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from videomae_ssl.cli import INPUT_ERROR_STATUS, input_error, report_input_error
from videomae_ssl.console import LOG
from videomae_ssl.stages.fit import run
from videomae_ssl.stages.pipeline import optimized_value, run_pipeline


def config_dir() -> str:
    """The configs: inside the installed package (a wheel ships configs/ as videomae_ssl/configs,
    see pyproject.toml), else the source tree's top-level configs/ (a checkout or an editable
    install)."""
    package = Path(__file__).resolve().parent
    shipped = package / "configs"
    return str(shipped if shipped.is_dir() else package.parents[1] / "configs")


CONFIG_DIR = config_dir()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _hydra_main(cfg: DictConfig) -> dict[str, Any] | float:
    """One run or a pipeline; returns its result (a run's logged and test metrics and its
    checkpoint, or each pipeline stage's by name), or with `optimized_metric` that one value,
    which Hydra hands to a sweeper."""
    try:
        OmegaConf.resolve(cfg)
        result = run_pipeline(cfg) if cfg.get("pipeline") else run(cfg)
        metric = cfg.get("optimized_metric")
        return optimized_value(result, metric) if metric else result
    except Exception as err:
        # Caught here, inside the job: past this point Hydra logs "Error executing job" first.
        message = input_error(err)
        if message is None:
            raise
        LOG.error(f"error: {message}")  # to train.log
        report_input_error(message)
        sys.exit(INPUT_ERROR_STATUS)


def main() -> None:
    """The command: every error in the user's input, whoever finds it, ends the same way, with
    `error: <message>` on stderr and exit status 2 (see `videomae_ssl.cli.input_error`)."""
    # Hydra reports an error in composing the config (an override it cannot parse, an unknown
    # key, a missing option) itself, with its own wording and exit status 1; with
    # HYDRA_FULL_ERROR it raises it here instead.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        _hydra_main()
    except Exception as err:
        message = input_error(err)
        if message is None:
            raise
        report_input_error(message)
        sys.exit(INPUT_ERROR_STATUS)


if __name__ == "__main__":
    main()
