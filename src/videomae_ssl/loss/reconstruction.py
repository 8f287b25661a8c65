"""The masked reconstruction loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from videomae_ssl.masking.indexing import gather_tokens, mask_to_indices


def masked_targets(targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Keep the hidden tokens, in ascending order. targets: (B, N, P), mask: Bool[B, N] ->
    (B, N_masked, P), aligned with the model's predictions."""
    _, ids_masked = mask_to_indices(mask)
    return gather_tokens(targets, ids_masked)


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked tokens, in float32.

    pred, target: (B, N_masked, P). Visible tokens never enter: the model predicts only masked
    ones and `masked_targets` selects the same tokens.
    """
    return F.mse_loss(pred.float(), target.float())
