"""The predictions CSV, the confusion-matrix picture and the summary line."""

from __future__ import annotations

import csv

import pytest
import torch
from PIL import Image, ImageStat

from videomae_ssl.evaluation import (
    VideoScores,
    confusion_matrix_png,
    format_result,
    write_predictions,
)
from videomae_ssl.evaluation.report import DARK_BLUE

HEADER = [
    "video_id",
    "path",
    "label",
    "label_name",
    "pred",
    "pred_name",
    "correct",
    "prob_pred",
    "top5",
]


def scores() -> VideoScores:
    """Videos 0 and 2 of a three-video list (video 1 belongs to another split)."""
    return VideoScores(
        video_ids=torch.tensor([0, 2]),
        probs=torch.tensor([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]], dtype=torch.float64),
        labels=torch.tensor([2, 1]),
        num_views=torch.tensor([15, 15]),
    )


def read_rows(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_predictions_csv_with_class_names(tmp_path):
    out = write_predictions(
        tmp_path / "deep" / "dir" / "preds.csv",
        scores(),
        ["a.mp4", "b.mp4", "c.mp4"],
        ["cat", "dog", "air drumming"],
    )
    assert out == tmp_path / "deep" / "dir" / "preds.csv"
    assert read_rows(out) == [
        HEADER,
        [
            "0",
            "a.mp4",
            "2",
            "air drumming",
            "2",
            "air drumming",
            "1",
            "0.7000",
            "air_drumming:0.7000 dog:0.2000 cat:0.1000",
        ],
        [
            "2",
            "c.mp4",
            "1",
            "dog",
            "0",
            "cat",
            "0",
            "0.5000",
            "cat:0.5000 dog:0.3000 air_drumming:0.2000",
        ],
    ]


def test_predictions_csv_without_class_names(tmp_path):
    out = write_predictions(tmp_path / "p.csv", scores(), ["a", "b", "c"], None, topk=2)
    rows = read_rows(out)
    assert rows[0][-1] == "top2"
    assert rows[1] == ["0", "a", "2", "", "2", "", "1", "0.7000", "2:0.7000 1:0.2000"]
    assert rows[2] == ["2", "c", "1", "", "0", "", "0", "0.5000", "0:0.5000 1:0.3000"]


def test_predictions_csv_rejects_ids_outside_the_list(tmp_path):
    with pytest.raises(ValueError, match="index video_paths"):
        write_predictions(tmp_path / "p.csv", scores(), ["a", "b"])


@pytest.mark.parametrize("num_classes", [2, 3, 5, 8])
def test_confusion_png_small(tmp_path, num_classes):
    names = [f"class number {i} with a long name" for i in range(num_classes)]
    labels = list(range(num_classes)) + [0]
    preds = list(range(num_classes)) + [1]
    out = confusion_matrix_png(tmp_path / "cm" / "cm.png", labels, preds, names)
    with Image.open(out) as image:
        image = image.convert("RGB")
        assert 150 <= image.width <= 1200 and 150 <= image.height <= 1200
        assert max(ImageStat.Stat(image).var) > 0
        # a row with a single right answer is shaded fully
        assert DARK_BLUE in {rgb for _, rgb in image.getcolors(maxcolors=1 << 20)}


def test_confusion_png_400_classes_stays_within_the_cap(tmp_path):
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 400, (2000,), generator=g)
    preds = torch.where(torch.rand(2000, generator=g) < 0.5, labels, (labels + 1) % 400)
    out = confusion_matrix_png(tmp_path / "cm.png", labels, preds, num_classes=400)
    with Image.open(out) as image:
        assert 800 <= image.width <= 2400 and 800 <= image.height <= 2400
        assert max(ImageStat.Stat(image.convert("RGB")).var) > 0


def test_format_result():
    result = {
        "top5": torch.tensor(0.95),
        "top1": torch.tensor(0.815),
        "num_videos": torch.tensor(120),
        "num_views": torch.tensor(1800),
    }
    assert format_result(result, num_clips=5, num_crops=3) == (
        "test: 120 videos, 1800 views (5 clips x 3 crops each), top-1 81.50%, top-5 95.00%"
    )
    assert format_result(result, name="val") == (
        "val: 120 videos, 1800 views, top-1 81.50%, top-5 95.00%"
    )
    one = {"top1": torch.tensor(1.0), "num_videos": torch.tensor(1), "num_views": torch.tensor(1)}
    assert format_result(one, num_clips=1, num_crops=1) == (
        "test: 1 video, 1 view (1 clip x 1 crop each), top-1 100.00%"
    )
