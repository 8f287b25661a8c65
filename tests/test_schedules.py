import math

import numpy as np
import pytest

from videomae_ssl.optim.schedules import scale_lr, warmup_cosine


def original_cosine_scheduler(base, final, steps_total, warmup_steps, start_warmup):
    """The original VideoMAE utils.cosine_scheduler, written out with numpy (the reference)."""
    warmup = np.linspace(start_warmup, base, warmup_steps) if warmup_steps > 0 else np.array([])
    iters = np.arange(steps_total - warmup_steps)
    cosine = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warmup, cosine))


@pytest.mark.parametrize("warmup", [0, 1, 5, 40])
def test_matches_original_schedule_at_every_step(warmup):
    total = 100
    ref = original_cosine_scheduler(1e-3, 1e-5, total, warmup, 1e-6)
    ours = [warmup_cosine(s, total, warmup, 1e-3, 1e-5, 1e-6) for s in range(total)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


def test_boundaries():
    total, warm, base, low = 1000, 100, 1.0, 0.01
    assert warmup_cosine(0, total, warm, base, low, 0.0) == 0.0
    assert warmup_cosine(warm - 1, total, warm, base, low) == base  # warmup ends at base
    assert warmup_cosine(warm, total, warm, base, low) == base  # cosine starts at base
    mid = warm + (total - warm) // 2
    assert math.isclose(warmup_cosine(mid, total, warm, base, low), (base + low) / 2)
    last = warmup_cosine(total - 1, total, warm, base, low)
    assert low < last < low + 1e-4
    assert warmup_cosine(total + 50, total, warm, base, low) == last


def test_linear_scaling_rule():
    assert scale_lr(1.5e-4, 2048) == pytest.approx(1.2e-3)
    assert scale_lr(1.5e-4, 256) == 1.5e-4
