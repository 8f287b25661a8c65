"""LightningModules of frozen evaluation: feature extraction (`trainer.predict`) and the
attentive probe (trained with `trainer.fit`, tested with the multi-view protocol).

Glue only: the frozen encoder (`probe.encoder`), the heads (`probe.heads`), the gather
(`probe.features`), the multi-view metric and the warmup-cosine schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from videomae_ssl.evaluation import MultiViewAccuracy
from videomae_ssl.optim.param_groups import weight_decay_groups
from videomae_ssl.optim.setup import lr_plan, optimizer_with_schedule
from videomae_ssl.probe.encoder import FrozenEncoder
from videomae_ssl.probe.features import (
    FeatureSet,
    batch_rows,
    gather_rows,
    order_rows,
    stack_rows,
)
from videomae_ssl.probe.heads import AttentiveProbe


class FeatureExtractor(L.LightningModule):
    """Pooled features of every view of the lists `splits`, one prediction loader each, in
    that order.

    `trainer.predict(extractor, datamodule=dm)` runs the frozen encoder over each loader (in
    the trainer's precision: bf16 autocast on GPUs); afterwards `features[split]` holds a
    `FeatureSet` of the views of that list, ordered and gathered from every rank, the same on
    every rank. Whether each view came exactly once is checked here for repeats; the number
    of views a list should give is the data module's to know (`feature_views`).
    """

    def __init__(self, encoder: FrozenEncoder, splits: Sequence[str]) -> None:
        super().__init__()
        self.encoder = encoder
        self.splits = list(splits)
        self.features: dict[str, FeatureSet] = {}
        self._rows: dict[str, list[dict[str, torch.Tensor]]] = {}

    def on_predict_epoch_start(self) -> None:
        self._rows = {split: [] for split in self.splits}
        self.features = {}

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        features = self.encoder(batch["video"]).float()  # (B, D)
        self._rows[self.splits[dataloader_idx]].append(batch_rows(features, batch))

    def on_predict_epoch_end(self) -> None:
        device = self.encoder.pos_embed.device
        for split in self.splits:
            rows = stack_rows(self._rows[split], self.encoder.embed_dim, device)
            self.features[split] = order_rows(gather_rows(self.trainer.strategy, rows))
        self._rows = {}


class AttentiveProbeModule(L.LightningModule):
    """V-JEPA's attentive probe on a frozen encoder: the encoder's tokens, computed without
    gradients, feed an `AttentiveProbe`, the only trained part.

    Training batches: "video", "label" (cross entropy); validation: one view per video
    (`val/loss`, `val/top1`, `val/top5`); test: every view with "video_id" and "view_id",
    softmax per view averaged per video (`test/top1`, `test/top5`, and `test_scores` for the
    report), exact under DDP. AdamW at `lr` (not scaled by the batch, as V-JEPA), weight decay
    on weight matrices only, a linear warmup of `warmup_epochs` from 0 (none by default, as
    V-JEPA) then a per-step cosine to `min_lr`. Checkpoints hold the probe, not the frozen encoder (it comes from
    `pretrained=`).
    """

    strict_loading = False  # checkpoints leave out the frozen encoder

    def __init__(
        self,
        encoder: FrozenEncoder,
        num_classes: int,
        num_heads: int | None = None,
        lr: float = 1e-3,
        min_lr: float = 0.0,
        warmup_epochs: float = 0.0,
        weight_decay: float = 0.01,
        test_views: int | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["encoder", "class_names"])
        self.encoder = encoder
        heads = num_heads or encoder.blocks[0].attn.num_heads
        self.probe = AttentiveProbe(encoder.embed_dim, heads, num_classes)
        self.class_names = [str(n) for n in class_names] if class_names is not None else None
        self.val_acc = nn.ModuleDict(
            {f"top{k}": MulticlassAccuracy(num_classes, top_k=min(k, num_classes)) for k in (1, 5)}
        )
        self.test_acc = MultiViewAccuracy(num_classes, expected_views=test_views)
        self.test_result: dict[str, float] = {}
        self.test_scores: Any = None

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """video: (B, C, T, H, W) normalised -> logits (B, num_classes)."""
        with torch.no_grad():
            tokens = self.encoder.forward_tokens(video)  # (B, N, D), no graph kept
        return self.probe(tokens)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = F.cross_entropy(self(batch["video"]).float(), batch["label"])
        bs = len(batch["label"])
        self.log("train/loss", loss, prog_bar=True, sync_dist=True, batch_size=bs)
        self.log(
            "train/loss_epoch", loss, on_step=False, on_epoch=True, sync_dist=True, batch_size=bs
        )
        self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits, label = self(batch["video"]).float(), batch["label"]
        bs = len(label)
        self.log("val/loss", F.cross_entropy(logits, label), sync_dist=True, batch_size=bs)
        for name, metric in self.val_acc.items():
            metric(logits, label)
            self.log(f"val/{name}", metric, prog_bar=name == "top1", batch_size=bs)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch["video"]).float()
        self.test_acc.update(logits, batch["label"], batch["video_id"], batch["view_id"])

    def on_test_epoch_end(self) -> None:
        result = self.test_acc.compute()  # gathered over ranks
        self.test_scores = self.test_acc.video_scores()
        self.test_result = {f"test/{key}": float(value) for key, value in result.items()}
        self.test_acc.reset()
        for key, value in self.test_result.items():
            self.log(key, value, sync_dist=True)  # the same on every rank

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        plan = lr_plan(self.trainer, 1, hp.lr, hp.min_lr, 0.0, hp.warmup_epochs, scaled=False)
        rank_zero_info(
            f"Attentive probe: lr {hp.lr:g} (not scaled by the batch), weight decay "
            f"{hp.weight_decay:g}; {plan.total_steps} steps, {plan.warmup_steps} warmup."
        )
        groups = weight_decay_groups(self.probe, hp.weight_decay)
        return optimizer_with_schedule(torch.optim.AdamW, groups, plan)

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        state = super().state_dict(*args, **kwargs)
        prefix = kwargs.get("prefix", "")
        return {k: v for k, v in state.items() if not k.startswith(f"{prefix}encoder.")}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        names = dict(enumerate(self.class_names)) if self.class_names else None
        checkpoint["videomae_ssl"] = {"kind": "attentive_probe", "id2label": names}
