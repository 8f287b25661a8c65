"""What every clip dataset shares: decoding a listed video, the broken-video policy, batching.

Training replaces a video that fails to decode by another one drawn from the sample's own
(seed, epoch, index) stream, lists it once in the quarantine file and reports how many broken
videos it met; evaluation never replaces one. Pretraining (`data.pretrain_dataset`) and fine-tuning
(`data.finetune_dataset`) datasets differ only in which frames they read and what they make of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, default_collate

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.quarantine import LoaderDataError, record_broken
from videomae_ssl.data.readers import VideoDecodeError, VideoFile
from videomae_ssl.data.shards import ShardSplit
from videomae_ssl.data.video_check import decode_reason
from videomae_ssl.errors import UserInputError
from videomae_ssl.seeding import STREAM_FRAMES, STREAM_SUBSTITUTE, sample_generator

# Item fields that describe the video rather than one view; `collate_views` repeats them.
VIDEO_FIELDS = ("index", "label", "broken", "requested", "video_id")
# Item fields with one entry per view; `collate_views` flattens them like the clips.
VIEW_FIELDS = (
    "mask",
    "ids_visible",
    "ids_masked",
    "ids_decoded",
    "decoded_loss",
    "view_id",
    "motion",
    "motion_fallback",
)
# Item fields that stay plain Python objects (per clip, or a list per view), so that the main
# process reads them without a copy back from the device; `collate_views` lists them per clip.
HOST_FIELDS = ("erase",)

# Frame choice: the video's frame count (and the sample's frames stream, None at evaluation)
# -> the frame indices to read.
FramePicker = Callable[[int, "torch.Generator | None"], Sequence[int]]


class VideoListDataset(Dataset):
    """Decodes clips of the videos in `records`, with the broken-video policy.

    Subclasses decide the frames (`pick_frames`) and the item. `decode_train` gives the frames
    of a training sample (or of its replacement), `decode_eval` those of an evaluation sample
    or a LoaderDataError that says evaluation never replaces a video.

    With `shards` (a packed list, `data.stream`), row i's bytes come from item i of the shards
    and are decoded from memory by the same backend, so every sample is the one the files
    give; `records` are then the shards' manifest. A corrupt shard is a LoaderDataError naming
    it, in training too: it is not a broken video to replace.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        *,
        seed: int,
        decode: DecodeOptions | None = None,
        quarantine_file: str | None = None,
        max_retries: int = 20,
        shards: ShardSplit | None = None,
    ) -> None:
        self.records = list(records)
        self.shards = shards
        self.seed = seed
        self.decoding = (decode or DecodeOptions()).resolved()  # fixed once, not per worker
        self.quarantine_file = quarantine_file
        self.max_retries = max_retries
        self._known_broken: set[int] = set()  # per worker: rows not worth opening again

    def __len__(self) -> int:
        return len(self.records)

    # Whether video files are opened to export the codec's motion vectors (see `read_clip`).
    motion_vectors: bool = False

    def pick_frames(self, total_frames: int, generator: torch.Generator | None) -> Sequence[int]:
        """The frames of one clip of a video of `total_frames` frames (None: evaluation)."""
        raise NotImplementedError

    def read_clip(self, video: VideoFile, indices: list[int]) -> Any:
        """What `decode` returns for the frames at `indices` of an open video: the frames,
        uint8 (T, H, W, 3); a subclass may read more from the same decode."""
        return video.read(indices)  # (T, H, W, 3)

    def decode(
        self, row: int, generator: torch.Generator | None, pick: FramePicker | None = None
    ) -> Any:
        """The clip of record `row`, as `read_clip` gives it (uint8 (T, H, W, 3) frames);
        VideoDecodeError if broken."""
        pick = pick or self.pick_frames
        try:
            # Opened here, in the worker process: decord readers must not cross a fork.
            data = None if self.shards is None else self.shards.read(row)
            record = self.records[row]
            with self.decoding.open(record, data, motion_vectors=self.motion_vectors) as video:
                return self.read_clip(video, list(pick(video.num_frames, generator)))
        except VideoDecodeError:
            raise
        except UserInputError as err:  # a setting, not this video: keep the message clean
            raise LoaderDataError(str(err)) from err

    def decode_eval(self, row: int, pick: FramePicker | None = None) -> Any:
        """An evaluation clip of record `row`, never replaced, as `read_clip` gives it."""
        try:
            return self.decode(row, None, pick)
        except VideoDecodeError as err:
            raise LoaderDataError(
                f"{err}. Evaluation never replaces a video: repair it or remove it from the "
                f"list (data.eval_broken=exclude leaves out the videos that fail the check "
                f"before evaluation)."
            ) from err

    def decode_train(self, index: int, epoch: int) -> tuple[int, int, Any]:
        """Decode `index`, or the first of its deterministic replacements that decodes.

        Returns (row decoded, broken videos met, the clip as `read_clip` gives it). The frames are drawn from the
        requested sample's stream whichever row is decoded, so a replacement is not a copy of
        that row's own sample of this epoch.
        """
        tried: set[int] = set()
        row = index
        for attempt in range(self.max_retries + 1):
            if row not in self._known_broken:
                stream = sample_generator(self.seed, epoch, index, stream=STREAM_FRAMES)
                try:
                    return row, attempt, self.decode(row, stream)
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


def collate_views(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch items, flattening the views of an item into the batch dimension.

    An item whose "video" has one more dimension than a clip (3, T, S, S) carries V views:
    "video" (B, V, 3, T, S, S) -> (B*V, 3, T, S, S), and the per-view fields ("mask"
    (B, V, N), "view_id" (B, V)) likewise, the views of one item adjacent; the per-video
    fields ("index", "label", ...) are repeated V times, so that row i of every field
    describes clip i. Host fields ("erase") become a list with one entry per clip.
    """
    host = {key: [item[key] for item in items] for key in HOST_FIELDS if key in items[0]}
    batch = default_collate([{k: v for k, v in it.items() if k not in host} for it in items])
    video = batch["video"]
    if video.dim() == 6:
        for key, values in host.items():
            host[key] = [entry for per_view in values for entry in per_view]
        views = video.shape[1]
        batch["video"] = video.flatten(0, 1)  # (B*V, 3, T, S, S)
        for key in VIEW_FIELDS:
            if key in batch:
                batch[key] = batch[key].flatten(0, 1)  # (B*V, ...)
        for key in VIDEO_FIELDS:
            if key in batch:
                batch[key] = batch[key].repeat_interleave(views)  # (B*V,)
    return {**batch, **host}
