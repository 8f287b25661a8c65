"""Prints what a run produced and how its loss moved, at the end of fit."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.utilities import rank_zero_only


class RunSummary(L.Callback):
    """Records the epoch-mean training loss and prints a short summary when fit ends."""

    def __init__(self) -> None:
        self.epoch_losses: list[float] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get("train/loss_epoch")
        if value is not None:
            self.epoch_losses.append(float(value))

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        lines = ["", "Run summary"]
        if self.epoch_losses:
            first, last = self.epoch_losses[0], self.epoch_losses[-1]
            change = 100 * (last - first) / first if first else 0.0
            trail = " ".join(f"{x:.3f}" for x in self.epoch_losses)
            lines.append(f"  train/loss per epoch: {trail}  ({change:+.0f}% first to last)")
        if "val/loss" in trainer.callback_metrics:
            lines.append(f"  val/loss: {float(trainer.callback_metrics['val/loss']):.4f}")
        ckpt = getattr(trainer.checkpoint_callback, "last_model_path", "")
        if ckpt:
            lines.append(f"  checkpoint: {ckpt}")
        for cb in trainer.callbacks:
            if getattr(cb, "latest", None) is not None:
                lines.append(f"  reconstructions: {cb.latest}")
        print("\n".join(lines), flush=True)
