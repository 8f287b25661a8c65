"""The target against a plainly written, loop-based reading of the original VideoMAE code."""

import math

import torch

from videomae_ssl.loss import pixel_targets, reconstruction_loss
from videomae_ssl.masking import gather_tokens, token_indices, tube_mask

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def reference_targets(video, p, q, norm_pix, eps=1e-6):
    """One token at a time: undo the normalisation, take the q*p*p pixels of each channel in
    (t, h, w) order, standardise each channel with the unbiased std (eps on the std), then
    interleave channels so the channel index is fastest."""
    b, c, t, h, w = video.shape
    out = []
    for bi in range(b):
        tokens = []
        for ti in range(t // q):
            for hi in range(h // p):
                for wi in range(w // p):
                    chans = []
                    for ci in range(c):
                        block = video[
                            bi,
                            ci,
                            ti * q : (ti + 1) * q,
                            hi * p : (hi + 1) * p,
                            wi * p : (wi + 1) * p,
                        ]
                        vals = (block.double() * STD[ci] + MEAN[ci]).reshape(-1)  # (t, h, w) order
                        if norm_pix:
                            n = vals.numel()
                            mu = sum(vals.tolist()) / n
                            var = sum((v - mu) ** 2 for v in vals.tolist()) / (n - 1)
                            vals = (vals - mu) / (math.sqrt(var) + eps)
                        chans.append(vals)
                    tokens.append(torch.stack(chans, dim=1).reshape(-1))  # channel fastest
        out.append(torch.stack(tokens))
    return torch.stack(out)


def test_norm_pix_target_matches_reference():
    torch.manual_seed(0)
    video = torch.randn(2, 3, 4, 8, 12)
    ours = pixel_targets(video, patch_size=4, tubelet_size=2, norm_pix=True)
    ref = reference_targets(video, 4, 2, True)
    assert ours.shape == (2, 2 * 2 * 3, 2 * 4 * 4 * 3)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=1e-5)


def test_raw_target_matches_reference():
    torch.manual_seed(1)
    video = torch.randn(1, 3, 4, 8, 8)
    torch.testing.assert_close(
        pixel_targets(video, 4, 2, norm_pix=False).double(),
        reference_targets(video, 4, 2, False),
        atol=1e-6,
        rtol=1e-6,
    )


def test_eps_is_added_to_the_std_not_the_variance():
    # A constant token has zero spread; with eps on the std the result is exactly 0.
    video = torch.zeros(1, 3, 2, 4, 4)
    video[..., :2] = 1.0  # half the token at one value, half at another
    t = pixel_targets(video, 4, 2)
    # Spread of two values: unbiased std s; output magnitude (x-mu)/(s+eps) for every pixel.
    x = video[0, 0].flatten().double() * STD[0] + MEAN[0]
    s = x.std(unbiased=True).item()
    expected = (x.max().item() - x.mean().item()) / (s + 1e-6)
    assert abs(t.abs().max().item() - expected) < 1e-5
    # With a small spread, eps on the std (VideoMAE) and eps inside the sqrt (MAE) differ a lot.
    small = torch.zeros(1, 3, 2, 4, 4)
    small[..., :2] = 1e-2
    v = pixel_targets(small, 4, 2)[0, 0, 0].item()
    y = small[0, 0].flatten().double() * STD[0] + MEAN[0]
    videomae = (y[0] - y.mean()).item() / (y.std().item() + 1e-6)
    mae = (y[0] - y.mean()).item() / math.sqrt(y.var().item() + 1e-6)
    assert abs(v - videomae) < 1e-3
    assert abs(v - mae) > 0.1


def test_target_has_no_gradient():
    video = torch.randn(1, 3, 2, 4, 4, requires_grad=True)
    assert not pixel_targets(video, 4, 2).requires_grad


def test_loss_ignores_visible_tokens():
    torch.manual_seed(2)
    mask = torch.stack(
        [tube_mask((2, 3, 3), 0.5, torch.Generator().manual_seed(s)) for s in range(2)]
    )
    targets = torch.randn(2, 18, 7)
    pred = torch.randn(2, int(mask[0].sum()), 7)
    hidden = token_indices(mask).decoded  # (B, K): what the model predicts
    loss = reconstruction_loss(pred, gather_tokens(targets, hidden))
    changed = targets.clone()
    changed[~mask] = 1e3  # visible tokens: anything
    assert torch.equal(loss, reconstruction_loss(pred, gather_tokens(changed, hidden)))
    changed[mask] += 1.0
    assert not torch.equal(loss, reconstruction_loss(pred, gather_tokens(changed, hidden)))
    torch.testing.assert_close(loss, ((pred - targets[mask].view(2, -1, 7)) ** 2).mean())


def test_untubelet_puts_every_pixel_back():
    from videomae_ssl.loss.targets import tubelets, untubelet

    video = torch.randn(2, 3, 4, 32, 48)
    tokens = tubelets(video, patch_size=16, tubelet_size=2)
    assert torch.equal(untubelet(tokens, tuple(video.shape), 16, 2), video)
    # One token holds the pixels of one tubelet: token 0 is the top-left 2x16x16 block.
    assert torch.equal(tokens[0, 0, :, 0], video[0, 0, :2, :16, :16].reshape(-1))
