"""Multi-view test accuracy: every test video is scored on num_clips x num_crops views (5 x 3 for
Kinetics, UCF101 and HMDB51, 2 x 3 for SSv2); the softmax of each view is averaged per video,
and top-1 / top-5 are taken on the averaged probabilities.

Views are grouped by video id, never by position, so the result is exact under DDP: each rank
scores its own shard, the metric gathers every (video, view) row, and a row that arrives twice
(a DistributedSampler pads its shards by repeating samples) is counted once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import multiclass_accuracy
from torchmetrics.utilities import dim_zero_cat

_STATES = ("probs", "labels", "video_ids", "view_ids")


@dataclass(frozen=True)
class VideoScores:
    """Per-video result of the multi-view test, one row per video in ascending id order."""

    video_ids: torch.Tensor  # (V,) int64, sorted ascending
    probs: torch.Tensor  # (V, C) mean over the video's distinct views of the view softmax
    labels: torch.Tensor  # (V,) int64
    num_views: torch.Tensor  # (V,) int64, distinct view ids scored per video

    @property
    def preds(self) -> torch.Tensor:
        """(V,) int64: the top-1 class of each video."""
        return self.probs.argmax(dim=-1)


def _check_rows(
    probs: torch.Tensor, labels: torch.Tensor, video_ids: torch.Tensor, view_ids: torch.Tensor
) -> None:
    if probs.ndim != 2:
        raise ValueError(f"probs must be (M, C), got shape {tuple(probs.shape)}")
    m = probs.shape[0]
    for name, t in (("labels", labels), ("video_ids", video_ids), ("view_ids", view_ids)):
        if t.shape != (m,):
            raise ValueError(f"{name} must be ({m},) like the rows of probs, got {tuple(t.shape)}")


def _first_of_each_pair(video_ids: torch.Tensor, view_ids: torch.Tensor) -> torch.Tensor:
    """Row indices (K,) of the first occurrence of each distinct (video, view) pair, ordered by
    (video, view). Two stable sorts give the lexicographic order and keep equal pairs in arrival
    order, so the first row of each run is the first one seen."""
    order = torch.argsort(view_ids, stable=True)
    order = order[torch.argsort(video_ids[order], stable=True)]  # (M,) by (video, view)
    v, w = video_ids[order], view_ids[order]
    first = torch.ones_like(order, dtype=torch.bool)
    first[1:] = (v[1:] != v[:-1]) | (w[1:] != w[:-1])
    return order[first]


def _check_labels(labels: torch.Tensor, video_ids: torch.Tensor) -> None:
    """Every row of a video must carry the same label (duplicates included)."""
    order = torch.argsort(video_ids, stable=True)
    v, y = video_ids[order], labels[order]  # (M,)
    starts = torch.ones_like(v, dtype=torch.bool)
    starts[1:] = v[1:] != v[:-1]
    group = torch.cumsum(starts, dim=0) - 1  # (M,) video index of each sorted row
    first_label = y[starts][group]  # (M,)
    bad = v[y != first_label].unique()
    if bad.numel():
        shown = ", ".join(str(i) for i in bad[:5].tolist())
        raise ValueError(
            f"{bad.numel()} video(s) have views with different labels (video ids: {shown}); "
            "the test list must give each video one label"
        )


def aggregate_views(
    probs: torch.Tensor,
    labels: torch.Tensor,
    video_ids: torch.Tensor,
    view_ids: torch.Tensor,
) -> VideoScores:
    """Average view probabilities per video. probs: (M, C) per-view softmax; labels, video_ids,
    view_ids: (M,) int -> VideoScores with V distinct videos.

    A (video, view) pair that occurs more than once is kept once (its first row), so padding
    duplicates from a distributed sampler do not weigh a view twice. Sums run in float64; the
    probabilities come back in float64 too, which is what the accuracy and the report consume.
    """
    _check_rows(probs, labels, video_ids, view_ids)
    labels, video_ids, view_ids = labels.long(), video_ids.long(), view_ids.long()
    _check_labels(labels, video_ids)
    keep = _first_of_each_pair(video_ids, view_ids)  # (K,) sorted by (video, view)
    vids, inverse, counts = torch.unique_consecutive(
        video_ids[keep], return_inverse=True, return_counts=True
    )  # (V,), (K,), (V,)
    sums = torch.zeros(vids.numel(), probs.shape[1], dtype=torch.float64, device=probs.device)
    sums.index_add_(0, inverse, probs[keep].to(torch.float64))  # (V, C)
    first_row = torch.cumsum(counts, dim=0) - counts  # (V,) first kept row of each video
    return VideoScores(
        video_ids=vids,
        probs=sums / counts.unsqueeze(1).to(torch.float64),  # (V, C)
        labels=labels[keep][first_row],
        num_views=counts,
    )


class MultiViewAccuracy(Metric):
    """Top-k accuracy of the per-video mean of view softmaxes, exact under DDP.

    `update` keeps every view's probabilities; `compute` gathers them from all ranks, drops
    repeated (video, view) rows, averages per video and returns `top{k}` for each k in `top_k`
    (fractions in [0, 1]; k is clamped to num_classes) with `num_videos` and `num_views` (the
    distinct (video, view) pairs scored). With `expected_views`, a video with fewer distinct
    views is an error: that is how a lost shard or a dropped batch is caught.

    Under DDP `compute()` is a collective (torchmetrics gathers the states in it): call it on
    every rank. Afterwards `last_scores` (also `video_scores()`) holds the per-video result of
    the gathered states, the same on every rank; `update` and `reset` clear it. Calling the
    metric only updates it: a batch holds a fraction of its videos' views.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(
        self,
        num_classes: int,
        top_k: Sequence[int] = (1, 5),
        expected_views: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if not top_k or any(k < 1 for k in top_k):
            raise ValueError(f"top_k must be a non-empty list of k >= 1, got {list(top_k)}")
        if expected_views is not None and expected_views < 1:
            raise ValueError(f"expected_views must be >= 1 or None, got {expected_views}")
        self.num_classes = num_classes
        self.top_k = tuple(int(k) for k in top_k)
        self.expected_views = expected_views
        self.last_scores: VideoScores | None = None
        for name in _STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        video_ids: torch.Tensor,
        view_ids: torch.Tensor,
    ) -> None:
        """logits: (B, C) one row per view; labels, video_ids, view_ids: (B,)."""
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"logits must be (B, {self.num_classes}), got shape {tuple(logits.shape)}"
            )
        probs = logits.detach().float().softmax(dim=-1)  # (B, C)
        _check_rows(probs, labels, video_ids, view_ids)
        self.probs.append(probs)
        self.labels.append(labels.detach().long())
        self.video_ids.append(video_ids.detach().long())
        self.view_ids.append(view_ids.detach().long())
        self.last_scores = None

    def forward(self, *args: Any, **kwargs: Any) -> None:
        """Same as `update`: a batch holds only some views of its videos, so a per-batch
        accuracy would mean nothing (and would fail the `expected_views` check)."""
        self.update(*args, **kwargs)

    def _empty(self, name: str) -> torch.Tensor:
        """A state with no rows, typed and shaped as `update` stores it."""
        if name == "probs":
            return torch.zeros(0, self.num_classes, dtype=torch.float32, device=self.device)
        return torch.zeros(0, dtype=torch.long, device=self.device)

    def sync(self, *args: Any, **kwargs: Any) -> None:
        """Give a rank that scored nothing typed, shaped empty states before the gather.

        torchmetrics stands in a 1-D tensor of the metric's float dtype for an empty list state;
        gathered next to the (M, C) float and int64 states of the other ranks it breaks the
        all_gather, so a rank with no test batches would fail or corrupt the result.
        """
        for name in _STATES:
            state = getattr(self, name)
            if isinstance(state, list) and not state:
                state.append(self._empty(name))
        super().sync(*args, **kwargs)

    def _gathered(self, name: str) -> torch.Tensor:
        """All rows of a state. A list state is a list of tensors before a DDP sync and one
        concatenated tensor after it; dim_zero_cat takes both."""
        state = getattr(self, name)
        if isinstance(state, list) and not state:
            return self._empty(name)
        return dim_zero_cat(state)

    def _check_complete(self, scores: VideoScores) -> None:
        if self.expected_views is None:
            return
        short = scores.num_views < self.expected_views
        if not bool(short.any()):
            return
        ids, counts = scores.video_ids[short], scores.num_views[short]
        pairs = zip(ids[:5].tolist(), counts[:5].tolist(), strict=True)
        shown = ", ".join(f"{i} ({c})" for i, c in pairs)
        raise ValueError(
            f"{ids.numel()} of {scores.video_ids.numel()} videos have fewer than "
            f"{self.expected_views} distinct views; first video ids (views scored): {shown}"
        )

    def compute(self) -> dict[str, torch.Tensor]:
        """`top{k}` for each k, `num_videos`, `num_views`; NaN accuracies when nothing was
        scored."""
        scores = aggregate_views(*(self._gathered(name) for name in _STATES))
        self._check_complete(scores)
        self.last_scores = scores
        result: dict[str, torch.Tensor] = {}
        for k in self.top_k:
            if scores.video_ids.numel() == 0:
                result[f"top{k}"] = torch.tensor(float("nan"), device=self.device)
                continue
            result[f"top{k}"] = multiclass_accuracy(
                scores.probs,
                scores.labels,
                num_classes=self.num_classes,
                average="micro",
                top_k=min(k, self.num_classes),
            )
        result["num_videos"] = torch.tensor(scores.video_ids.numel(), device=self.device)
        result["num_views"] = scores.num_views.sum()
        return result

    def video_scores(self) -> VideoScores:
        """The per-video result behind the last `compute()`, running it first if needed. Under
        DDP that first run is a collective: call this on every rank, or after `compute()`."""
        if self.last_scores is None:
            self.compute()
        return self.last_scores  # type: ignore[return-value]

    def reset(self) -> None:
        super().reset()
        self.last_scores = None
