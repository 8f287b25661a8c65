"""Turning a boolean mask into index tensors, so models and losses gather with static shapes."""

from __future__ import annotations

import torch


def mask_to_indices(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split each sample's token indices into visible and masked ones, each in ascending order.

    mask: Bool[B, N], True = hidden. Every sample must hide the same number of tokens (tube and
    random masking guarantee it). Returns ids_visible (B, N_vis) and ids_masked (B, N - N_vis).
    """
    counts = mask.sum(dim=1).tolist()  # the one host sync: the shapes below depend on it
    if len(set(counts)) > 1:
        raise ValueError(f"every sample must mask the same number of tokens, got {counts}")
    num_visible = mask.shape[1] - counts[0]
    # A stable sort of 0 (visible) before 1 (masked) keeps the raster order within each group.
    ids = torch.argsort(mask.to(torch.int8), dim=1, stable=True)  # (B, N)
    return ids[:, :num_visible], ids[:, num_visible:]


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """x: (B, N, D), ids: (B, K) -> (B, K, D)."""
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
