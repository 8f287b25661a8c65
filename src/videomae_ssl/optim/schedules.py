"""Learning-rate schedules as pure functions of the optimizer step."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(
    step: int,
    total_steps: int,
    warmup_steps: int,
    base_lr: float,
    min_lr: float,
    warmup_start_lr: float = 0.0,
) -> float:
    """Linear warmup from `warmup_start_lr` to `base_lr`, then cosine decay to `min_lr`.

    Per step, as the original VideoMAE `cosine_scheduler`: warmup step i (0-based) gets
    start + (base - start) * i / (warmup_steps - 1), so the last warmup step reaches `base_lr`;
    cosine step j of the remaining n steps gets min + (base - min) * (1 + cos(pi * j / n)) / 2.
    Steps past the end stay at the last value.
    """
    if step < warmup_steps:
        if warmup_steps == 1:  # np.linspace(start, base, 1) == [start], as in the original
            return warmup_start_lr
        return warmup_start_lr + (base_lr - warmup_start_lr) * step / (warmup_steps - 1)
    decay_steps = max(total_steps - warmup_steps, 1)
    j = min(step - warmup_steps, decay_steps - 1)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * j / decay_steps))


def scale_lr(lr: float, effective_batch: int, reference_batch: int = 256) -> float:
    """The linear scaling rule: lr grows with the effective batch (per device x devices x nodes
    x accumulation) relative to 256."""
    return lr * effective_batch / reference_batch


def warmup_cosine_scheduler(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int,
    base_lr: float,
    min_lr: float,
    warmup_start_lr: float = 0.0,
) -> LambdaLR:
    """`warmup_cosine` per optimizer step, as a scheduler scaling every group's initial lr (so
    groups keep their own ratios to `base_lr`, e.g. layer-wise lr decay)."""

    def factor(step: int) -> float:
        lr = warmup_cosine(step, total_steps, warmup_steps, base_lr, min_lr, warmup_start_lr)
        return lr / base_lr

    return LambdaLR(optimizer, factor)
