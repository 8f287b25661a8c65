"""Evaluation: the multi-view test metric (views averaged per video, exact under DDP) and the
reports a test run writes (predictions CSV, confusion matrix picture, summary line)."""

from videomae_ssl.evaluation.multiview import MultiViewAccuracy, VideoScores, aggregate_views
from videomae_ssl.evaluation.report import (
    confusion_image,
    confusion_matrix_png,
    format_result,
    write_predictions,
)

__all__ = [
    "MultiViewAccuracy",
    "VideoScores",
    "aggregate_views",
    "confusion_image",
    "confusion_matrix_png",
    "format_result",
    "write_predictions",
]
