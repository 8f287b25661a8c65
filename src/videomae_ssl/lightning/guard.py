"""Skipping training steps whose loss is not finite, and stopping after too many in a row."""

from __future__ import annotations

import torch

from videomae_ssl.errors import TrainingError


class NonFiniteLoss:
    """Decides, at every training step, whether the loss is finite on every rank.

    A step whose loss is NaN or infinite on any rank is skipped on all of them (the module's
    training_step returns None: no backward, no optimizer step, so the weights and the
    checkpoints keep their last good values) and counted. After `max_in_a_row` such steps in a
    row, `check` raises TrainingError: the run stops with its last checkpoint intact.
    """

    def __init__(self, max_in_a_row: int = 10) -> None:
        if max_in_a_row < 1:
            raise ValueError(f"max_in_a_row must be >= 1, got {max_in_a_row}")
        self.max_in_a_row = max_in_a_row
        self.in_a_row = 0
        self.skipped = 0

    def check(self, loss: torch.Tensor, strategy: object, step: int) -> bool:
        """Whether to skip this step. `strategy` is the trainer's (its `reduce_boolean_decision`
        makes every rank take the same decision: a rank that skipped alone would leave the
        others waiting in the gradient all-reduce)."""
        # One host sync per step: the price of deciding before backward.
        bad = not bool(torch.isfinite(loss.detach()).all())
        bad = strategy.reduce_boolean_decision(bad, all=False)
        if not bad:
            self.in_a_row = 0
            return False
        self.in_a_row += 1
        self.skipped += 1
        if self.in_a_row >= self.max_in_a_row:
            raise TrainingError(
                f"the training loss was not finite (NaN or inf) for {self.in_a_row} steps in a "
                f"row, up to step {step}; the run stops, and its last checkpoint (written before "
                f"these steps, whose updates were all skipped) is kept. Lower optim.base_lr, or "
                f"raise model.max_non_finite_steps to wait longer."
            )
        return True
