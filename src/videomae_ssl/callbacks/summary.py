"""Prints what a run produced and how its loss moved, at the end of fit."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from videomae_ssl.console import say
from videomae_ssl.viz.reconstruction import NORM_PIX_NOTE, psnr_line


def written_files(trainer: L.Trainer, config_path: str | None = None) -> list[str]:
    """`name: path` lines for what the run wrote and keeps: the last checkpoint, the latest
    reconstruction picture, the metrics and the composed config. Only what exists is listed:
    fast_dev_run, for one, writes no checkpoint, picture or metrics."""
    lines = []
    ckpt = getattr(trainer.checkpoint_callback, "last_model_path", "")
    if ckpt and Path(ckpt).is_file():
        lines.append(f"checkpoint: {ckpt}")
    for cb in trainer.callbacks:
        latest = getattr(cb, "latest", None)
        if latest is not None and Path(latest).is_file():
            lines.append(f"reconstructions: {latest}")
    # With fast_dev_run Lightning swaps the loggers for a DummyLogger, which writes nothing.
    for logger in trainer.loggers:
        if isinstance(logger, CSVLogger):
            lines.append(f"metrics: {Path(logger.experiment.metrics_file_path)}")
        elif isinstance(logger, TensorBoardLogger):
            lines.append(f"tensorboard: {logger.log_dir}")
    if config_path and Path(config_path).is_file():
        lines.append(f"config: {config_path}")
    return lines


class RunSummary(L.Callback):
    """Records the epoch-mean training loss and prints a short summary when fit ends: the loss
    per epoch, the validation loss and reconstruction PSNR, and where the checkpoint, pictures,
    metrics and `config_path` (the run's composed config) are."""

    def __init__(self, config_path: str | None = None) -> None:
        self.config_path = config_path
        self.epoch_losses: list[float] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get("train/loss_epoch")
        if value is not None:
            self.epoch_losses.append(float(value))

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        lines = ["", "Run summary"]
        metrics = trainer.callback_metrics
        if self.epoch_losses:
            first, last = self.epoch_losses[0], self.epoch_losses[-1]
            change = 100 * (last - first) / first if first else 0.0
            trail = " ".join(f"{x:.3f}" for x in self.epoch_losses)
            lines.append(f"  train/loss per epoch: {trail}  ({change:+.0f}% first to last)")
        if "val/loss" in metrics:
            lines.append(f"  val/loss: {float(metrics['val/loss']):.4f}")
        if "val/psnr_masked" in metrics and "val/psnr_mean_colour" in metrics:
            psnr = float(metrics["val/psnr_masked"]), float(metrics["val/psnr_mean_colour"])
            lines.append(f"  {psnr_line(*psnr)}")
            if pl_module.hparams.get("norm_pix_loss"):
                lines.append(f"    ({NORM_PIX_NOTE})")
        tracker = getattr(trainer.datamodule, "broken_tracker", None)
        if tracker is not None and tracker.count:
            where = f": {tracker.quarantine_file}" if tracker.quarantine_file else ""
            lines.append(
                f"  broken training videos replaced: {tracker.count} of {len(tracker.paths)}{where}"
            )
        lines += [f"  {line}" for line in written_files(trainer, self.config_path)]
        say("\n".join(lines))
