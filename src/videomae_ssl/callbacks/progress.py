"""One printed line per epoch, readable in a terminal and in a log file alike."""

from __future__ import annotations

import time

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from videomae_ssl.console import say

# Metrics shown when logged, in this order.
SHOWN = ("train/loss_epoch", "val/loss", "val/top1", "val/top5", "val/top1_ema", "val/psnr_masked")


class EpochLine(L.Callback):
    """Prints `epoch 3/12  train/loss_epoch 0.1234  val/loss 0.1200  (14 s)` after each
    training epoch (rank 0), flushed, so runs whose output goes to a file (nohup, SLURM) show
    progress while they run, not only at the end; the run's train.log gets it too."""

    def __init__(self) -> None:
        self._start = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.monotonic()

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        for key in SHOWN:
            if key in metrics:
                value = float(metrics[key])
                if "/top" in key:
                    shown = f"{100 * value:.1f}%"
                elif "psnr" in key:
                    shown = f"{value:.1f} dB"
                else:
                    shown = f"{value:.4f}"
                parts.append(f"{key.replace('_epoch', '')} {shown}")
        parts.append(f"({time.monotonic() - self._start:.0f} s)")
        say("  ".join(parts))
