"""Sliding windows over whole videos, for features of temporal action detection (VideoMAE V2's
`extract_tad_feature.py`): `window` consecutive frames starting every `stride` frames, each
frame resized to the model's `size` x `size` (bilinear, no crop: the aspect ratio is not kept)
and normalised as in training.

A video of T frames has floor((T - window) / stride) + 1 windows (V2's starts
`range(0, T - window + 1, stride)`). A video shorter than one window is not dropped: it gets
one window, its last frame repeated, as pretraining pads short videos.

`VideoWindows` decodes in DataLoader workers and hands over, per chunk of `batch` windows,
only the frames that no earlier chunk of the video sent, already resized and normalised;
`WindowAssembler` in the main process keeps the frames the next windows still need and cuts
the windows from them. Frames are read in order, so every frame is decoded once. Unlike V2's
script, frames are normalised with the ImageNet mean and std the model was trained with (V2
feeds [0, 1] pixels).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import IterableDataset, get_worker_info

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.readers import FRAME_TEMPLATE, VideoDecodeError, open_record
from videomae_ssl.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from videomae_ssl.errors import UserInputError

MAX_READ = 64  # frames decoded per read, so that a chunk's full-size frames stay few


def window_starts(num_frames: int, window: int, stride: int) -> list[int]:
    """First frame of each window: 0, stride, ... while a whole window fits; [0] for a video
    shorter than one window."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window} and {stride}")
    if num_frames < 1:
        raise ValueError("the video has no frames")
    return list(range(0, max(num_frames - window, 0) + 1, stride))


def window_frames(start: int, window: int, num_frames: int) -> list[int]:
    """The frames of the window at `start`; past the last frame, the last frame again."""
    return [min(start + i, num_frames - 1) for i in range(window)]


def resize_normalize(frames: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (U, H, W, 3) -> float32 (U, 3, size, size): [0, 1], bilinear resize to a square
    (align_corners=False, no antialiasing, as V2's script), then ImageNet mean and std."""
    x = frames.permute(0, 3, 1, 2).float().div_(255)  # (U, 3, H, W)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@dataclass(frozen=True)
class WindowSettings:
    window: int = 16
    stride: int = 4
    size: int = 224
    batch: int = 16
    backend: str = "auto"
    frame_template: str = FRAME_TEMPLATE


class VideoWindows(IterableDataset):
    """Chunks of windows of `records` (worker w of W takes records w, w + W, ...).

    Each item is a dict: "video" (the record's position), "starts" (this chunk's window
    starts), "num_frames", "frame_ids" (U,) and "frames" (U, 3, S, S) float32, the frames
    first needed by this chunk, "last" (the video's last chunk) and "error" ("" or why the
    video could not be read, on a last item with no frames).
    """

    def __init__(self, records: Sequence[VideoRecord], settings: WindowSettings) -> None:
        self.records = list(records)
        self.settings = settings

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for position in range(worker, len(self.records), workers):
            yield from self._chunks(position)

    def _chunks(self, position: int) -> Iterator[dict[str, Any]]:
        s = self.settings
        try:
            with open_record(
                self.records[position], s.backend, frame_template=s.frame_template
            ) as video:
                total = video.num_frames
                starts = window_starts(total, s.window, s.stride)
                sent = -1  # the highest frame handed over so far
                for first in range(0, len(starts), s.batch):
                    chunk = starts[first : first + s.batch]
                    wanted = sorted({i for st in chunk for i in window_frames(st, s.window, total)})
                    new = [i for i in wanted if i > sent]
                    frames = (
                        torch.cat(
                            [
                                resize_normalize(video.read(new[j : j + MAX_READ]), s.size)
                                for j in range(0, len(new), MAX_READ)
                            ]
                        )
                        if new
                        else torch.zeros(0, 3, s.size, s.size)
                    )
                    sent = max(sent, *new) if new else sent
                    yield {
                        "video": position,
                        "starts": chunk,
                        "num_frames": total,
                        "frame_ids": torch.tensor(new, dtype=torch.long),
                        "frames": frames,
                        "last": first + s.batch >= len(starts),
                        "error": "",
                    }
        except VideoDecodeError as err:
            yield {"video": position, "last": True, "error": str(err), "starts": []}
        except UserInputError:
            raise  # a setting (the frame template, the backend), not this video
        except Exception as err:  # a decoder failing in a way its reader did not expect
            first = (str(err).strip().splitlines() or [""])[0]
            reason = f"{type(err).__name__}: {first}"
            yield {"video": position, "last": True, "error": reason, "starts": []}


class WindowAssembler:
    """Cuts one video's windows from the frames its chunks hand over, keeping only the frames
    later windows still need."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.ids = torch.zeros(0, dtype=torch.long)
        self.frames: torch.Tensor | None = None

    def windows(self, item: dict[str, Any]) -> torch.Tensor:
        """This chunk's windows, (B, 3, window, S, S) float32."""
        frames = item["frames"]
        self.ids = torch.cat([self.ids, item["frame_ids"]])
        self.frames = frames if self.frames is None else torch.cat([self.frames, frames])
        total, starts = item["num_frames"], item["starts"]
        wanted = torch.tensor([window_frames(s, self.window, total) for s in starts])  # (B, W)
        rows = torch.searchsorted(self.ids, wanted)  # (B, W) positions in the buffer
        clips = self.frames[rows]  # (B, W, 3, S, S)
        # Frames before the next chunk's first window are never needed again.
        keep = self.ids >= starts[-1] + 1 if starts else self.ids >= 0
        self.ids, self.frames = self.ids[keep], self.frames[keep]
        return clips.permute(0, 2, 1, 3, 4)  # (B, 3, W, S, S)
