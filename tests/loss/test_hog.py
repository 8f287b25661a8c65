"""MaskFeat's HOG target (`videomae_ssl.loss.hog`): golden values against a plain loop written
from the original code's formula, shapes, token selection and the config errors."""

import math

import numpy as np
import pytest
import torch

from videomae_ssl.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from videomae_ssl.errors import ConfigError
from videomae_ssl.loss.hog import HOGTarget, hog_dim, hog_targets

SOBEL_WEIGHTS = (1.0, 2.0, 1.0)


def reference_cells(image: np.ndarray, cell: int, bins: int) -> np.ndarray:
    """MaskFeat's HOG of one channel, pixel by pixel in float64: (H, W) -> (H/cell, W/cell,
    bins). SlowFast's HOGLayerC written plainly: reflect padding by 1, Sobel gradients
    gx = sum_r w_r (I[i+r, j] - I[i+r, j+2]), gy = sum_c w_c (I[i, j+c] - I[i+2, j+c]) on the
    padded image, bin floor(atan2(gx, gy) / pi * bins) mod bins, the magnitude summed per cell,
    each cell's histogram divided by max(its L2 norm, 1e-12)."""
    h, w = image.shape
    pad = np.pad(image, 1, mode="reflect")
    hist = np.zeros((h // cell, w // cell, bins))
    for i in range(h):
        for j in range(w):
            gx = sum(SOBEL_WEIGHTS[r] * (pad[i + r, j] - pad[i + r, j + 2]) for r in range(3))
            gy = sum(SOBEL_WEIGHTS[c] * (pad[i, j + c] - pad[i + 2, j + c]) for c in range(3))
            k = math.floor(math.atan2(gx, gy) / math.pi * bins) % bins
            hist[i // cell, j // cell, k] += math.hypot(gx, gy)
    norm = np.sqrt((hist**2).sum(axis=-1, keepdims=True))
    return hist / np.maximum(norm, 1e-12)


def reference_targets(video: np.ndarray, p: int, q: int, cell: int, bins: int) -> np.ndarray:
    """(C, T, H, W) -> (N, D): per token in (t, h, w) raster order, the cells of its patch in
    the first frame of its tubelet, in (channel, bin, cell row, cell column) order."""
    c, t, h, w = video.shape
    n = p // cell
    rows = []
    cells = {
        (f, ch): reference_cells(video[ch, f], cell, bins)
        for f in range(0, t, q)
        for ch in range(c)
    }
    for ti in range(t // q):
        for hi in range(h // p):
            for wi in range(w // p):
                token = []
                for ch in range(c):
                    block = cells[(ti * q, ch)][hi * n : (hi + 1) * n, wi * n : (wi + 1) * n]
                    token.append(block.transpose(2, 0, 1).reshape(-1))  # (bins, n, n)
                rows.append(np.concatenate(token))
    return np.stack(rows)


def integer_video(seed: int, shape=(2, 3, 4, 32, 32)) -> torch.Tensor:
    """Small integer pixel values: the gradients are exact in float32, and no orientation falls
    so near a bin edge that float32 and float64 could disagree on its bin."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 16, shape, generator=g).float()


@pytest.mark.parametrize(("patch", "cell", "bins"), [(16, 8, 9), (8, 8, 9), (8, 4, 6)])
def test_matches_a_plain_loop_of_maskfeats_formula(patch, cell, bins):
    """Golden values. Not scikit-image's `hog`: its convention differs from MaskFeat's in every
    step but the pooling (central differences [-1, 0, 1] with zero gradients on the border
    instead of Sobel on a reflect-padded image; the angle measured from the x axis,
    arctan2(g_row, g_col), which puts the bin edges half a bin away from MaskFeat's
    atan2(gx, gy); each cell's mean instead of its sum and an eps in the norm), so the
    reference is the original code's formula written as a loop over pixels in numpy."""
    video = integer_video(patch + cell + bins)
    got = hog_targets(video, patch_size=patch, tubelet_size=2, cell_size=cell, bins=bins)
    for b in range(video.shape[0]):
        want = reference_targets(video[b].double().numpy(), patch, 2, cell, bins)
        np.testing.assert_allclose(got[b].numpy(), want, rtol=1e-5, atol=1e-6)
    assert got.dtype == torch.float32
    assert got.shape == (2, 2 * (32 // patch) ** 2, hog_dim(patch, cell, bins))


def test_only_the_first_frame_of_a_tubelet_counts():
    video = integer_video(1)
    changed = video.clone()
    changed[:, :, 1::2] = integer_video(2)[:, :, 1::2]  # the second frame of each tubelet
    assert torch.equal(hog_targets(video, 8, 2), hog_targets(changed, 8, 2))
    changed[:, :, 2] += integer_video(3)[:, :, 2]  # the first frame of the second tubelet
    diff = (hog_targets(video, 8, 2) - hog_targets(changed, 8, 2)).abs().sum(-1)  # (B, N)
    assert diff[:, :16].eq(0).all() and diff[:, 16:].gt(0).any()


def test_ids_select_the_same_rows_as_the_full_target():
    video = integer_video(4)
    ids = torch.tensor([[0, 7, 19, 31], [3, 4, 16, 30]])  # (B, K) on the (2, 4, 4) grid
    full = hog_targets(video, 8, 2)  # (B, N, D)
    rows = torch.arange(2).unsqueeze(1)
    torch.testing.assert_close(hog_targets(video, 8, 2, ids=ids), full[rows, ids])


def test_the_target_reads_the_normalised_video_as_its_pixels():
    """HOGTarget gets the batch's normalised video; each cell is L2-normalised per channel, so
    the target equals the HOG of the pixels in [0, 1]."""
    raw = torch.rand(2, 3, 4, 32, 32)
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    m, s = (torch.tensor(v).view(1, 3, 1, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    got = HOGTarget(cell_size=8, bins=9)((raw - m) / s, 8, 2, ids)
    torch.testing.assert_close(got, hog_targets(raw, 8, 2, ids=ids), rtol=1e-4, atol=1e-5)
    assert got.shape == (2, 3, 27) and not got.requires_grad


def test_each_cell_histogram_has_unit_norm_per_channel():
    got = hog_targets(torch.rand(1, 3, 2, 16, 16), 16, 2)  # (1, 1, 3 * 9 * 4)
    per_cell = got.reshape(3, 9, 4).norm(dim=1)  # (C, cells)
    torch.testing.assert_close(per_cell, torch.ones(3, 4))


@pytest.mark.parametrize(("cell", "bins"), [(5, 9), (0, 9), (8, 0)])
def test_a_bad_cell_or_bin_count_is_a_config_error_naming_the_keys(cell, bins):
    key = "target.bins" if bins < 1 else "target.cell_size"
    with pytest.raises(ConfigError, match=key):
        HOGTarget(cell_size=cell, bins=bins).dim(patch_size=16, tubelet_size=2)
    if cell and bins:  # the pure function checks too
        with pytest.raises(ConfigError, match="model.net.patch_size=16"):
            hog_targets(torch.rand(1, 3, 2, 32, 32), 16, 2, cell_size=cell, bins=bins)
