"""The data module of VideoMAE pretraining: clips with their masks."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from lightning.pytorch.utilities import rank_zero_info

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.datamodules.base import VideoDataModule
from videomae_ssl.data.frame_indices import center_indices
from videomae_ssl.data.pretrain_dataset import VideoPretrainDataset, mask_grid
from videomae_ssl.data.readers import DECODE_DEVICE_KEY, resolve_backend
from videomae_ssl.errors import ConfigError
from videomae_ssl.masking import MaskGenerator


class PretrainDataModule(VideoDataModule):
    """Train (and optionally validation) clips with masks for VideoMAE pretraining; see
    `VideoDataModule` for the loaders and the broken-video policy. Validation clips are the
    centre window with a centre crop and a fixed mask per clip. The mask generators are built
    once (Hydra: `masking` and the model's `decoder_mask_ratio`) and given to every dataset;
    with `decoder_mask_generator` (VideoMAE V2's decoder masking) each training clip also
    carries the tokens its decoder reconstructs, drawn from the clip's own stream.

    With a mask generator that needs motion (`masking=motion`), video files are decoded by PyAV
    with their motion vectors (said at start when `data.backend` names another decoder), and
    the first training batch with slices that had no vectors to follow says so once; the count
    travels in the batch ("motion_fallback") and is logged as `data/motion_fallback`."""

    def __init__(
        self,
        *,
        train_list: str,
        val_list: str | None = None,
        patch_size: int = 16,
        tubelet_size: int = 2,
        mask_generator: MaskGenerator,
        decoder_mask_generator: MaskGenerator | None = None,
        **options: Any,
    ) -> None:
        super().__init__(train_list=train_list, val_list=val_list, **options)
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.mask_generator = mask_generator
        self.decoder_mask_generator = decoder_mask_generator
        self.fallback_said = False

    @property
    def needs_motion(self) -> bool:
        return bool(getattr(self.mask_generator, "needs_motion", False))

    def _check_settings(self) -> None:
        mask_grid(
            self.num_frames,
            self.input_size,
            self.patch_size,
            self.tubelet_size,
            self.mask_generator,
        )
        super()._check_settings()
        if self.needs_motion:
            self._check_motion_decoding()

    def _check_motion_decoding(self) -> None:
        """Motion vectors come from PyAV on the CPU: a GPU decode is a ConfigError, another
        backend is said once (its frames would need a second decode for the vectors)."""
        if self.decode.on_gpu:
            raise ConfigError(
                f"masking=motion reads the codec's motion vectors, which only PyAV exports, on "
                f"the CPU; set {DECODE_DEVICE_KEY}=cpu or choose another masking."
            )
        backend = resolve_backend(self.decode.backend, key="data.backend")
        if backend != "pyav":
            rank_zero_info(
                f"masking=motion: video files are decoded with PyAV, which gives the frames and "
                f"the codec's motion vectors in one decode (data.backend={self.decode.backend} "
                f"-> {backend} is not used for them; see docs/masking.md)."
            )

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        batch = super().on_before_batch_transfer(batch, dataloader_idx)
        if (
            isinstance(batch, dict)
            and "motion_fallback" in batch
            and not self.fallback_said
            and (self.trainer is None or self.trainer.training)
        ):
            fallback = int(batch["motion_fallback"].sum())
            if fallback:
                self.fallback_said = True
                slices = batch["motion"].shape[0] * batch["motion"].shape[1]
                rank_zero_info(
                    f"masking=motion: {fallback} of the {slices} frame slices of a training "
                    f"batch had no motion vectors to follow (an intra-only codec such as MJPEG "
                    f"or VP9, a video of keyframes only, a frame folder, or a keyframe's slice) "
                    f"and hid random tube cells instead, the same count; data/motion_fallback "
                    f"counts them per step. Said once."
                )
        return batch

    def eval_frames(self, mode: str) -> Callable[[int], list[int]]:
        return partial(center_indices, num_frames=self.num_frames, sampling_rate=self.sampling_rate)

    def build_dataset(self, mode: str, records: list[VideoRecord]) -> VideoPretrainDataset:
        train = mode == "train"
        return VideoPretrainDataset(
            records,
            train=train,
            num_frames=self.num_frames,
            sampling_rate=self.sampling_rate,
            input_size=self.input_size,
            patch_size=self.patch_size,
            tubelet_size=self.tubelet_size,
            mask_generator=self.mask_generator,
            decoder_mask_generator=self.decoder_mask_generator,
            seed=self.seed,
            decode=self.decode,
            num_sample=self.num_sample if train else 1,
            quarantine_file=self.quarantine_file if train else None,
        )
