"""The kNN and linear probes on cached features, scored with the multi-view test protocol, and
the reports they write.

Both give each test view a distribution over the classes (kNN: its normalised votes; linear:
the softmax of its logits), average it over the views of each video (`aggregate_views`, as the
fine-tuning test does) and take top-1 / top-5 with the kNN module's tie rule (equal scores:
the lower class id first). The features were gathered once per view over all ranks, so the
result is exact under DDP.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from videomae_ssl.console import count
from videomae_ssl.evaluation import (
    VideoScores,
    aggregate_views,
    confusion_matrix_png,
    format_result,
    write_predictions,
)
from videomae_ssl.probe.features import FeatureSet
from videomae_ssl.probe.knn import knn_scores, topk_accuracy
from videomae_ssl.probe.linear import probe_logits, train_linear_probe
from videomae_ssl.probe.settings import KnnSettings, LinearSettings

# The probes of frozen evaluation, in the order they run and report, with their printed names.
PROBE_NAMES = {"knn": "kNN", "linear": "linear", "attentive": "attentive"}


def knn_probe(
    train: FeatureSet, test: FeatureSet, num_classes: int, settings: KnnSettings | None = None
) -> VideoScores:
    """Per-video scores of the test views' kNN votes among the training features."""
    settings = settings or KnnSettings()
    votes = knn_scores(
        train.features, train.labels, test.features, num_classes, settings.k, settings.temperature
    )  # (M, C), rows sum to 1
    return aggregate_views(votes, test.labels, test.video_ids, test.view_ids)


def linear_probe(
    train: FeatureSet,
    test: FeatureSet,
    num_classes: int,
    settings: LinearSettings | None = None,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> VideoScores:
    """Train a linear probe on the training features, then score the test views."""
    head = train_linear_probe(train, num_classes, settings, seed=seed, device=device,
                              progress=progress)  # fmt: skip
    probs = probe_logits(head, test.features).softmax(dim=-1)  # (M, C)
    return aggregate_views(probs, test.labels, test.video_ids, test.view_ids)


def accuracies(scores: VideoScores) -> dict[str, float]:
    """`top1`, `top5`, `num_videos`, `num_views` of per-video scores."""
    tops = topk_accuracy(scores.probs, scores.labels, (1, 5))
    return {
        "top1": tops[1],
        "top5": tops[5],
        "num_videos": int(scores.video_ids.numel()),
        "num_views": int(scores.num_views.sum()),
    }


def write_report(
    folder: str | Path,
    name: str,
    scores: VideoScores,
    video_paths: Sequence[str],
    class_names: Sequence[str] | None,
    views: tuple[int, int],
) -> tuple[dict[str, float], str]:
    """`<folder>/predictions.csv` and `<folder>/confusion.png`, as the fine-tuning test writes
    them; -> (accuracies, the lines to print). `views` is (clips, crops) per video."""
    folder = Path(folder)
    result = accuracies(scores)
    predictions = write_predictions(folder / "predictions.csv", scores, video_paths, class_names)
    num_classes = scores.probs.shape[1]
    confusion = confusion_matrix_png(folder / "confusion.png", scores.labels, scores.preds,
                                     class_names, num_classes=num_classes)  # fmt: skip
    line = format_result(result, f"{PROBE_NAMES[name]} probe", *views)
    return result, f"{line}\n  predictions: {predictions}\n  confusion matrix: {confusion}"


def describe_features(features: dict[str, FeatureSet]) -> str:
    """E.g. "features: train 9537 videos, test 3783 videos (56745 views), width 768"."""
    parts = []
    for split, rows in features.items():
        views = f" ({count(len(rows), 'view')})" if len(rows) != rows.num_videos else ""
        parts.append(f"{split} {count(rows.num_videos, 'video')}{views}")
    width = next(iter(features.values())).features.shape[-1] if features else 0
    return f"features: {', '.join(parts)}, width {width}"
