"""Training-speed measurements for the loggers: the gradient norm, clips per second, the share of
step time spent waiting for data, and peak GPU memory."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.data import extract_batch_size


def clips_in(batch: Any) -> int:
    """Clips in a training batch: the length of its "video" (all views of a video count), else
    the first tensor's length, as Lightning infers a batch size."""
    video = batch.get("video") if isinstance(batch, dict) else None
    return len(video) if video is not None else extract_batch_size(batch)


class StepStats(L.Callback):
    """Logs, at every training batch:

    - `train/grad_norm`: the total L2 norm of the gradients over all parameters at the optimizer
      step, after gradient accumulation and the DDP all-reduce, before clipping (with fp16 loss
      scaling, unscaled);
    - `perf/clips_per_s`: clips per second over all ranks (this rank's batch x world size / step
      time);
    - `perf/data_wait`: the share of step time spent waiting for the next batch;
    - `perf/peak_memory_gib`: torch's peak allocated GPU memory so far (CUDA only).

    A step runs from the end of one batch to the end of the next: the time until the next batch
    starts is the wait (the loader's fetch, collation and the copy to the device), the rest the
    forward, backward and optimizer step. Time spent validating is left out; a checkpoint written
    between batches counts as waiting. The speed and the wait are means over the last `window`
    batches on this rank (rank 0's reach the loggers), so that a logged value is not one noisy
    step.
    """

    def __init__(self, window: int = 10) -> None:
        if window < 1:
            raise ValueError(f"window={window}: expected an integer >= 1")
        self.window = window
        self._steps: deque[tuple[float, float, int]] = deque(maxlen=window)  # (wait, step, clips)
        self._last_end: float | None = None
        self._batch_start = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The first batch's wait includes starting the loader's workers: it is waiting for data.
        self._last_end = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._last_end is not None:
            self._last_end = time.perf_counter()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        now = time.perf_counter()
        if self._last_end is None:
            self._last_end = now
            return
        wait, step = self._batch_start - self._last_end, now - self._last_end
        self._steps.append((wait, step, clips_in(batch) * trainer.world_size))
        self._last_end = now
        waits, steps, clips = (sum(column) for column in zip(*self._steps, strict=True))
        if steps > 0:
            pl_module.log("perf/clips_per_s", clips / steps, on_step=True, on_epoch=False)
            pl_module.log("perf/data_wait", waits / steps, on_step=True, on_epoch=False)
        if pl_module.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(pl_module.device) / 2**30
            pl_module.log("perf/peak_memory_gib", peak, on_step=True, on_epoch=False)

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if grads:
            # One fused reduction, no host sync: the logger reads the value when it writes.
            norm = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
            pl_module.log("train/grad_norm", norm, on_step=True, on_epoch=False)
