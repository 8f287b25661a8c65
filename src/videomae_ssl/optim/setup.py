"""What every LightningModule's `configure_optimizers` shares: the effective batch, the learning
rates scaled by it, the step counts of warmup and decay, and the optimizer with its per-step
warmup-cosine schedule in Lightning's format."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch

from videomae_ssl.optim.schedules import scale_lr, warmup_cosine_scheduler

# Builds the optimizer from parameter groups (a `functools.partial` of its class, as Hydra's
# `_partial_: true` gives); learning rate and weight decay are set per group.
OptimizerFactory = Callable[[Iterable[Any]], torch.optim.Optimizer]


def effective_batch(trainer: L.Trainer, batch_size: int) -> int:
    """Videos per optimizer step over all devices and nodes, with gradient accumulation."""
    return batch_size * trainer.world_size * trainer.accumulate_grad_batches


@dataclass(frozen=True)
class LrPlan:
    """The run's learning rates (per step, after scaling) and steps."""

    batch: int
    lr: float
    min_lr: float
    warmup_lr: float
    total_steps: int
    warmup_steps: int

    def batch_line(self, trainer: L.Trainer, batch_size: int) -> str:
        """E.g. "Effective batch 64 videos = 8 per device x 8 devices x 1 nodes x 1
        accumulation"."""
        t = trainer
        return (
            f"Effective batch {self.batch} videos = {batch_size} per device x {t.num_devices} "
            f"devices x {t.num_nodes} nodes x {t.accumulate_grad_batches} accumulation"
        )


def lr_plan(
    trainer: L.Trainer,
    batch_size: int,
    base_lr: float,
    min_lr: float,
    warmup_lr: float,
    warmup_epochs: float,
    scaled: bool = True,
) -> LrPlan:
    """Learning rates per 256 videos scaled by the effective batch (`scaled`; else as given),
    and the run's total and warmup optimizer steps (`warmup_epochs` of epochs of
    `num_training_batches / accumulation` steps, at most the total)."""
    batch = effective_batch(trainer, batch_size)
    lrs = [scale_lr(x, batch) if scaled else x for x in (base_lr, min_lr, warmup_lr)]
    total_steps = int(trainer.estimated_stepping_batches)
    steps_per_epoch = max(
        math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches), 1
    )
    warmup_steps = min(int(warmup_epochs * steps_per_epoch), total_steps)
    return LrPlan(batch, *lrs, total_steps, warmup_steps)


def optimizer_with_schedule(
    factory: OptimizerFactory, groups: Iterable[Any], plan: LrPlan
) -> dict[str, Any]:
    """The optimizer over `groups` at `plan.lr` (groups may carry their own "lr", e.g. layer
    decay) and the per-step warmup-cosine schedule, as `configure_optimizers` returns them."""
    optimizer = factory(groups, lr=plan.lr)
    scheduler = warmup_cosine_scheduler(
        optimizer, plan.total_steps, plan.warmup_steps, plan.lr, plan.min_lr, plan.warmup_lr
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
