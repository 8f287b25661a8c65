"""Fixed sinusoid position tables, as in VideoMAE (not parameters, never in a checkpoint)."""

from __future__ import annotations

import torch


def sinusoid_table(num_positions: int, dim: int) -> torch.Tensor:
    """1-D sinusoid table over a flattened token index, computed in float64.

    Channel j of position p holds p / 10000^(2 * (j // 2) / dim), through sin on even j and cos on
    odd j (interleaved, not concatenated halves). Returns float32 (num_positions, dim).
    """
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (P, 1)
    j = torch.arange(dim, dtype=torch.float64)  # (D,)
    angle = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / dim)  # (P, D)
    table = torch.empty_like(angle)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.float()
