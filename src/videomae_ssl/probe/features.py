"""Frozen features of a list of videos: one row per (video, view), gathered from every rank
exactly once, and cached on disk.

Under DDP each rank reads its own share of the videos (the evaluation sampler neither pads nor
repeats), so gathering the rows of all ranks gives every view once; `gather_rows` checks that
instead of assuming it: a repeated or missing (video, view) row is an error, never a silent
double count.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

GATHER_CHUNK_ROWS = 8192  # rows per all_gather, so that gathering big sets stays in memory


@dataclass(frozen=True)
class FeatureSet:
    """Features of every view of a list's videos, ordered by (video id, view id).

    features: (M, D) float32, or (M, N, D) tokens; labels, video_ids, view_ids: (M,) int64.
    A video id is the video's row in its (checked) annotation list.
    """

    features: torch.Tensor
    labels: torch.Tensor
    video_ids: torch.Tensor
    view_ids: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_videos(self) -> int:
        return int(self.video_ids.unique().numel())

    def first_views(self) -> FeatureSet:
        """One row per video: its first view (the only one of a single-view list)."""
        first = torch.ones(len(self), dtype=torch.bool)
        first[1:] = self.video_ids[1:] != self.video_ids[:-1]
        return FeatureSet(*(getattr(self, f.name)[first] for f in fields(self)))

    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
        """Write a safetensors file (atomically: a killed run leaves no partial file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        tensors = {f.name: getattr(self, f.name).contiguous() for f in fields(self)}
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> FeatureSet:
        tensors = load_file(str(path))
        return cls(**{f.name: tensors[f.name] for f in fields(cls)})


def order_rows(rows: dict[str, torch.Tensor], expected: int | None = None) -> FeatureSet:
    """Rows from any number of ranks -> a FeatureSet ordered by (video id, view id).

    rows: "features" (M, ...), "labels", "video_ids", "view_ids" (M,). Raises ValueError when a
    (video, view) pair occurs twice, or when `expected` rows were due and another number came.
    """
    video_ids, view_ids = rows["video_ids"].long(), rows["view_ids"].long()
    order = torch.argsort(view_ids, stable=True)
    order = order[torch.argsort(video_ids[order], stable=True)]  # by (video, view)
    v, w = video_ids[order], view_ids[order]
    repeated = (v[1:] == v[:-1]) & (w[1:] == w[:-1])
    if bool(repeated.any()):
        i = int(repeated.nonzero()[0])
        raise ValueError(
            f"video {int(v[i])} view {int(w[i])} was scored more than once: each view must be "
            f"gathered exactly once over all ranks"
        )
    if expected is not None:
        check_count(len(order), expected)
    return FeatureSet(
        features=rows["features"][order].float(),
        labels=rows["labels"][order].long(),
        video_ids=v,
        view_ids=w,
    )


def check_count(gathered: int, expected: int) -> None:
    """ValueError when `expected` rows were due and another number came."""
    if gathered != expected:
        raise ValueError(f"gathered {gathered} views, expected {expected}: some were lost")


def batch_rows(features: torch.Tensor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """One batch's rows: its features (B, D) with the batch's "label", "video_id" and "view_id"
    (B,), on the features' device."""
    device = features.device
    return {
        "features": features,
        "labels": batch["label"].to(device),
        "video_ids": batch["video_id"].to(device),
        "view_ids": batch["view_id"].to(device),
    }


def stack_rows(
    parts: list[dict[str, torch.Tensor]], width: int, device: torch.device | str
) -> dict[str, torch.Tensor]:
    """The rows of every batch (`batch_rows`) as one tensor per key: "features" (M, width)
    float32, the ids (M,) int64. Without batches the tensors are empty, so that a rank with no
    share of the list still takes part in the gather."""
    if not parts:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return {
            "features": torch.zeros(0, width, device=device),
            "labels": empty,
            "video_ids": empty,
            "view_ids": empty,
        }
    rows = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
    return {
        key: value.float() if key == "features" else value.long() for key, value in rows.items()
    }


def gather_rows(strategy: Any, rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every rank's rows, concatenated (rank 0's first), on the CPU; every rank gets all of
    them. `strategy` is the Lightning strategy (its `reduce` and `all_gather` collectives, a
    no-op on one process); tensors share their first dimension, and ranks may hold different
    numbers of rows (ranks with fewer are padded for the gather and the padding is dropped).
    """
    if strategy is None or strategy.world_size == 1:
        return {key: value.cpu() for key, value in rows.items()}
    device = strategy.root_device
    count = len(next(iter(rows.values())))
    most = int(strategy.reduce(torch.tensor(count, device=device), reduce_op="max"))
    if most == 0:
        return {key: value.cpu() for key, value in rows.items()}
    gathered: dict[str, list[torch.Tensor]] = {key: [] for key in rows}
    valid = torch.zeros(most, dtype=torch.long, device=device)  # 1 = a row, 0 = padding
    valid[:count] = 1
    kept = []
    for start in range(0, most, GATHER_CHUNK_ROWS):
        stop = min(start + GATHER_CHUNK_ROWS, most)
        kept.append(strategy.all_gather(valid[start:stop]).cpu())  # (world, c)
        for key, value in rows.items():
            part = torch.zeros((stop - start, *value.shape[1:]), dtype=value.dtype, device=device)
            mine = value[start:stop].to(device)
            part[: len(mine)] = mine
            gathered[key].append(strategy.all_gather(part).cpu())  # (world, c, ...)
    mask = torch.cat(kept, dim=1).bool()  # (world, most)
    return {key: torch.cat(parts, dim=1)[mask] for key, parts in gathered.items()}
