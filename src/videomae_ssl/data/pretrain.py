"""The pretraining dataset: decode a clip, crop it, normalise it and draw its mask.

Every random choice (clip start, crop, mask, which video replaces a broken one) comes from a
generator seeded by (seed, epoch, index), so a sample is the same whatever the worker count,
the order of loading, or whether the run was resumed. Validation samples ignore the epoch: the
validation loss is measured on the same clips, crops and masks every time.

Repeated sampling (VideoMAE V2's `num_sample`): one decode gives `num_sample` views of the same
frames, each with its own crop and mask (the view id enters their streams). `collate_views`
flattens them into the batch, so a batch of B videos holds B * num_sample clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, default_collate

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.quarantine import LoaderDataError, decode_reason, record_broken
from videomae_ssl.data.readers import FRAME_TEMPLATE, VideoDecodeError, open_record, resolve_backend
from videomae_ssl.data.sampling import center_indices, pretrain_indices
from videomae_ssl.data.transforms import MultiScaleCrop, center_crop_resize, normalize
from videomae_ssl.errors import ConfigError, UserInputError
from videomae_ssl.masking import MaskGenerator
from videomae_ssl.seeding import STREAM_CROP, STREAM_FRAMES, STREAM_MASK, sample_generator

# Stream for drawing replacements of broken videos; distinct from the seeding module's streams.
STREAM_SUBSTITUTE = 3

# Item fields that describe the video rather than one view; `collate_views` repeats them.
VIDEO_FIELDS = ("index", "label", "broken", "requested")


class VideoPretrainDataset(Dataset):
    """Clips and masks for masked video modelling.

    Items are dicts: "video" float32 (3, T, S, S) normalised with ImageNet statistics,
    "mask" Bool[N] over the (T', H', W') token grid (True = hidden from the encoder),
    "index" the row in `records` of the video shown, "label" its class id, "requested" the row
    asked for, and "broken" how many broken videos were met before one decoded (0: the
    requested video itself). With `num_sample` > 1, "video" is (V, 3, T, S, S) and "mask"
    (V, N): V views of one decode.

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
        backend: str = "auto",
        frame_template: str = FRAME_TEMPLATE,
        short_side: int | None = None,
        num_sample: int = 1,
        quarantine_file: str | None = None,
        max_retries: int = 20,
    ) -> None:
        if num_frames % tubelet_size:
            raise ConfigError(f"num_frames={num_frames} must be a multiple of {tubelet_size=}.")
        if input_size % patch_size:
            raise ConfigError(f"input_size={input_size} must be a multiple of {patch_size=}.")
        if num_sample < 1:
            raise ConfigError(f"data.num_sample={num_sample} must be a positive integer.")
        self.records = list(records)
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.input_size = input_size
        self.grid = (num_frames // tubelet_size, input_size // patch_size, input_size // patch_size)
        self.mask_generator = mask_generator
        mask_generator.check(self.grid)
        self.seed = seed
        self.train = train
        self.backend = resolve_backend(backend)  # fixed once, not per worker
        self.frame_template = frame_template
        self.short_side = short_side
        self.num_sample = num_sample
        self.quarantine_file = quarantine_file
        self.max_retries = max_retries
        self.crop = MultiScaleCrop(input_size)
        self._known_broken: set[int] = set()  # per worker: rows not worth opening again

    def __len__(self) -> int:
        return len(self.records)

    def _decode(self, row: int, frames_stream: torch.Generator | None) -> torch.Tensor:
        """The clip's frames of record `row` -> uint8 (T, H, W, 3); VideoDecodeError if broken."""
        try:
            return self._read_clip(row, frames_stream)
        except VideoDecodeError:
            raise
        except UserInputError as err:  # a setting, not this video: keep the message clean
            raise LoaderDataError(str(err)) from err

    def _read_clip(self, row: int, frames_stream: torch.Generator | None) -> torch.Tensor:
        # Opened here, in the worker process: decord readers must not cross a fork.
        with open_record(
            self.records[row],
            self.backend,
            frame_template=self.frame_template,
            short_side=self.short_side,
        ) as video:
            if frames_stream is None:
                indices = center_indices(video.num_frames, self.num_frames, self.sampling_rate)
            else:
                indices = pretrain_indices(
                    video.num_frames, self.num_frames, self.sampling_rate, frames_stream
                )
            return video.read(indices)  # (T, H, W, 3) uint8

    def _decode_train(self, index: int, epoch: int) -> tuple[int, int, torch.Tensor]:
        """Decode `index`, or the first of its deterministic replacements that decodes.

        Returns (row decoded, broken videos met, frames). The frame window is drawn from the
        requested sample's stream whichever row is decoded, so a replacement is not a copy of
        that row's own sample of this epoch.
        """
        tried: set[int] = set()
        row = index
        for attempt in range(self.max_retries + 1):
            if row not in self._known_broken:
                stream = sample_generator(self.seed, epoch, index, stream=STREAM_FRAMES)
                try:
                    return row, attempt, self._decode(row, stream)
                except VideoDecodeError as err:
                    self._known_broken.add(row)
                    if self.quarantine_file is not None:
                        path = self.records[row].path
                        record_broken(self.quarantine_file, path, decode_reason(err, path))
            tried.add(row)
            if len(tried) == len(self.records):
                break
            row = self._substitute(index, epoch, attempt, tried)
        listed = f"; they are listed in {self.quarantine_file}" if self.quarantine_file else ""
        raise LoaderDataError(
            f"{self.records[index].path} and {len(tried) - 1} replacements drawn for it could "
            f"not be decoded{listed}. Check data.root and the annotation file: most of the "
            f"listed videos seem unreadable."
        )

    def _substitute(self, index: int, epoch: int, attempt: int, tried: set[int]) -> int:
        """A row not in `tried`, drawn from the (seed, epoch, index, attempt) stream."""
        g = sample_generator(self.seed, epoch, index, view=attempt, stream=STREAM_SUBSTITUTE)
        candidates = len(self.records) - len(tried)
        k = int(torch.randint(candidates, (1,), generator=g))
        # The k-th row not yet tried, counting in row order.
        for row in sorted(tried):
            if row <= k:
                k += 1
        return k

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), 0)
        if not self.train:
            epoch = 0

        def stream(purpose: int, view: int) -> torch.Generator:
            return sample_generator(self.seed, epoch, index, view=view, stream=purpose)

        if self.train:
            row, broken, frames = self._decode_train(index, epoch)
        else:
            row, broken = index, 0
            try:
                frames = self._decode(index, None)
            except VideoDecodeError as err:
                raise LoaderDataError(
                    f"{err}. Evaluation never replaces a video: repair it or remove it from the "
                    f"list (data.eval_broken=exclude leaves out the videos that fail the check "
                    f"before evaluation)."
                ) from err

        clip = frames.permute(0, 3, 1, 2)  # (T, 3, H, W)
        videos, masks = [], []
        for view in range(self.num_sample):
            if self.train:
                crop = self.crop(clip, stream(STREAM_CROP, view))  # (T, 3, S, S)
            else:
                crop = center_crop_resize(clip, self.input_size)  # (T, 3, S, S)
            videos.append(normalize(crop))  # (3, T, S, S) float32
            masks.append(self.mask_generator(self.grid, stream(STREAM_MASK, view)))  # (N,) bool
        item = {
            "index": row,
            "label": self.records[row].label,
            "broken": broken,
            "requested": index,
        }
        if self.num_sample == 1:
            return {"video": videos[0], "mask": masks[0], **item}
        return {"video": torch.stack(videos), "mask": torch.stack(masks), **item}


def collate_views(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch items, flattening repeated-sampling views into the batch dimension.

    With V views per item, "video" (B, V, 3, T, S, S) -> (B*V, 3, T, S, S) and "mask"
    (B, V, N) -> (B*V, N), the views of one video adjacent; the per-video fields ("index",
    "label", ...) are repeated V times so that row i of every field describes clip i.
    """
    batch = default_collate(items)
    video = batch["video"]
    if video.dim() == 6:
        views = video.shape[1]
        batch["video"] = video.flatten(0, 1)  # (B*V, 3, T, S, S)
        batch["mask"] = batch["mask"].flatten(0, 1)  # (B*V, N)
        for key in VIDEO_FIELDS:
            if key in batch:
                batch[key] = batch[key].repeat_interleave(views)  # (B*V,)
    return batch
