"""Knowledge distillation from a teacher classifier's predictions (Hinton et al. 2015; DeiT,
Touvron et al. 2021), as pure functions of the logits.

Soft distillation is DeiT's
    (1 - alpha) * label_loss + alpha * tau^2 * KL(softmax(z_t / tau) || softmax(z_s / tau)),
hard distillation DeiT's
    (1 - alpha) * label_loss + alpha * CE(z_s, argmax z_t).
One difference from DeiT's code: its KL is summed and divided by the number of logits (B x C,
"the legacy PyTorch behaviour", its issue 61), so its distillation term is the per-clip KL divided
by the class count. Here the KL is summed over the classes and averaged over the clips
(`reduction="batchmean"`, the divergence PyTorch's documentation calls correct), so that `alpha`
weighs two per-clip quantities of the same kind whatever the number of classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """tau^2 x KL(p_t || p_s) at temperature tau, summed over the classes and averaged over the
    clips, in float32. student_logits, teacher_logits: (B, C) -> a scalar.

    The tau^2 keeps the gradient's size independent of tau (Hinton et al.): the gradient of the
    softened KL with respect to the logits scales as 1 / tau^2.
    """
    log_p_s = F.log_softmax(student_logits.float() / temperature, dim=-1)  # (B, C)
    log_p_t = F.log_softmax(teacher_logits.float() / temperature, dim=-1)  # (B, C)
    kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    return kl * temperature**2


def hard_distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor
) -> torch.Tensor:
    """Cross entropy of the student against the teacher's top class (DeiT's hard distillation;
    no temperature), averaged over the clips. (B, C), (B, C) -> a scalar."""
    return F.cross_entropy(student_logits.float(), teacher_logits.argmax(dim=-1))


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    label_loss: torch.Tensor,
    *,
    alpha: float,
    temperature: float = 1.0,
    hard: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(1 - alpha) x `label_loss` + alpha x the distillation term; -> (total, distillation term).

    `label_loss` is the loss the student would train with alone (the fine-tuning's soft-target
    cross entropy on Mixup/CutMix and smoothed labels): alpha = 0 is fine-tuning, alpha = 1
    learns from the teacher only. The teacher's logits carry no gradient (detached here).
    """
    teacher_logits = teacher_logits.detach()
    if hard:
        term = hard_distillation_loss(student_logits, teacher_logits)
    else:
        term = soft_distillation_loss(student_logits, teacher_logits, temperature)
    return (1.0 - alpha) * label_loss + alpha * term, term
