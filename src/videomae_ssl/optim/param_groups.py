"""Optimizer parameter groups."""

from __future__ import annotations

from typing import Any

from timm.optim import param_groups_layer_decay, param_groups_weight_decay
from torch import nn


def weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups, as in VideoMAE: decay on weight matrices; none on biases, norms (any 1-D
    parameter) or the names in `model.no_weight_decay()` (the mask token)."""
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else ()
    return param_groups_weight_decay(model, weight_decay, no_weight_decay_list=skip)


def layer_decay_groups(
    model: nn.Module, lr: float, weight_decay: float, layer_decay: float
) -> list[dict[str, Any]]:
    """Fine-tuning groups (timm's `param_groups_layer_decay`, with the model's
    `group_matcher` for layer ids): each group's "lr" is `lr` x its "lr_scale",
    `layer_decay ** (top - layer)`; no weight decay on biases, norms (1-D) or the names in
    `model.no_weight_decay()`."""
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else ()
    groups = param_groups_layer_decay(
        model, weight_decay, no_weight_decay_list=skip, layer_decay=layer_decay
    )
    for group in groups:
        group["lr"] = lr * group["lr_scale"]
    return groups
