"""Printed progress lines, per epoch and every N steps, readable in a terminal and in a log file
alike."""

from __future__ import annotations

import math
import time
from typing import Any

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
        self._resumed = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A run resumed from a mid-epoch checkpoint continues that epoch without
        # `on_train_epoch_start`: its line times the part of the epoch this run trained.
        self._start = time.monotonic()
        self._resumed = True

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.monotonic()
        self._resumed = False

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
        resumed = ", resumed mid-epoch" if self._resumed else ""
        parts.append(f"({time.monotonic() - self._start:.0f} s{resumed})")
        say("  ".join(parts))


def _duration(seconds: float) -> str:
    """`1:02:03`, `4:05`: hours only when there are some."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StepLine(L.Callback):
    """Prints `step 150/3000  loss 0.8123  lr 1.50e-03  24.1 clips/s  data 12%  ETA 1:02:03`
    every `every_n_steps` optimizer steps (rank 0), flushed and also in train.log, like
    EpochLine. The speed and the data-wait share are callbacks.step_stats' (shown when that
    callback is on); the ETA extrapolates this run's mean step time since it started (or
    resumed) to the last step."""

    def __init__(self, every_n_steps: int = 50) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps={every_n_steps}: expected an integer >= 1")
        self.every_n_steps = every_n_steps
        self._start = 0.0
        self._start_step = 0
        self._last_step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.monotonic()
        self._start_step = self._last_step = trainer.global_step

    @rank_zero_only
    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        step = trainer.global_step
        # With gradient accumulation several batches end at the same optimizer step; none is
        # printed before this run's first step.
        if step % self.every_n_steps or step == self._last_step:
            return
        self._last_step = step
        say(self.line(trainer, step))

    def line(self, trainer: L.Trainer, step: int) -> str:
        total = trainer.estimated_stepping_batches  # max_steps, or what max_epochs amounts to
        finite = math.isfinite(total)
        parts = [f"step {step}/{int(total)}" if finite else f"step {step}"]
        metrics = trainer.callback_metrics
        if "train/loss" in metrics:
            parts.append(f"loss {float(metrics['train/loss']):.4f}")
        if "lr" in metrics:
            parts.append(f"lr {float(metrics['lr']):.2e}")
        if "perf/clips_per_s" in metrics:
            parts.append(f"{float(metrics['perf/clips_per_s']):.1f} clips/s")
        if "perf/data_wait" in metrics:
            parts.append(f"data {100 * float(metrics['perf/data_wait']):.0f}%")
        done = step - self._start_step
        if finite and done > 0:
            per_step = (time.monotonic() - self._start) / done
            parts.append(f"ETA {_duration(per_step * max(total - step, 0))}")
        return "  ".join(parts)
