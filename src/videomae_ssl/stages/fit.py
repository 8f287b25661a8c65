"""A fit and/or test stage: fit (then test when `test_after_fit`), distill (a fit with a
teacher, `stages.distill`), or test `ckpt_path`; a probe stage goes to `stages.probe`."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from videomae_ssl.errors import ConfigError
from videomae_ssl.stages.build import (
    build_module,
    build_trainer,
    classifier_from_checkpoint,
    instantiate,
    lightning_logs_to_the_run_log,
    resume_checkpoint,
    say_on_rank_zero,
)
from videomae_ssl.stages.checks import check_inputs, fitting, testing


def run(cfg: DictConfig) -> dict[str, Any]:
    """One stage: fit (then test when `test_after_fit`), distill (a fit with a teacher,
    `stages.distill`), test `ckpt_path`, or probe `pretrained` (`stages.probe.run_probe`).
    Returns the test metrics (empty without a test) and, after fitting, the last value of every
    scalar the run logged and the last checkpoint's path."""
    check_inputs(cfg)
    if cfg.stage == "probe":
        from videomae_ssl.stages.probe import run_probe

        return run_probe(cfg)
    import lightning as L

    from videomae_ssl.data.datamodules import FinetuneDataModule

    lightning_logs_to_the_run_log()
    L.seed_everything(cfg.seed, workers=True)
    # The Trainer first: a setting the machine cannot honour (trainer=gpu without a GPU) stops
    # the run before the data is read.
    trainer = build_trainer(cfg)
    datamodule = instantiate(cfg.data, "data")
    tests = testing(cfg)
    if tests and not isinstance(datamodule, FinetuneDataModule):
        raise ConfigError(
            "testing needs a classifier and labelled data: use a fine-tuning experiment "
            "(e.g. experiment=ucf101_finetune), not a pretraining one."
        )
    fits = fitting(cfg)
    if fits:
        datamodule.validate_inputs("fit")
    if tests:
        datamodule.validate_inputs("test")
    built: dict[str, Any] = {}
    if cfg.stage == "test":
        built["net"], names = classifier_from_checkpoint(cfg)
        if datamodule.class_names is None and names is not None:
            datamodule.class_names = names
    if cfg.stage == "distill":
        from videomae_ssl.stages.distill import teacher_arguments

        built.update(teacher_arguments(cfg, datamodule))
    module = build_module(cfg, datamodule, **built)
    say_on_rank_zero(f"Run folder: {cfg.paths.output_dir}")
    result: dict[str, Any] = {}
    if fits:
        ckpt_path = resume_checkpoint(cfg)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        result.update(last_logged(trainer))
        result["checkpoint"] = getattr(trainer.checkpoint_callback, "last_model_path", "") or None
    if tests:
        trainer.test(module, datamodule=datamodule)
        result.update(module.test_result)
    return result


def last_logged(trainer: Any) -> dict[str, float]:
    """The last value of each scalar the run logged (`train/loss_epoch`, `val/top1`,
    `probe/knn_top1`, ...), as plain numbers."""
    return {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if getattr(value, "numel", lambda: 1)() == 1
    }
