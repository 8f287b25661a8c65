"""Reconstruction targets: tubelet pixels, optionally normalised per token (VideoMAE norm_pix).

Pure functions: no device moves, no gradient, always computed in float32.
"""

from __future__ import annotations

import torch

from videomae_ssl.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from videomae_ssl.masking.indexing import token_coords


def unnormalize(
    video: torch.Tensor,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> torch.Tensor:
    """Undo the input normalisation. video: (B, C, T, H, W) -> same shape, in [0, 1]."""
    m = torch.as_tensor(mean, dtype=video.dtype, device=video.device).view(1, -1, 1, 1, 1)
    s = torch.as_tensor(std, dtype=video.dtype, device=video.device).view(1, -1, 1, 1, 1)
    return video * s + m


def tubelets(
    video: torch.Tensor,
    patch_size: int = 16,
    tubelet_size: int = 2,
    ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Group pixels by token. video: (B, C, T, H, W) -> (B, N, tubelet * p * p, C), or with
    `ids` (B, K) only those tokens, (B, K, tubelet * p * p, C), copying nothing else.

    Tokens are in (t, h, w) raster order, the same order as the tubelet embedding; within a token
    the pixels are in (t, h, w) order.
    """
    b, c, t, h, w = video.shape
    p, q = patch_size, tubelet_size
    grid = (t // q, h // p, w // p)
    x = video.reshape(b, c, grid[0], q, grid[1], p, grid[2], p)  # (B, C, T', q, H', p, W', p)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # (B, T', H', W', q, p, p, C)
    if ids is None:
        return x.reshape(b, grid[0] * grid[1] * grid[2], q * p * p, c)  # (B, N, q*p*p, C)
    rows = torch.arange(b, device=ids.device).unsqueeze(1)  # (B, 1)
    x = x[(rows, *token_coords(ids, grid))]  # (B, K, q, p, p, C)
    return x.reshape(b, ids.shape[1], q * p * p, c)  # (B, K, q*p*p, C)


def untubelet(tokens: torch.Tensor, shape: tuple[int, ...], p: int, q: int) -> torch.Tensor:
    """Inverse of `tubelets`: (B, N, q*p*p, C) tokens -> the (B, C, T, H, W) video of `shape`."""
    b, c, t, h, w = shape
    x = tokens.reshape(b, t // q, h // p, w // p, q, p, p, c)  # (B, T', H', W', q, p, p, C)
    return x.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(b, c, t, h, w)


@torch.no_grad()
def pixel_targets(
    video: torch.Tensor,
    patch_size: int = 16,
    tubelet_size: int = 2,
    norm_pix: bool = True,
    eps: float = 1e-6,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Targets for every token. video: normalised (B, C, T, H, W) -> (B, N, q * p * p * C); with
    `ids` (B, K), e.g. `TokenIndices.decoded`, only for those tokens (B, K, q * p * p * C), the
    others are never computed.

    With norm_pix, each token is standardised per channel over its q*p*p pixels with the unbiased
    std and eps added to the std, as the original VideoMAE does (MAE on images differs: it
    normalises all channels jointly and adds eps to the variance). The channel index is fastest
    in the flattened output.
    """
    x = tubelets(video.float(), patch_size, tubelet_size, ids)  # (B, N|K, P, C)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)  # (C,)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device)  # (C,)
    x = x * s + m  # undo the input normalisation, per channel (the last dim)
    if norm_pix:
        sigma, mu = torch.var_mean(x, dim=-2, unbiased=True, keepdim=True)  # (B, N|K, 1, C)
        x = (x - mu) / (sigma.sqrt() + eps)
    return x.flatten(2)  # (B, N|K, P * C), channel fastest


class PixelTarget:
    """`target=pixel`: VideoMAE's target, the tubelet pixels of the decoded tokens
    (`pixel_targets`), normalised per token with `norm_pix` (`model.norm_pix_loss`)."""

    pixels = True

    def __init__(self, norm_pix: bool = True) -> None:
        self.norm_pix = bool(norm_pix)

    def dim(self, patch_size: int, tubelet_size: int, channels: int = 3) -> int:
        """The width of one token's target (the decoder head's output)."""
        return channels * tubelet_size * patch_size**2

    def __call__(
        self, video: torch.Tensor, patch_size: int, tubelet_size: int, ids: torch.Tensor
    ) -> torch.Tensor:
        """video: normalised (B, C, T, H, W), ids (B, K) -> (B, K, q * p * p * C)."""
        return pixel_targets(video, patch_size, tubelet_size, self.norm_pix, ids=ids)
