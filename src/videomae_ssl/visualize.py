"""Pictures of what the model reconstructs: original, masked input and reconstruction."""

from __future__ import annotations

import torch

from videomae_ssl.loss.targets import tubelets, unnormalize


def _untubelet(tokens: torch.Tensor, shape: tuple[int, ...], p: int, q: int) -> torch.Tensor:
    """Inverse of `tubelets`: (B, N, q*p*p, C) -> (B, C, T, H, W)."""
    b, c, t, h, w = shape
    x = tokens.reshape(b, t // q, h // p, w // p, q, p, p, c)
    return x.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(b, c, t, h, w)


@torch.no_grad()
def reconstruct(
    video: torch.Tensor, mask: torch.Tensor, pred: torch.Tensor, patch_size: int,
    tubelet_size: int, norm_pix: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images in [0, 1] for display, each (B, C, T, H, W): the original clip, the encoder's input
    (hidden tokens greyed out) and the reconstruction (visible tokens pasted from the input).

    With norm_pix the model predicts standardised pixels; they are mapped back with each hidden
    token's own mean and std, as the VideoMAE authors do for their figures.
    """
    original = unnormalize(video.float())  # (B, C, T, H, W)
    tokens = tubelets(original, patch_size, tubelet_size)  # (B, N, P, C)
    b, n, p, c = tokens.shape
    predicted = pred.float().reshape(b, -1, p, c)  # (B, N_mask, P, C)
    if norm_pix:
        hidden = tokens[mask].reshape(b, -1, p, c)
        mu = hidden.mean(dim=-2, keepdim=True)
        sigma = hidden.var(dim=-2, unbiased=True, keepdim=True).sqrt()
        predicted = predicted * (sigma + 1e-6) + mu
    recon = tokens.clone()
    recon[mask] = predicted.reshape(-1, p, c)
    masked = tokens.clone()
    masked[mask] = 0.5
    shape = tuple(video.shape)
    return (
        original.clamp(0, 1),
        _untubelet(masked, shape, patch_size, tubelet_size).clamp(0, 1),
        _untubelet(recon, shape, patch_size, tubelet_size).clamp(0, 1),
    )


def frame_grid(
    original: torch.Tensor, masked: torch.Tensor, recon: torch.Tensor, num_frames: int = 4
) -> torch.Tensor:
    """One image (C, H', W'): per clip three rows (original, masked, reconstruction), each showing
    `num_frames` frames spread over the clip."""
    from torchvision.utils import make_grid

    t = original.shape[2]
    idx = torch.linspace(0, t - 1, min(num_frames, t)).round().long()
    rows = []
    for i in range(original.shape[0]):
        for clip in (original, masked, recon):
            rows.append(clip[i][:, idx].transpose(0, 1))  # (F, C, H, W)
    return make_grid(torch.cat(rows), nrow=len(idx), padding=2, pad_value=1.0)
