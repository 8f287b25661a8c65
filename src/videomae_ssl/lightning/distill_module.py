"""LightningModule for distilling a fine-tuned teacher classifier into a student classifier.

The fine-tuning module (`VideoClassificationModule`) with one change to the training loss: the
student learns from the teacher's predictions on the same clip (`loss.distillation`), mixed with
its loss against the labels. Data, augmentation, optimizer, schedule, EMA, validation and the
multi-view test are the fine-tuning's; only the student is validated, tested and saved.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from videomae_ssl.errors import ConfigError
from videomae_ssl.lightning.finetune_module import VideoClassificationModule
from videomae_ssl.lightning.step_log import finish_training_step
from videomae_ssl.loss.distillation import distillation_loss


class FrozenTeacher:
    """A classifier that only predicts: eval mode, no gradients, under no_grad.

    Deliberately not an `nn.Module` attribute of the LightningModule: its weights stay out of
    the state dict (the checkpoint records the teacher's file and hash instead), out of the
    optimizer, out of DDP's gradient buckets, and out of `LightningModule.train()`, which would
    switch its dropout and stochastic depth back on. It follows the clips to their device.

    A teacher trained at another input size sees the clip resized on the device (bilinearly,
    frame by frame); its frame count must be the student's (`stages.distill` checks it).
    """

    def __init__(self, net: nn.Module) -> None:
        self.net = net.eval().requires_grad_(False)
        self.img_size: int = net.img_size
        self.num_classes: int = net.num_classes

    @torch.no_grad()
    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        """video: (B, C, T, H, W), normalised (and augmented) as the student's -> logits
        (B, num_classes) in float32."""
        if next(self.net.parameters()).device != video.device:
            self.net.to(video.device)
        b, c, t, h, w = video.shape
        if (h, w) != (self.img_size, self.img_size):
            video = F.interpolate(
                video, size=(t, self.img_size, self.img_size), mode="trilinear", align_corners=False
            )  # (B, C, T, S, S): bilinear per frame, as the time size is kept
        return self.net(video).float()


class DistillationModule(VideoClassificationModule):
    """Fine-tuning of `net` (the student) with a distillation loss from `teacher`:
    (1 - alpha) x the label loss + alpha x the teacher term, the soft one (KL at `temperature`)
    or with `hard` DeiT's cross entropy against the teacher's top class.

    The teacher sees the student's training clip as the data module prepared it: normalised,
    erased and mixed (with Mixup/CutMix it predicts the mixed clip, as in DeiT). `teacher_file`
    and `teacher_sha256` are recorded in every checkpoint; a run resumed with another teacher
    file stops. `teacher=None` builds a module that tests and validates a distilled student
    (stage=test) but cannot train. Logs `train/label_loss` and `train/distill_loss` beside
    `train/loss`.
    """

    NOT_HYPERPARAMETERS = (*VideoClassificationModule.NOT_HYPERPARAMETERS, "teacher")

    def __init__(
        self,
        net: nn.Module,
        teacher: nn.Module | None = None,
        *,
        temperature: float = 1.0,
        alpha: float = 0.5,
        hard: bool = False,
        teacher_file: str | None = None,
        teacher_sha256: str | None = None,
        **finetune: Any,
    ) -> None:
        super().__init__(net, **finetune)
        if not temperature > 0:
            raise ConfigError(f"distill.temperature={temperature}: expected a number > 0.")
        if not 0 <= alpha <= 1:
            raise ConfigError(
                f"distill.alpha={alpha}: expected a number in [0, 1], the weight of the "
                f"teacher's term (1 - alpha weighs the label loss)."
            )
        self.teacher = FrozenTeacher(teacher) if teacher is not None else None
        if self.teacher is not None and self.teacher.num_classes != net.num_classes:
            raise ConfigError(
                f"distill.teacher={teacher_file}: predicts {self.teacher.num_classes} classes, "
                f"the student {net.num_classes}."
            )
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.hard = bool(hard)
        self.teacher_file = teacher_file
        self.teacher_sha256 = teacher_sha256

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        if self.teacher is None:
            raise ConfigError(
                "stage=distill needs a teacher: set distill.teacher=<fine-tuned classifier>."
            )
        video = batch["video"]  # (B, C, T, H, W)
        logits = self.training_logits(video, batch_idx)  # (B, num_classes)
        teacher_logits = self.teacher(video)  # (B, num_classes), no gradient
        label_loss = self.label_loss(logits, batch)
        loss, term = distillation_loss(
            logits,
            teacher_logits,
            label_loss,
            alpha=self.alpha,
            temperature=self.temperature,
            hard=self.hard,
        )
        lr = self.optimizers().param_groups[-1]["lr"]
        result = finish_training_step(self, self.non_finite, loss, batch, lr)
        if result is not None:
            bs = video.shape[0]
            self.log("train/label_loss", label_loss, sync_dist=True, batch_size=bs)
            self.log("train/distill_loss", term, sync_dist=True, batch_size=bs)
        return result

    def distill_record(self) -> dict[str, Any]:
        """What a checkpoint records of the distillation: the teacher's file and hash (its
        weights are not saved) and the loss settings."""
        return {
            "teacher": self.teacher_file,
            "teacher_sha256": self.teacher_sha256,
            "temperature": self.temperature,
            "alpha": self.alpha,
            "hard": self.hard,
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["videomae_ssl"]["distill"] = self.distill_record()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A resumed run must learn from the teacher it started with.
        recorded = (checkpoint.get("videomae_ssl") or {}).get("distill") or {}
        saved = recorded.get("teacher_sha256")
        if self.teacher is not None and saved and saved != self.teacher_sha256:
            raise ConfigError(
                f"distill.teacher={self.teacher_file}: not the teacher this run started with "
                f"({recorded.get('teacher')}, sha256 {saved[:16]}...; this file's is "
                f"{str(self.teacher_sha256)[:16]}...); resume with that teacher, or start a "
                f"new run."
            )
