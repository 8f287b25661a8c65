"""The kNN and linear probes on cached features, scored with the multi-view test protocol, and
the reports, picture and summary line of frozen evaluation.

Both give each test view a distribution over the classes (kNN: its normalised votes; linear:
the softmax of its logits), average it over the views of each video (`aggregate_views`, as the
fine-tuning test does) and take top-1 / top-5 with the kNN module's tie rule (equal scores:
the lower class id first). The features were gathered once per view over all ranks, so the
result is exact under DDP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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
from videomae_ssl.probe.settings import KnnSettings, LinearSettings, ProbeSettings

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
    head = train_linear_probe(
        train, num_classes, settings, seed=seed, device=device, progress=progress
    )
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
    confusion = confusion_matrix_png(
        folder / "confusion.png", scores.labels, scores.preds, class_names, num_classes=num_classes
    )
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


def feature_probes(
    settings: ProbeSettings,
    features: dict[str, FeatureSet],
    num_classes: int,
    class_names: Sequence[str] | None,
    test_paths: Sequence[str],
    views: tuple[int, int],
    device: torch.device | str = "cpu",
) -> tuple[dict[str, float], list[str]]:
    """The kNN and linear probes of `settings.probes` on the cached "train" and "test"
    features, with their reports in `settings.out_dir`; -> (results keyed `<probe>/<metric>`,
    lines to print). `test_paths` names the test videos by video id, `views` is (clips,
    crops) per test video."""
    results: dict[str, float] = {}
    lines = [describe_features(features)]
    train, test = features.get("train"), features.get("test")
    runs: dict[str, Callable[[], Any]] = {
        "knn": lambda: knn_probe(train, test, num_classes, settings.knn),
        "linear": lambda: linear_probe(
            train, test, num_classes, settings.linear, seed=settings.seed, device=device
        ),
    }
    for name in [p for p in PROBE_NAMES if p in settings.probes and p in runs]:
        scores = runs[name]()
        result, text = write_report(
            settings.out_dir / name, name, scores, test_paths, class_names, views
        )
        results.update({f"{name}/{key}": value for key, value in result.items()})
        lines.append(text)
    return results, lines


def feature_picture(
    settings: ProbeSettings, features: dict[str, FeatureSet], class_names: Sequence[str] | None
) -> str:
    """The t-SNE map of the validation features (the test's first views without a val list);
    -> the line naming it."""
    from videomae_ssl.viz.embedding import embedding_png

    split = "val" if "val" in features else "test"
    rows = features[split].first_views()
    pretrained = settings.metadata.get("pretrained")
    source = Path(pretrained).name if pretrained else "random weights"
    path = embedding_png(
        settings.out_dir / "embedding.png",
        rows.features,
        rows.labels,
        class_names,
        title=f"{split} features ({source})",
        max_points=settings.embedding_points,
        seed=settings.seed,
    )
    return f"features map: {path}"


def summary_line(results: dict[str, float]) -> str:
    """E.g. "frozen evaluation: kNN top-1 71.09%, linear top-1 87.50%" (top-5 beside)."""
    parts = [
        f"{shown} top-1 {100 * results[f'{name}/top1']:.2f}% (top-5 "
        f"{100 * results[f'{name}/top5']:.2f}%)"
        for name, shown in PROBE_NAMES.items()
        if f"{name}/top1" in results
    ]
    return "frozen evaluation: " + ", ".join(parts)
