"""LightningModule for fine-tuning a VideoMAE classifier and testing it with the paper's protocol.

Glue only: the classifier (`models.classifier`), timm's layer-decay parameter groups, soft-target
cross entropy and EMA, the warmup-cosine schedule (`optim.schedules`) and the multi-view metric
(`evaluation.multiview`). Clips arrive in uint8 and are normalised on the device; random
erasing and Mixup/CutMix, drawn in the data loader with the soft targets ("target"), are
applied there too, by the data module (`data.on_device`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from timm.loss import SoftTargetCrossEntropy
from timm.utils import ModelEmaV3
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from videomae_ssl.evaluation import MultiViewAccuracy
from videomae_ssl.lightning.guard import NonFiniteLoss
from videomae_ssl.lightning.step_log import finish_training_step
from videomae_ssl.models import VideoMAEClassifier
from videomae_ssl.models.build import model_record
from videomae_ssl.optim.param_groups import layer_decay_groups
from videomae_ssl.optim.setup import OptimizerFactory, lr_plan, optimizer_with_schedule
from videomae_ssl.seeding import seeded_global_rngs, step_seed

# The fine-tuning optimizer: AdamW with the default betas (lr and weight decay set per group).
ADAMW_FINETUNE: OptimizerFactory = partial(torch.optim.AdamW, betas=(0.9, 0.999))


class VideoClassificationModule(L.LightningModule):
    """Fine-tuning and evaluation of a `VideoMAEClassifier`.

    Training batches: "video" (B, C, T, H, W), "label" (B,) and, from the Mixup/smoothing
    collate, "target" (B, num_classes) soft targets (loss: soft-target cross entropy; plain
    cross entropy without them). Validation batches give one view per video: `val/loss`,
    `val/top1`, `val/top5`. Test batches give every view with "video_id" and "view_id":
    softmax per view, averaged per video, `test/top1`, `test/top5`, and the per-video scores
    in `test_scores` for reports. With `ema_decay`, an exponential moving average of the
    weights (timm's ModelEmaV3, updated after every optimizer step) is evaluated too
    (`*_ema` metrics).

    Learning rates are per 256 videos and scaled by the effective batch `batch_size` (videos
    per device) x devices x nodes x accumulation, as the original; layer `i` of `L + 2` layers
    (tubelet embedding 0, blocks 1..L, head L + 1) trains at `layer_decay ** (L + 1 - i)` of it.

    Stochastic depth and dropout draw from torch's global generators, seeded for each training
    batch from (`seed`, epoch, batch, rank) (`training_logits`): a run resumed mid-epoch draws
    what the uninterrupted run drew, with no generator state in the checkpoint.
    """

    # Constructor arguments kept out of the hyperparameters: objects, not plain values (the
    # checkpoints are read back with weights_only=True). A subclass adds its own.
    NOT_HYPERPARAMETERS: tuple[str, ...] = ("net", "optimizer", "class_names", "eval_settings")

    def __init__(
        self,
        net: VideoMAEClassifier,
        optimizer: OptimizerFactory = ADAMW_FINETUNE,
        batch_size: int = 8,
        base_lr: float = 1e-3,
        min_lr: float = 1e-6,
        warmup_lr: float = 1e-6,
        warmup_epochs: float = 5,
        weight_decay: float = 0.05,
        layer_decay: float = 0.75,
        ema_decay: float | None = None,
        max_non_finite_steps: int = 10,
        seed: int = 0,
        test_views: int | None = None,
        class_names: Sequence[str] | None = None,
        eval_settings: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        # Plain values only: checkpoints are read back with weights_only=True.
        self.save_hyperparameters(ignore=list(self.NOT_HYPERPARAMETERS))
        self.net = net
        self.optimizer_factory = optimizer
        self.non_finite = NonFiniteLoss(max_non_finite_steps)
        self.class_names = [str(n) for n in class_names] if class_names is not None else None
        self.eval_settings = {str(k): v for k, v in (eval_settings or {}).items()}
        self.ema = ModelEmaV3(net, decay=ema_decay) if ema_decay else None
        self._ema_step = -1
        self.soft_loss = SoftTargetCrossEntropy()
        classes = net.num_classes

        def accuracies() -> nn.ModuleDict:
            return nn.ModuleDict(
                {f"top{k}": MulticlassAccuracy(classes, top_k=min(k, classes)) for k in (1, 5)}
            )

        # Metrics per evaluated network, keyed by its suffix: "" for the weights, "_ema".
        suffixes = ["", "_ema"] if self.ema is not None else [""]
        self.val_acc = nn.ModuleDict({s or "net": accuracies() for s in suffixes})
        self.test_acc = nn.ModuleDict(
            {s or "net": MultiViewAccuracy(classes, expected_views=test_views) for s in suffixes}
        )
        self.test_result: dict[str, float] = {}
        self.test_scores: Any = None

    @property
    def encoder(self) -> nn.Module:
        """What `pretrained=<checkpoint>` initialises: the classifier's encoder part."""
        return self.net

    def _evaluated(self) -> list[tuple[str, nn.Module]]:
        """(metric suffix, network) pairs that evaluation scores."""
        nets = [("", self.net)]
        if self.ema is not None:
            nets.append(("_ema", self.ema.module))
        return nets

    def label_loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss against the labels: soft-target cross entropy on the batch's Mixup/CutMix
        and smoothed targets, plain cross entropy without them. logits: (B, num_classes)."""
        if "target" in batch:
            return self.soft_loss(logits.float(), batch["target"].float())
        return F.cross_entropy(logits.float(), batch["label"])

    def training_logits(self, video: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """The network's training forward pass: video (B, C, T, H, W) -> logits (B, num_classes).

        Its stochastic depth and dropout draw from the batch's own seed (`seeding.step_seed`),
        not from whatever the global generators hold: they are not in the checkpoint, and a
        resumed run would draw other masks from them (the data loader also draws its base
        seed there at every epoch). Each DDP rank draws its own, as the original's per-rank
        seeds."""
        seed = step_seed(self.hparams.seed, self.current_epoch, batch_idx, self.global_rank)
        with seeded_global_rngs(seed, self.device):
            return self.net(video)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        logits = self.training_logits(batch["video"], batch_idx)  # (B, num_classes)
        loss = self.label_loss(logits, batch)
        lr = self.optimizers().param_groups[-1]["lr"]
        return finish_training_step(self, self.non_finite, loss, batch, lr)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # After each optimizer step (not each accumulated micro-batch), as the original.
        if self.ema is not None and self.global_step != self._ema_step:
            self.ema.update(self.net)
            self._ema_step = self.global_step

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        label, bs = batch["label"], batch["video"].shape[0]
        for suffix, net in self._evaluated():
            logits = net(batch["video"]).float()  # (B, num_classes)
            metrics = self.val_acc[suffix or "net"]
            loss = F.cross_entropy(logits, label)
            self.log(f"val/loss{suffix}", loss, sync_dist=True, batch_size=bs)
            for name, metric in metrics.items():
                metric(logits, label)
                self.log(f"val/{name}{suffix}", metric, prog_bar=not suffix, batch_size=bs)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        ids = (batch["label"], batch["video_id"], batch["view_id"])
        for suffix, net in self._evaluated():
            metric = self.test_acc[suffix or "net"]
            metric.update(net(batch["video"]).float(), *ids)

    def on_test_epoch_end(self) -> None:
        self.test_result = {}
        for suffix, _ in self._evaluated():
            metric = self.test_acc[suffix or "net"]
            result = metric.compute()  # gathered over ranks
            if not suffix:
                self.test_scores = metric.video_scores()
            for key, value in result.items():
                self.test_result[f"test/{key}{suffix}"] = float(value)
            metric.reset()
        for key, value in self.test_result.items():
            # The same value on every rank (the metric gathered over ranks), so their mean, which
            # sync_dist takes, changes nothing; without it Lightning warns under DDP.
            self.log(key, value, sync_dist=True)

    def configure_optimizers(self) -> dict[str, Any]:
        hp, t = self.hparams, self.trainer
        plan = lr_plan(t, hp.batch_size, hp.base_lr, hp.min_lr, hp.warmup_lr, hp.warmup_epochs)
        rank_zero_info(
            f"{plan.batch_line(t, hp.batch_size)}; lr {plan.lr:.3g} = base_lr {hp.base_lr:g} x "
            f"{plan.batch} / 256 (min_lr {plan.min_lr:.3g}), layer decay {hp.layer_decay}; "
            f"{plan.total_steps} steps, {plan.warmup_steps} warmup."
        )
        groups = layer_decay_groups(self.net, plan.lr, hp.weight_decay, hp.layer_decay)
        return optimizer_with_schedule(self.optimizer_factory, groups, plan)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Enough to rebuild the classifier and test it without Hydra (see videomae_ssl.predict).
        names = dict(enumerate(self.class_names)) if self.class_names else None
        checkpoint["videomae_ssl"] = {
            **model_record(self.net),
            "id2label": names,
            "eval": self.eval_settings or None,
        }
