"""MVD's loss on teacher features, against its formula written out value by value
(engine_for_pretraining.py: LayerNorm without affine, eps 1e-6, on the teacher features;
nn.L1Loss / MSELoss / SmoothL1Loss with their default mean; image loss weighted plus video
loss weighted)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from videomae_ssl.errors import ConfigError
from videomae_ssl.loss.feature_targets import (
    Teacher,
    TeacherTarget,
    feature_loss,
    gather_tokens,
    normalize_features,
)


def plain_layer_norm(x):
    """x: (B, K, D) numpy -> each token standardised over D (biased variance, eps 1e-6)."""
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        for k in range(x.shape[1]):
            v = x[b, k]
            mean = sum(v) / len(v)
            var = sum((a - mean) ** 2 for a in v) / len(v)
            out[b, k] = [(a - mean) / math.sqrt(var + 1e-6) for a in v]
    return out


def plain_loss(pred, target, kind):
    """The mean over every value of the element-wise loss (SmoothL1 with beta 1)."""
    total, count = 0.0, 0
    for p, y in zip(pred.ravel(), target.ravel(), strict=True):
        d = float(p) - float(y)
        if kind == "l1":
            total += abs(d)
        elif kind == "l2":
            total += d * d
        else:
            total += 0.5 * d * d if abs(d) < 1 else abs(d) - 0.5
        count += 1
    return total / count


class Fixed(nn.Module):
    """A teacher whose features are given: (B, N, D) whatever the clip."""

    def __init__(self, features):
        super().__init__()
        self.register_buffer("features", features)

    def forward(self, video):
        return self.features


@pytest.mark.parametrize("kind", ["l1", "l2", "smooth_l1"])
@pytest.mark.parametrize("norm_feature", [True, False])
def test_the_loss_is_mvds_formula(kind, norm_feature):
    g = torch.Generator().manual_seed(0)
    b, n, k = 2, 6, 3
    image = torch.randn(b, n, 5, generator=g) * 3
    video = torch.randn(b, n, 4, generator=g) * 3 + 1
    ids = torch.tensor([[0, 2, 5], [1, 3, 4]])  # the masked tokens, ascending
    preds = [torch.randn(b, k, 5, generator=g), torch.randn(b, k, 4, generator=g)]
    target = TeacherTarget(
        [
            Teacher("image", Fixed(image), 0.7, 5, {}),
            Teacher("video", Fixed(video), 1.3, 4, {}),
        ],
        loss=kind,
        norm_feature=norm_feature,
    )
    feats = target.features(torch.zeros(b, 3, 4, 8, 8), ids)
    loss, parts = target.loss(preds, feats)

    want = 0.0
    for weight, source, pred in ((0.7, image, preds[0]), (1.3, video, preds[1])):
        x = source.numpy().astype(np.float64)
        if norm_feature:
            x = plain_layer_norm(x)
        masked = np.stack([x[i, ids[i].numpy()] for i in range(b)])  # MVD: feats[mask]
        want += weight * plain_loss(pred.numpy(), masked, kind)
    assert loss.item() == pytest.approx(want, rel=1e-5)
    assert set(parts) == {"image", "video"}


def test_with_a_loss_mask_the_kept_tokens_count():
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(2, 4, 3, generator=g), torch.randn(2, 4, 3, generator=g)
    keep = torch.tensor([[True, False, True, True], [False, True, False, False]])
    rows = [(pred[i, j], target[i, j]) for i in range(2) for j in range(4) if keep[i, j]]
    want = np.mean([plain_loss(p.numpy(), y.numpy(), "l1") for p, y in rows])
    assert feature_loss(pred, target, "l1", keep).item() == pytest.approx(want, rel=1e-6)
    # all kept: the plain mean over every value
    all_kept = feature_loss(pred, target, "l1", torch.ones(2, 4, dtype=torch.bool))
    assert all_kept.item() == pytest.approx(plain_loss(pred.numpy(), target.numpy(), "l1"))


def test_gather_and_norm_pieces():
    x = torch.arange(24.0).reshape(2, 4, 3)
    assert torch.equal(
        gather_tokens(x, torch.tensor([[3, 0], [1, 2]])), x[[[0, 0], [1, 1]], [[3, 0], [1, 2]]]
    )
    y = normalize_features(torch.tensor([[[1.0, 2.0, 3.0]]]))
    assert torch.allclose(y, torch.tensor([[[-1.0, 0.0, 1.0]]]) / math.sqrt(2 / 3 + 1e-6))


def test_no_teacher_and_an_unknown_loss_are_config_errors():
    with pytest.raises(ConfigError, match="no teacher set"):
        TeacherTarget([])
    with pytest.raises(ConfigError, match="target.loss=huber"):
        TeacherTarget([Teacher("video", Fixed(torch.zeros(1, 2, 3)), 1.0, 3, {})], loss="huber")
