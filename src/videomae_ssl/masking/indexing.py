"""Turning boolean masks into index tensors, so models and losses gather with static shapes."""

from __future__ import annotations

from typing import NamedTuple

import torch


class TokenIndices(NamedTuple):
    """Which tokens each stage of the pretraining model sees, computed once per step.

    visible: (B, N_vis) the encoder's tokens, ascending.
    decoded: (B, K) the positions the decoder gets a mask token for and predicts, ascending:
        the encoder-masked tokens, or with decoder masking (VideoMAE V2) every token the decoder
        mask leaves visible, encoder-visible ones included.
    loss_mask: Bool[B, K] the decoded positions that enter the loss (hidden from the encoder),
        or None when all of them do.
    """

    visible: torch.Tensor
    decoded: torch.Tensor
    loss_mask: torch.Tensor | None = None


def _same_counts(counts: list[int], what: str) -> int:
    if len(set(counts)) > 1:
        raise ValueError(f"every sample must {what} the same number of tokens, got {counts}")
    return counts[0]


def mask_to_indices(
    mask: torch.Tensor, num_masked: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split each sample's token indices into visible and masked ones, each in ascending order.

    mask: Bool[B, N], True = hidden. Every sample must hide the same number of tokens (tube and
    random masking guarantee it). Returns ids_visible (B, N_vis) and ids_masked (B, N - N_vis).
    Given `num_masked`, nothing is read back from the mask's device, so the call compiles into
    one graph; without it the count is read (and checked) from the mask.
    """
    if num_masked is None:
        # The one host sync: the shapes below depend on it.
        num_masked = _same_counts(mask.sum(dim=1).tolist(), "mask")
    num_visible = mask.shape[1] - num_masked
    # A stable sort of 0 (visible) before 1 (masked) keeps the raster order within each group.
    ids = torch.argsort(mask.to(torch.int8), dim=1, stable=True)  # (B, N)
    return ids[:, :num_visible], ids[:, num_visible:]


def token_indices(mask: torch.Tensor, decoder_mask: torch.Tensor | None = None) -> TokenIndices:
    """The encoder's and the decoder's tokens of a batch, with at most one host sync.

    mask: Bool[B, N], True = hidden from the encoder. decoder_mask: Bool[B, N], True = not
    reconstructed (VideoMAE V2's decoder masking), or None: the decoder predicts exactly the
    encoder-masked tokens and every one enters the loss (VideoMAE). Call it where the masks are
    still on the host (e.g. before the batch moves to the accelerator) and the sync is free.
    """
    if decoder_mask is None:
        visible, masked = mask_to_indices(mask)
        return TokenIndices(visible, masked)
    counts = torch.stack((mask.sum(dim=1), decoder_mask.sum(dim=1))).tolist()  # one host sync
    num_masked = _same_counts(counts[0], "mask")
    num_skipped = _same_counts(counts[1], "leave out of reconstruction")
    visible, _ = mask_to_indices(mask, num_masked)
    decoded, _ = mask_to_indices(decoder_mask, num_skipped)  # decoder-visible first
    return TokenIndices(visible, decoded, torch.gather(mask, 1, decoded))


def token_coords(
    ids: torch.Tensor, grid: tuple[int, int, int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flat token indices (B, K) -> their (t, h, w) places on the (T', H', W') grid, each (B, K).

    With a batch index (B, 1) they pick tokens straight out of a (B, T', H', W', ...) view of a
    clip, copying only the tokens wanted.
    """
    _, h, w = grid
    return ids // (h * w), ids // w % h, ids % w


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """x: (B, N, D), ids: (B, K) -> (B, K, D)."""
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
