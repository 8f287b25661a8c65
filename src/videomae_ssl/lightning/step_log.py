"""What every training step does with its loss, in pretraining and fine-tuning alike."""

from __future__ import annotations

import lightning as L
import torch

from videomae_ssl.lightning.guard import NonFiniteLoss


def finish_training_step(
    module: L.LightningModule,
    guard: NonFiniteLoss,
    loss: torch.Tensor,
    batch: dict[str, torch.Tensor],
    lr: float,
) -> torch.Tensor | None:
    """Skip the step if the loss is not finite on some rank (None: no backward, no optimizer
    step), else log the loss (per step and per epoch), the lr, the broken-video count and the motion-masking fallbacks,
    all over every rank, and return the loss."""
    bs = batch["video"].shape[0]
    skip = guard.check(loss, module.trainer.strategy, module.global_step)
    # The same on every rank (decided over all of them).
    module.log("train/non_finite_steps", float(guard.skipped), batch_size=bs)
    if skip:
        return None
    # Averaged over ranks: the logs and the run summary show the whole batch's loss.
    module.log(
        "train/loss",
        loss,
        prog_bar=True,
        on_step=True,
        on_epoch=False,
        sync_dist=True,
        batch_size=bs,
    )
    module.log(
        "train/loss_epoch", loss, on_step=False, on_epoch=True, sync_dist=True, batch_size=bs
    )
    module.log("lr", lr, prog_bar=True, batch_size=bs)
    if "broken_total" in batch:
        # Counted over all ranks by the data module; the largest is the latest.
        module.log(
            "data/broken",
            batch["broken_total"].float(),
            sync_dist=True,
            reduce_fx="max",
            batch_size=bs,
        )
    if "motion_fallback" in batch:
        # Motion-guided masking: frame slices without motion vectors, summed over ranks.
        module.log(
            "data/motion_fallback",
            batch["motion_fallback"].sum().float(),
            sync_dist=True,
            reduce_fx="sum",
            batch_size=bs,
        )
    return loss
