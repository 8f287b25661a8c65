"""The distillation loss against the formulas written plainly in numpy (DeiT's soft and hard
distillation, Hinton's tau^2), PyTorch's kl_div conventions, and DeiT's own normalisation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videomae_ssl.loss.distillation import (
    distillation_loss,
    hard_distillation_loss,
    soft_distillation_loss,
)


def logits(seed, shape=(4, 5), scale=3.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_soft(z_s, z_t, tau):
    """tau^2 x sum_c p_t (log p_t - log p_s), averaged over the rows."""
    p_s, p_t = np_softmax(z_s / tau), np_softmax(z_t / tau)
    per_clip = (p_t * (np.log(p_t) - np.log(p_s))).sum(axis=1)
    return tau**2 * per_clip.mean()


def np_hard(z_s, z_t):
    """Cross entropy of the student against the teacher's top class, averaged over the rows."""
    p_s = np_softmax(z_s)
    top = z_t.argmax(axis=1)
    return -np.log(p_s[np.arange(len(top)), top]).mean()


@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0])
def test_soft_term_is_tau_squared_kl_of_teacher_to_student_per_clip(tau):
    z_s, z_t = logits(0), logits(1)
    got = soft_distillation_loss(z_s, z_t, tau)
    expected = np_soft(z_s.double().numpy(), z_t.double().numpy(), tau)
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_soft_term_follows_kl_div_batchmean_and_is_deit_times_the_class_count():
    """PyTorch's kl_div(input=log p_s, target=p_t, "batchmean") is the same KL; DeiT's code sums
    and divides by B x C, a C times smaller term."""
    z_s, z_t, tau = logits(2, (6, 7)), logits(3, (6, 7)), 3.0
    torch_kl = F.kl_div(
        F.log_softmax(z_s / tau, dim=1), F.softmax(z_t / tau, dim=1), reduction="batchmean"
    )
    got = soft_distillation_loss(z_s, z_t, tau)
    torch.testing.assert_close(got, torch_kl * tau**2)
    p_s, p_t = np_softmax(z_s.double().numpy() / tau), np_softmax(z_t.double().numpy() / tau)
    deit = (p_t * (np.log(p_t) - np.log(p_s))).sum() * tau**2 / z_s.numel()
    assert float(got) == pytest.approx(deit * 7, rel=1e-5)


def test_soft_term_is_zero_for_the_teacher_itself_and_positive_otherwise():
    z = logits(4)
    assert float(soft_distillation_loss(z, z.clone(), 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(soft_distillation_loss(logits(5), z, 2.0)) > 0


def test_hard_term_is_cross_entropy_against_the_teachers_top_class():
    z_s, z_t = logits(6), logits(7)
    expected = np_hard(z_s.double().numpy(), z_t.double().numpy())
    assert float(hard_distillation_loss(z_s, z_t)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_total_mixes_label_loss_and_teacher_term_by_alpha(alpha, hard):
    z_s, z_t, tau = logits(8), logits(9), 2.0
    label_loss = torch.tensor(1.7)
    total, term = distillation_loss(z_s, z_t, label_loss, alpha=alpha, temperature=tau, hard=hard)
    zs, zt = z_s.double().numpy(), z_t.double().numpy()
    teacher = np_hard(zs, zt) if hard else np_soft(zs, zt, tau)
    assert float(term) == pytest.approx(teacher, rel=1e-5)
    assert float(total) == pytest.approx((1 - alpha) * 1.7 + alpha * teacher, rel=1e-5)


def test_the_teacher_logits_get_no_gradient_and_the_student_does():
    z_s = logits(10).requires_grad_(True)
    z_t = logits(11).requires_grad_(True)
    total, _ = distillation_loss(z_s, z_t, torch.tensor(0.0), alpha=1.0, temperature=2.0)
    total.backward()
    assert z_t.grad is None
    assert z_s.grad is not None and z_s.grad.abs().sum() > 0
    # d/dz_s of tau^2 KL / B = tau (p_s - p_t) / B: the tau^2 keeps the size of the gradient.
    p_s = np_softmax(z_s.detach().double().numpy() / 2.0)
    p_t = np_softmax(z_t.detach().double().numpy() / 2.0)
    np.testing.assert_allclose(z_s.grad.numpy(), 2.0 * (p_s - p_t) / 4, rtol=1e-4, atol=1e-7)
