"""What the model reconstructs, for people: the three clips to display (original, masked
input, reconstruction) and the PSNR of the hidden patches against a mean-colour baseline.

Used by the reconstruction callback every validation epoch and by `python -m
videomae_ssl.visualize`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from videomae_ssl.loss.targets import tubelets, unnormalize, untubelet


@torch.no_grad()
def reconstruct(
    video: torch.Tensor,
    mask: torch.Tensor,
    pred: torch.Tensor,
    patch_size: int,
    tubelet_size: int,
    norm_pix: bool = True,
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
        untubelet(masked, shape, patch_size, tubelet_size).clamp(0, 1),
        untubelet(recon, shape, patch_size, tubelet_size).clamp(0, 1),
    )


@torch.no_grad()
def motion_overlay(
    original: torch.Tensor, motion: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The motion map over the frames, for display -> (B, C, T, H, W) in [0, 1].

    original: (B, C, T, H, W) in [0, 1] (as `reconstruct` returns); motion: (B, T', H', W')
    per token (NaN: a slice without motion vectors); mask: Bool[B, N] or None. The frames are
    dimmed and each token tinted red by its motion (relative to the clip's strongest), a slice
    without vectors left grey; with `mask`, the hidden tokens' borders are drawn in white.
    """
    b, c, t, h, w = original.shape
    slices, rows, cols = motion.shape[1:]
    missing = torch.isnan(motion).flatten(2).all(dim=2)  # (B, T')
    level = motion.nan_to_num(0.0).clamp(min=0)  # (B, T', H', W')
    level = level / level.flatten(1).amax(dim=1).clamp(min=1e-6).view(b, 1, 1, 1)
    # Token values over pixels: each token repeated over its tubelet and its patch.
    heat = level.repeat_interleave(t // slices, 1)  # (B, T, H', W')
    heat = heat.repeat_interleave(h // rows, 2).repeat_interleave(w // cols, 3)  # (B, T, H, W)
    grey = original.mean(dim=1, keepdim=True)  # (B, 1, T, H, W)
    picture = (0.35 * grey).expand(b, c, t, h, w).clone()
    picture[:, 0] += 0.65 * heat
    gone = missing.repeat_interleave(t // slices, 1)  # (B, T)
    picture[gone[:, None].expand(b, c, t)] = 0.5
    if mask is not None:
        hidden = mask.view(b, slices, rows, cols).repeat_interleave(t // slices, 1).float()
        hidden = hidden.repeat_interleave(h // rows, 2).repeat_interleave(w // cols, 3)
        inner = F.max_pool2d(-hidden.flatten(0, 1)[:, None], 3, 1, 1)[:, 0].neg()  # erosion
        edge = (hidden - inner.view_as(hidden)) > 0  # (B, T, H, W) the hidden tokens' borders
        picture.masked_fill_(edge[:, None].expand_as(picture), 1.0)
    return picture.clamp(0, 1)


def _psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB for pixels in [0, 1]: 10 log10(1 / mse)."""
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


@torch.no_grad()
def masked_psnr(
    video: torch.Tensor,
    mask: torch.Tensor,
    pred: torch.Tensor,
    patch_size: int,
    tubelet_size: int,
    norm_pix: bool = True,
) -> tuple[float, float]:
    """(PSNR of the reconstruction, PSNR of each clip's mean colour) over the hidden tokens, dB.

    Pixels are compared in [0, 1] after undoing the input normalisation, the reconstruction
    clipped to that range as it is displayed; the MSE is averaged over every hidden pixel and
    channel of the batch. The baseline predicts each hidden pixel by its clip's mean colour (per
    channel, over the whole clip): a reconstruction must beat it to have learnt more than colour.
    video: normalised (B, C, T, H, W); mask: Bool[B, N], True = hidden; pred: (B, N_mask, P*C).
    """
    original, _, recon = reconstruct(video, mask, pred, patch_size, tubelet_size, norm_pix)
    target = tubelets(original, patch_size, tubelet_size)  # (B, N, P, C)
    hidden = target[mask]  # (M, P, C)
    predicted = tubelets(recon, patch_size, tubelet_size)[mask]  # (M, P, C)
    mean_colour = original.mean(dim=(2, 3, 4))[:, None, None, :]  # (B, 1, 1, C)
    baseline = mean_colour.expand_as(target)[mask]  # (M, P, C)
    return (
        _psnr(float(F.mse_loss(predicted, hidden))),
        _psnr(float(F.mse_loss(baseline, hidden))),
    )


def psnr_line(masked: float, mean_colour: float) -> str:
    """The sentence the command and the run summary print."""
    return (
        f"masked-patch PSNR: {masked:.1f} dB (predicting each clip's mean colour: "
        f"{mean_colour:.1f} dB)"
    )


# With the normalised-pixel target, pixels are recovered with each hidden patch's own mean and
# std (ground truth the model never saw), so even an untrained model beats the colour baseline.
NORM_PIX_NOTE = (
    "normalised-pixel target: the reconstruction takes each hidden patch's true mean and std, "
    "so compare this PSNR across checkpoints rather than with the baseline"
)
