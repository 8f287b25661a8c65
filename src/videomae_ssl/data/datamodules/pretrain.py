"""The data module of VideoMAE pretraining: clips with their masks."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.datamodules.base import VideoDataModule
from videomae_ssl.data.frame_indices import center_indices
from videomae_ssl.data.pretrain_dataset import VideoPretrainDataset, mask_grid
from videomae_ssl.masking import MaskGenerator


class PretrainDataModule(VideoDataModule):
    """Train (and optionally validation) clips with masks for VideoMAE pretraining; see
    `VideoDataModule` for the loaders and the broken-video policy. Validation clips are the
    centre window with a centre crop and a fixed mask per clip. The mask generators are built
    once (Hydra: `masking` and the model's `decoder_mask_ratio`) and given to every dataset;
    with `decoder_mask_generator` (VideoMAE V2's decoder masking) each training clip also
    carries the tokens its decoder reconstructs, drawn from the clip's own stream."""

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

    def _check_settings(self) -> None:
        mask_grid(
            self.num_frames,
            self.input_size,
            self.patch_size,
            self.tubelet_size,
            self.mask_generator,
        )
        super()._check_settings()

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
