"""Optimizer parameter groups."""

from __future__ import annotations

from typing import Any

from timm.optim import param_groups_weight_decay
from torch import nn


def weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups, as in VideoMAE: decay on weight matrices; none on biases, norms (any 1-D
    parameter) or the names in `model.no_weight_decay()` (the mask token)."""
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else ()
    return param_groups_weight_decay(model, weight_decay, no_weight_decay_list=skip)
