"""The masked reconstruction loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_loss(
    pred: torch.Tensor, target: torch.Tensor, loss_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error over the masked tokens, in float32.

    pred, target: (B, K, P). Visible tokens never enter: the model predicts only masked ones
    and `pixel_targets(..., ids=ids.decoded)` computes the targets of the same tokens. With
    VideoMAE V2's decoder masking the decoded tokens include encoder-visible ones; `loss_mask`
    Bool[B, K] (`TokenIndices.loss_mask`) then keeps the hidden ones: the mean over P of each
    kept token, averaged over the kept tokens.
    """
    if loss_mask is None:
        return F.mse_loss(pred.float(), target.float())
    per_token = (pred.float() - target.float()).pow(2).mean(dim=-1)  # (B, K)
    weight = loss_mask.to(per_token.dtype)  # (B, K)
    return (per_token * weight).sum() / weight.sum()
