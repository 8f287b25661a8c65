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


def resize_pos_table(
    table: torch.Tensor, src_grid: tuple[int, int, int], dst_grid: tuple[int, int, int]
) -> torch.Tensor:
    """A position table (T * H * W, D) on token grid `src_grid` -> (T2 * H2 * W2, D) on `dst_grid`.

    Rebuilding a 1-D table for a new token count would give old positions new meanings (token
    (t, h, w) moves when H or W changes). Instead each frame's (H, W) table is resized bicubically,
    then each spatial position is resized linearly along time, so space and time stay separate.
    An axis whose size is unchanged is copied exactly. Works for fixed and learned tables alike.
    """
    t, h, w = src_grid
    t2, h2, w2 = dst_grid
    if table.shape[0] != t * h * w:
        raise ValueError(f"table has {table.shape[0]} rows but grid {src_grid} has {t * h * w}")
    dim = table.shape[1]
    x = table.double().reshape(t, h, w, dim).permute(0, 3, 1, 2)  # (T, D, H, W)
    if (h, w) != (h2, w2):
        x = torch.nn.functional.interpolate(x, size=(h2, w2), mode="bicubic", align_corners=False)
    if t != t2:
        x = x.permute(2, 3, 1, 0).reshape(h2 * w2, dim, t)  # (H2 * W2, D, T)
        x = torch.nn.functional.interpolate(x, size=t2, mode="linear", align_corners=False)
        x = x.reshape(h2, w2, dim, t2).permute(3, 2, 0, 1)  # (T2, D, H2, W2)
    return x.permute(0, 2, 3, 1).reshape(t2 * h2 * w2, dim).to(table.dtype)  # (N2, D)
