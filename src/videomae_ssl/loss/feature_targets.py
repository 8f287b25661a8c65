"""Masked Video Distillation's target (Wang et al. 2023, MVD): the features frozen teachers
give each masked token, one decoder of the student per teacher.

The teachers themselves are modules built elsewhere (`videomae_ssl.checkpoints.teachers`):
here each is a callable from the student's normalised clip (B, C, T, H, W) to features on the
student's token grid (B, N, D), tokens in (t, h, w) raster order. The functions are pure: no
device moves, no gradient through a teacher, the loss in float32. docs/targets.md says which
detail follows which file of MVD's code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from videomae_ssl.errors import ConfigError

# MVD's choices (engine_for_pretraining.py: L1Loss, MSELoss, SmoothL1Loss with their defaults).
LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "l1": F.l1_loss,
    "l2": F.mse_loss,
    "smooth_l1": F.smooth_l1_loss,
}
# MVD's LayerNorm without affine on the teacher features (eps 1e-6, its nn.LayerNorm).
FEATURE_NORM_EPS = 1e-6


def check_loss(name: str) -> str:
    """The loss's name, or a ConfigError naming `target.loss` and the choices."""
    if name not in LOSSES:
        raise ConfigError(
            f"target.loss={name}: choose one of {', '.join(LOSSES)} (MVD: smooth_l1)."
        )
    return name


def gather_tokens(features: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """features (B, N, D), ids (B, K) -> the features of those tokens (B, K, D)."""
    return features.gather(1, ids.unsqueeze(-1).expand(-1, -1, features.shape[-1]))


def normalize_features(features: torch.Tensor) -> torch.Tensor:
    """Each token's features standardised over its D values (LayerNorm without affine, eps
    1e-6, biased variance as LayerNorm computes it). (B, K, D) -> (B, K, D), float32."""
    x = features.float()
    return F.layer_norm(x, (x.shape[-1],), eps=FEATURE_NORM_EPS)


def feature_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    loss: str = "smooth_l1",
    loss_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """One teacher's loss, in float32. pred, target: (B, K, D).

    Without `loss_mask`: the element-wise loss averaged over every value of every decoded token
    (B * K * D), as MVD's `nn.SmoothL1Loss()(input, target)` with its default mean. With VideoMAE
    V2's decoder masking, `loss_mask` Bool[B, K] keeps the encoder-hidden tokens: each kept
    token's mean over D, averaged over the kept tokens (the same value when all are kept).
    """
    values = LOSSES[check_loss(loss)](pred.float(), target.float(), reduction="none")  # (B,K,D)
    if loss_mask is None:
        return values.mean()
    per_token = values.mean(dim=-1)  # (B, K)
    weight = loss_mask.to(per_token.dtype)  # (B, K)
    return (per_token * weight).sum() / weight.sum()


@dataclass
class Teacher:
    """One frozen teacher: `role` (image or video), the module giving its features on the
    student's grid, its loss weight, the width of its features, and what the checkpoint records
    of it (`record`: the file and its sha256)."""

    role: str
    model: nn.Module
    weight: float
    dim: int
    record: dict[str, Any]


class TeacherTarget:
    """`target=teacher`: MVD's target. `teachers` in the order of the student's decoders (the
    image teacher's first when both are set, as MVD's student returns them); `features` gives
    each teacher's features of the decoded tokens, `loss` MVD's weighted sum of the per-teacher
    losses.

    Not an `nn.Module`: the LightningModule holding it does not register the teachers, so they
    are in neither its optimizer nor its state dict; `to` moves them with the module.
    """

    pixels = False

    def __init__(
        self, teachers: Sequence[Teacher], loss: str = "smooth_l1", norm_feature: bool = True
    ) -> None:
        if not teachers:
            raise ConfigError(
                "target=teacher: no teacher set; give target.video_teacher and/or "
                "target.image_teacher a checkpoint."
            )
        self.teachers = list(teachers)
        self.loss_name = check_loss(loss)
        self.norm_feature = bool(norm_feature)
        for teacher in self.teachers:
            teacher.model.requires_grad_(False)
            teacher.model.eval()

    @property
    def dims(self) -> tuple[int, ...]:
        """The width of each teacher's features: the student's decoders' outputs, in order."""
        return tuple(t.dim for t in self.teachers)

    def records(self) -> list[dict[str, Any]]:
        """What a checkpoint keeps of the teachers: role, file and sha256 of each."""
        return [{"role": t.role, **t.record} for t in self.teachers]

    def to(self, device: torch.device | str) -> TeacherTarget:
        for teacher in self.teachers:
            teacher.model.to(device)
        return self

    @torch.no_grad()
    def features(self, video: torch.Tensor, ids: torch.Tensor) -> list[torch.Tensor]:
        """video: normalised (B, C, T, H, W), ids (B, K) -> each teacher's features of those
        tokens [(B, K, D_i)], LayerNorm-ed without affine with `norm_feature`. The teachers run
        in eval mode on every token of the clip (they see no mask), as MVD's."""
        out = []
        for teacher in self.teachers:
            teacher.model.eval()
            x = gather_tokens(teacher.model(video), ids)  # (B, K, D_i)
            out.append(normalize_features(x) if self.norm_feature else x.float())
        return out

    def loss(
        self,
        preds: Sequence[torch.Tensor],
        targets: Sequence[torch.Tensor],
        loss_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """preds, targets: one (B, K, D_i) per teacher -> (sum of weight_i * loss_i, each
        teacher's unweighted loss by role)."""
        parts = {
            t.role: feature_loss(p, y, self.loss_name, loss_mask)
            for t, p, y in zip(self.teachers, preds, targets, strict=True)
        }
        total = sum(t.weight * parts[t.role] for t in self.teachers)
        return total, parts
