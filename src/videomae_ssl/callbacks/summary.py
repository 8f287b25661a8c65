"""Prints what a run produced and how its loss moved, at the end of fit."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from videomae_ssl.visualize import NORM_PIX_NOTE, psnr_line


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
        ckpt = getattr(trainer.checkpoint_callback, "last_model_path", "")
        if ckpt:
            lines.append(f"  checkpoint: {ckpt}")
        for cb in trainer.callbacks:
            if getattr(cb, "latest", None) is not None:
                lines.append(f"  reconstructions: {cb.latest}")
        print("\n".join(lines), flush=True)
