"""The pretraining dataset: decode a clip, crop it and draw its mask (normalised on the device).

Every random choice (clip start, crop, mask, which video replaces a broken one) comes from a
generator seeded by (seed, epoch, index), so a sample is the same whatever the worker count,
the order of loading, or whether the run was resumed. Validation samples ignore the epoch: the
validation loss is measured on the same clips, crops and masks every time.

Repeated sampling (VideoMAE V2's `num_sample`): one decode gives `num_sample` views of the same
frames, each with its own crop and mask (the view id enters their streams). `collate_views`
flattens them into the batch, so a batch of B videos holds B * num_sample clips.

A mask generator that needs motion (`needs_motion`, motion-guided masking) gets each view's
motion map: the codec's motion vectors of the clip's frames, read in the same decode, under the
view's crop box, pooled to the token grid (`data.motion`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.clip_dataset import VideoListDataset, collate_views
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.frame_indices import center_indices, pretrain_indices
from videomae_ssl.data.motion import motion_field, token_motion
from videomae_ssl.data.readers import VideoFile
from videomae_ssl.data.transforms import (
    MultiScaleCrop,
    center_box,
    center_crop_resize,
    channels_first,
)
from videomae_ssl.errors import ConfigError
from videomae_ssl.masking import MaskGenerator, guided_slices, mask_to_indices, token_indices
from videomae_ssl.masking.functional import Grid
from videomae_ssl.models.config import VideoMAEConfig
from videomae_ssl.seeding import STREAM_CROP, STREAM_DECODER_MASK, STREAM_MASK, sample_generator

__all__ = ["VideoPretrainDataset", "collate_views", "mask_grid"]


def mask_grid(
    num_frames: int, input_size: int, patch_size: int, tubelet_size: int, masks: MaskGenerator
) -> Grid:
    """The model's token grid for clips of `num_frames` frames at `input_size` px (the
    config's), with `masks`, the encoder's mask generator, checked on it. The data path's one
    check of both: the data module's `validate_inputs` and the dataset's constructor call it.
    The decoder's mask ratio is checked by the pretraining module, which owns
    `model.decoder_mask_ratio`."""
    if num_frames % tubelet_size:
        raise ConfigError(f"num_frames={num_frames} must be a multiple of {tubelet_size=}.")
    if input_size % patch_size:
        raise ConfigError(f"input_size={input_size} must be a multiple of {patch_size=}.")
    geometry = VideoMAEConfig(
        img_size=input_size, patch_size=patch_size, num_frames=num_frames, tubelet_size=tubelet_size
    )
    masks.check(geometry.grid)
    return geometry.grid


class VideoPretrainDataset(VideoListDataset):
    """Clips and masks for masked video modelling.

    Items are dicts: "video" uint8 (3, T, S, S), not yet normalised (the Lightning module
    normalises the batch on the device, `normalize_video`),
    "mask" Bool[N] over the (T', H', W') token grid (True = hidden from the encoder),
    "ids_visible" (N_vis,) and "ids_masked" (N - N_vis,) its token indices, ascending (the
    model's gathers take them as they are, so the step never reads the mask back from the
    device), and in training with `decoder_mask_generator` (VideoMAE V2's decoder masking)
    "ids_decoded" (K,), the tokens the decoder reconstructs, drawn from the sample's own
    stream like the encoder's mask, with "decoded_loss" Bool[K], those of them in the loss,
    "index" the row in `records` of the video shown, "label" its class id, "requested" the row
    asked for, and "broken" how many broken videos were met before one decoded (0: the
    requested video itself). With a mask generator that needs motion (motion-guided masking),
    "motion" float (T', H', W') is the view's motion map (NaN over slices without motion
    vectors) and "motion_fallback" how many of its T' slices had nothing to follow and were
    masked with random tube cells. With `num_sample` > 1, "video" is (V, 3, T, S, S) and "mask"
    (V, N), the indices (V, N_vis) and (V, N - N_vis): V views of one decode.

    Index with an int (epoch 0) or an `(index, epoch)` pair as `EpochSampler` yields.
    With `train=True`: a random window start and `MultiScaleCrop`; a video that fails to decode
    is listed in `quarantine_file` and replaced by another drawn from the sample's own stream,
    up to `max_retries` times. With `train=False`: the centre window and a centre crop, epoch 0
    whatever was asked, and a video that fails to decode is an error, never replaced.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        *,
        num_frames: int,
        sampling_rate: int,
        input_size: int,
        patch_size: int,
        tubelet_size: int,
        mask_generator: MaskGenerator,
        seed: int,
        train: bool,
        decoder_mask_generator: MaskGenerator | None = None,
        decode: DecodeOptions | None = None,
        num_sample: int = 1,
        quarantine_file: str | None = None,
        max_retries: int = 20,
    ) -> None:
        self.grid = mask_grid(num_frames, input_size, patch_size, tubelet_size, mask_generator)
        if num_sample < 1:
            raise ConfigError(f"data.num_sample={num_sample} must be a positive integer.")
        super().__init__(
            records,
            seed=seed,
            decode=decode,
            quarantine_file=quarantine_file,
            max_retries=max_retries,
        )
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.input_size = input_size
        self.mask_generator = mask_generator
        self.decoder_mask_generator = decoder_mask_generator if train else None
        self.train = train
        self.num_sample = num_sample
        self.crop = MultiScaleCrop(input_size)
        # Motion-guided masking reads the codec's motion vectors in the same decode.
        self.motion_vectors = bool(getattr(mask_generator, "needs_motion", False))

    def read_clip(
        self, video: VideoFile, indices: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(frames uint8 (T, H, W, 3), their motion field (T, rows, cols) or None when the
        mask generator needs no motion); see `data.motion.motion_field`."""
        if not self.motion_vectors:
            return video.read(indices), None
        frames, vectors = video.read_with_vectors(indices)  # (T, H, W, 3), T entries
        return frames, motion_field(vectors, frames.shape[1], frames.shape[2])

    def pick_frames(self, total_frames: int, generator: torch.Generator | None) -> list[int]:
        if generator is None:
            return center_indices(total_frames, self.num_frames, self.sampling_rate)
        return pretrain_indices(total_frames, self.num_frames, self.sampling_rate, generator)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), 0)
        if not self.train:
            epoch = 0

        def stream(purpose: int, view: int) -> torch.Generator:
            return sample_generator(self.seed, epoch, index, view=view, stream=purpose)

        if self.train:
            row, broken, (frames, field) = self.decode_train(index, epoch)
        else:
            row, broken, (frames, field) = index, 0, self.decode_eval(index)

        clip = frames.permute(0, 3, 1, 2)  # (T, 3, H, W)
        height, width = clip.shape[-2:]
        videos, masks, motions = [], [], []
        for view in range(self.num_sample):
            if self.train:
                box = self.crop.sample_box(width, height, stream(STREAM_CROP, view))
                crop = self.crop.apply(clip, box)  # (T, 3, S, S)
            else:
                box = center_box(width, height, self.input_size)
                crop = center_crop_resize(clip, self.input_size)  # (T, 3, S, S)
            videos.append(channels_first(crop))  # (3, T, S, S) uint8
            # The map under this view's crop box, token for token with the cropped clip.
            motion = None if field is None else token_motion(field, box, self.grid)
            masks.append(self.mask_generator(self.grid, stream(STREAM_MASK, view), motion))
            motions.append(motion)  # (T', H', W') or None
        mask = torch.stack(masks)  # (V, N)
        visible, masked = mask_to_indices(mask)  # (V, N_vis), (V, N - N_vis), on the host
        views = {
            "video": torch.stack(videos),
            "mask": mask,
            "ids_visible": visible,
            "ids_masked": masked,
        }
        if self.motion_vectors:
            slices = self.grid[0]
            views["motion"] = torch.stack(motions)  # (V, T', H', W')
            views["motion_fallback"] = torch.tensor(
                [slices - int(guided_slices(m, slices).sum()) for m in motions]
            )  # (V,)
        if self.decoder_mask_generator is not None:
            decoder_mask = torch.stack(
                [
                    self.decoder_mask_generator(self.grid, stream(STREAM_DECODER_MASK, view))
                    for view in range(self.num_sample)
                ]
            )  # (V, N), True = not reconstructed
            ids = token_indices(mask, decoder_mask)
            views.update(ids_decoded=ids.decoded, decoded_loss=ids.loss_mask)  # (V, K) each
        item = {
            "index": row,
            "label": self.records[row].label,
            "broken": broken,
            "requested": index,
        }
        if self.num_sample == 1:
            views = {key: value[0] for key, value in views.items()}
        return {**views, **item}
