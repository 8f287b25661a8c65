"""Mixup/CutMix for video batches (timm's Mixup rules, batch mode) and label smoothing alone:
the collates draw a `MixPlan` and the soft targets; `mix_clips` applies the plan on the
normalised batch on the device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from timm.data.mixup import Mixup, cutmix_bbox_and_lam, mixup_target

from videomae_ssl.data.clip_dataset import collate_views
from videomae_ssl.errors import ConfigError
from videomae_ssl.seeding import (
    draw_seed,
    preserved_global_rngs,
    seed_global_rngs,
    seeded_generator,
)


class MixPlan(NamedTuple):
    """How one batch is mixed with its reversed self: `lam`, the weight of each clip's own
    video, and the CutMix box (top, bottom, left, right), or None for Mixup."""

    lam: float
    box: tuple[int, int, int, int] | None = None


def mix_clips(video: torch.Tensor, plan: MixPlan) -> torch.Tensor:
    """Mix a batch with its reversed self as timm's Mixup (batch mode) does, in place.

    video: float (B, 3, T, H, W), contiguous -> the same tensor. CutMix pastes the box of clip
    B - 1 - i into clip i through every channel and frame; Mixup blends the whole clips.
    """
    if plan.lam == 1.0:
        return video
    if plan.box is not None:
        top, bottom, left, right = plan.box
        video[..., top:bottom, left:right] = video.flip(0)[..., top:bottom, left:right]
        return video
    flipped = video.flip(0).mul_(1.0 - plan.lam)
    return video.mul_(plan.lam).add_(flipped)


class MixupCutmixCollate:
    """A DataLoader collate_fn drawing Mixup/CutMix for video batches with timm's Mixup rules
    (batch mode).

    Items are dicts with "video" (3, T, H, W), "label" int and "index" (the dataset row). The
    batch gets "target", the smoothed soft targets (B, num_classes) of the mixed clips, and
    "mix", the `MixPlan` that `mix_clips` applies on the device once the batch is normalised:
    each clip mixed with the batch's reversed self. CutMix cuts one box through every frame.
    With both alphas set, each batch is CutMix with probability `switch_prob`, else Mixup.
    The draws are a function of (`seed`, the batch's indices), whatever the worker.
    Mixup pairs sample i with B - 1 - i, so the batch size must be even.
    """

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.1,
        prob: float = 1.0,
        seed: int = 0,
    ) -> None:
        if mixup_alpha <= 0 and cutmix_alpha <= 0:
            raise ConfigError(
                "Mixup/CutMix needs mixup_alpha > 0 or cutmix_alpha > 0; to train without "
                "mixing, do not use MixupCutmixCollate."
            )
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.seed = seed
        self.mixup = Mixup(
            mixup_alpha=mixup_alpha,
            cutmix_alpha=cutmix_alpha,
            prob=prob,
            switch_prob=switch_prob,
            mode="batch",
            correct_lam=True,
            label_smoothing=label_smoothing,
            num_classes=num_classes,
        )

    def plan(
        self,
        shape: Sequence[int],
        label: torch.Tensor,
        generator: torch.Generator | None,
    ) -> tuple[MixPlan, torch.Tensor]:
        """Draw the mixing of a batch of video shape (B, 3, T, H, W) with labels int (B,):
        (the plan, soft targets float (B, num_classes)).

        The same draws as timm's `Mixup._mix_batch`; for CutMix, lambda is corrected to the
        uncut area fraction, as timm does.
        """
        batch = shape[0]
        if batch % 2:
            raise ConfigError(
                f"Mixup/CutMix needs an even batch size, got {batch}: set the per-device batch "
                f"size to an even number and drop the last incomplete training batch "
                f"(drop_last=True)."
            )
        if label.numel() and (int(label.min()) < 0 or int(label.max()) >= self.num_classes):
            raise ConfigError(
                f"labels {label.tolist()} fall outside 0..{self.num_classes - 1}: set "
                f"num_classes to the dataset's number of classes."
            )
        seed = draw_seed(generator)
        box = None
        with preserved_global_rngs():
            seed_global_rngs(seed)
            lam, use_cutmix = self.mixup._params_per_batch()
            if lam != 1.0 and use_cutmix:
                corners, lam = cutmix_bbox_and_lam(
                    tuple(shape[-2:]),
                    lam,
                    ratio_minmax=self.mixup.cutmix_minmax,
                    correct_lam=self.mixup.correct_lam,
                )
                box = tuple(int(x) for x in corners)
        target = mixup_target(label, self.num_classes, float(lam), self.label_smoothing)
        return MixPlan(float(lam), box), target  # target: (B, num_classes)

    def mix(
        self, video: torch.Tensor, label: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Draw and apply at once: video float (B, 3, T, H, W), label int (B,) ->
        (mixed video (B, 3, T, H, W), soft targets float (B, num_classes), lambda)."""
        plan, target = self.plan(video.shape, label, generator)
        return mix_clips(video.contiguous(), plan), target, plan.lam

    def batch_generator(self, indices: Sequence[int]) -> torch.Generator:
        """The generator for a batch of these dataset rows."""
        return seeded_generator(self.seed, *indices)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = collate_views(items)
        if "index" not in batch:
            raise ValueError('MixupCutmixCollate needs an "index" entry in every item.')
        generator = self.batch_generator(batch["index"].tolist())
        batch["mix"], batch["target"] = self.plan(batch["video"].shape, batch["label"], generator)
        return batch


class SmoothLabelsCollate:
    """A DataLoader collate_fn for training without Mixup/CutMix: batches items (flattening
    repeated-sampling views) and adds "target", the label-smoothed one-hot labels
    (B, num_classes), so the loss is the same soft-target cross entropy either way."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.1) -> None:
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = collate_views(items)
        batch["target"] = mixup_target(batch["label"], self.num_classes, 1.0, self.label_smoothing)
        return batch
