"""Saves a labelled PNG of original, masked and reconstructed frames for a few validation clips
(also shown by wandb and TensorBoard when they log the run), and logs how well the hidden patches
are reconstructed (PSNR)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from videomae_ssl.callbacks.logger_media import log_picture
from videomae_ssl.viz.frames import frame_grid
from videomae_ssl.viz.reconstruction import masked_psnr, motion_overlay, reconstruct


class ReconstructionGrid(L.Callback):
    """After each validation epoch (rank 0), writes `<dirpath>/epoch_XXX.png` and a copy at
    `<dirpath>/latest.png`, from the first validation batch with its fixed masks, sends it to
    the loggers as `val/reconstruction` (see `log_picture`), and logs
    `val/psnr_masked` and `val/psnr_mean_colour` on those clips (see `masked_psnr`). With
    motion-guided masking a fourth row per clip shows the motion map and the hidden tokens'
    borders over the frames (`motion_overlay`)."""

    def __init__(self, dirpath: str, num_clips: int = 4, num_frames: int = 4) -> None:
        self.dirpath = Path(dirpath)
        self.num_clips = num_clips
        self.num_frames = num_frames
        self.latest: Path | None = None
        self.psnr: tuple[float, float] | None = None  # (masked patches, mean-colour baseline)
        self._batch: dict[str, torch.Tensor] | None = None

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: dict[str, torch.Tensor],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx == 0:
            keys = ("video", "mask", "motion") if "motion" in batch else ("video", "mask")
            self._batch = {k: batch[k][: self.num_clips] for k in keys}

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._batch is None or trainer.sanity_checking:
            return
        if not getattr(getattr(pl_module, "target", None), "pixels", True):
            self._batch = None  # a HOG prediction (target=hog) is no picture
            return
        video, mask = self._batch["video"], self._batch["mask"]  # (B, C, T, H, W), Bool[B, N]
        net = pl_module.net
        norm_pix = pl_module.hparams.norm_pix_loss
        with torch.no_grad():
            pred = net(video, mask)  # (B, N_mask, P)
        images = reconstruct(video, mask, pred, net.patch_size, net.tubelet_size, norm_pix)
        self.psnr = masked_psnr(video, mask, pred, net.patch_size, net.tubelet_size, norm_pix)
        # Only rank 0 gets here, so the values are logged without a cross-rank reduction.
        pl_module.log("val/psnr_masked", self.psnr[0], rank_zero_only=True)
        pl_module.log("val/psnr_mean_colour", self.psnr[1], rank_zero_only=True)
        motion = self._batch.get("motion")  # (B, T', H', W') with masking=motion
        if motion is not None:
            motion = motion_overlay(images[0].cpu(), motion.cpu(), mask.cpu())
        grid = frame_grid(
            *(x.cpu() for x in images), num_frames=self.num_frames, mask=mask.cpu(), motion=motion
        )
        self.dirpath.mkdir(parents=True, exist_ok=True)
        grid.save(self.dirpath / f"epoch_{trainer.current_epoch:03d}.png")
        grid.save(self.dirpath / "latest.png")
        self.latest = self.dirpath / "latest.png"
        log_picture(trainer.loggers, "val/reconstruction", grid, trainer.global_step)
        self._batch = None
