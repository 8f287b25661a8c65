"""Saves a PNG of original, masked and reconstructed frames for a few validation clips."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torchvision.utils import save_image

from videomae_ssl.visualize import frame_grid, reconstruct


class ReconstructionGrid(L.Callback):
    """After each validation epoch (rank 0), writes `<dirpath>/epoch_XXX.png` and a copy at
    `<dirpath>/latest.png`, from the first validation batch with its fixed masks."""

    def __init__(self, dirpath: str, num_clips: int = 4, num_frames: int = 4) -> None:
        self.dirpath = Path(dirpath)
        self.num_clips = num_clips
        self.num_frames = num_frames
        self.latest: Path | None = None
        self._batch: dict[str, torch.Tensor] | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if batch_idx == 0:
            self._batch = {k: batch[k][: self.num_clips] for k in ("video", "mask")}

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._batch is None or trainer.sanity_checking:
            return
        video, mask = self._batch["video"], self._batch["mask"]
        net = pl_module.net
        with torch.no_grad():
            pred = net(video, mask)
        images = reconstruct(
            video, mask, pred, net.patch_size, net.tubelet_size, pl_module.hparams.norm_pix_loss
        )
        grid = frame_grid(*(x.cpu() for x in images), num_frames=self.num_frames)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        path = self.dirpath / f"epoch_{trainer.current_epoch:03d}.png"
        save_image(grid, path)
        save_image(grid, self.dirpath / "latest.png")
        self.latest = self.dirpath / "latest.png"
        self._batch = None
