"""MaskFeat's HOG target (Wei et al. 2022): per token, the histograms of oriented gradients of
its patch, as the original code (SlowFast's `HOGLayerC` and `_get_hog_label_3d`) computes them.

Pure functions: no device moves, no gradient, always computed in float32. docs/targets.md says
which implementation each detail follows and where the paper is silent.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from videomae_ssl.errors import ConfigError
from videomae_ssl.loss.targets import unnormalize
from videomae_ssl.masking.indexing import token_coords

# Sobel filters, as both MaskFeat implementations use (the paper says only "subtracting
# neighbouring pixels"). Applied as a cross-correlation: gx = left minus right column; the sign
# does not matter, orientations are unsigned.
SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))


def hog_dim(patch_size: int, cell_size: int = 8, bins: int = 9, channels: int = 3) -> int:
    """Values in one token's HOG target: channels * bins * (patch_size / cell_size) ** 2."""
    return channels * bins * (patch_size // cell_size) ** 2


def check_cells(patch_size: int, cell_size: int, bins: int) -> None:
    """A ConfigError naming the keys unless cells tile a patch and there is at least one bin."""
    if cell_size < 1 or patch_size % cell_size:
        raise ConfigError(
            f"target.cell_size={cell_size} must divide model.net.patch_size={patch_size}: a "
            "token's HOG target is the cells inside its patch (MaskFeat: 8 px cells, 16 px "
            "patches); set target.cell_size to a divisor of the patch size."
        )
    if bins < 1:
        raise ConfigError(f"target.bins={bins}: expected an integer >= 1 (MaskFeat: 9).")


@torch.no_grad()
def hog_cells(frames: torch.Tensor, cell_size: int = 8, bins: int = 9) -> torch.Tensor:
    """Cell histograms of images. frames: (B, C, H, W) -> (B, C, bins, H / cell, W / cell).

    Per channel: Sobel gradients on the image padded by reflection; each pixel votes its
    gradient magnitude into the bin of its unsigned orientation (hard assignment, `bins` bins of
    pi / bins over [0, pi), measured as atan2(gx, gy)); votes summed over each cell; each cell's
    histogram L2-normalised over its bins, per channel (no blocks). Invariant to a per-channel
    affine map with positive scale, so the input's normalisation does not matter.
    """
    x = frames.float()
    c = x.shape[1]
    kx = x.new_tensor(SOBEL_X).view(1, 1, 3, 3).repeat(c, 1, 1, 1)  # (C, 1, 3, 3)
    ky = kx.transpose(2, 3)  # (C, 1, 3, 3)
    x = F.pad(x, (1, 1, 1, 1), mode="reflect")  # (B, C, H + 2, W + 2)
    gx = F.conv2d(x, kx, groups=c)  # (B, C, H, W)
    gy = F.conv2d(x, ky, groups=c)  # (B, C, H, W)
    magnitude = torch.hypot(gx, gy)  # (B, C, H, W)
    # atan2 in [-pi, pi]; floor(...) mod bins folds the opposite direction onto the same bin.
    index = torch.floor(torch.atan2(gx, gy) / math.pi * bins).long() % bins  # (B, C, H, W)
    b, _, h, w = magnitude.shape
    votes = magnitude.new_zeros(b, c, bins, h, w)
    votes.scatter_add_(2, index.unsqueeze(2), magnitude.unsqueeze(2))  # (B, C, bins, H, W)
    s = cell_size
    cells = votes.reshape(b, c, bins, h // s, s, w // s, s).sum(dim=(4, 6))  # (B, C, bins, h, w)
    return F.normalize(cells, p=2, dim=2)


@torch.no_grad()
def hog_targets(
    video: torch.Tensor,
    patch_size: int = 16,
    tubelet_size: int = 2,
    ids: torch.Tensor | None = None,
    cell_size: int = 8,
    bins: int = 9,
) -> torch.Tensor:
    """HOG targets. video: (B, C, T, H, W) -> (B, N, D) for every token, or with `ids` (B, K)
    (e.g. `TokenIndices.decoded`) only those tokens, (B, K, D); D = C * bins * (p / cell) ** 2.

    A token's target is the HOG of the first frame of its tubelet, as both MaskFeat video
    implementations take every `tubelet_size`-th frame; within a token the values are in
    (channel, bin, cell row, cell column) order, as theirs. Tokens are in (t, h, w) raster
    order, as `pixel_targets`.
    """
    check_cells(patch_size, cell_size, bins)
    b, c, t, h, w = video.shape
    p, q, n = patch_size, tubelet_size, patch_size // cell_size
    grid = (t // q, h // p, w // p)  # as `tubelets` does, from the clip's own shape
    frames = video[:, :, ::q].transpose(1, 2).reshape(b * grid[0], c, h, w)  # (B*T', C, H, W)
    cells = hog_cells(frames, cell_size, bins)  # (B*T', C, bins, H/cell, W/cell)
    x = cells.reshape(b, grid[0], c, bins, grid[1], n, grid[2], n)  # (B, T', C, bins, H', n, W', n)
    x = x.permute(0, 1, 4, 6, 2, 3, 5, 7)  # (B, T', H', W', C, bins, n, n)
    d = c * bins * n * n
    if ids is None:
        return x.reshape(b, grid[0] * grid[1] * grid[2], d)  # (B, N, D)
    rows = torch.arange(b, device=ids.device).unsqueeze(1)  # (B, 1)
    return x[(rows, *token_coords(ids, grid))].reshape(b, ids.shape[1], d)  # (B, K, D)


class HOGTarget:
    """`target=hog`: MaskFeat's HOG of the decoded tokens. Called, as `PixelTarget`, with the
    batch's normalised video, which it unnormalises first (the HOG does not depend on it, but
    the target is then that of the pixels the user sees)."""

    pixels = False

    def __init__(self, cell_size: int = 8, bins: int = 9) -> None:
        self.cell_size = int(cell_size)
        self.bins = int(bins)

    def dim(self, patch_size: int, tubelet_size: int, channels: int = 3) -> int:
        """The width of one token's target (the decoder head's output)."""
        check_cells(patch_size, self.cell_size, self.bins)
        return hog_dim(patch_size, self.cell_size, self.bins, channels)

    def __call__(
        self, video: torch.Tensor, patch_size: int, tubelet_size: int, ids: torch.Tensor
    ) -> torch.Tensor:
        """video: normalised (B, C, T, H, W), ids (B, K) -> (B, K, D)."""
        raw = unnormalize(video.float())  # (B, C, T, H, W), in [0, 1]
        return hog_targets(raw, patch_size, tubelet_size, ids, self.cell_size, self.bins)
