"""Writes what a multi-view test scored: per-video predictions, a confusion matrix, one line."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from videomae_ssl.callbacks.logger_media import log_picture
from videomae_ssl.console import say
from videomae_ssl.evaluation.report import confusion_matrix_png, format_result, write_predictions


class TestReport(L.Callback):
    """After a test run (rank 0, results already gathered over ranks): `<dirpath>/predictions.csv`
    (one row per video: label, prediction, top-5 with probabilities), `<dirpath>/confusion.png`,
    and a printed line, `<name>: ...`, with the number of videos and views scored and the
    accuracies.

    Reads the per-video scores from the module (`test_scores`, `test_result`, `class_names`)
    and the videos' paths from the data module (`test_video_paths()`).
    """

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, dirpath: str, name: str = "test") -> None:
        self.dirpath = Path(dirpath)
        self.name = name
        self.predictions: Path | None = None
        self.confusion: Path | None = None
        self.line: str | None = None

    @rank_zero_only
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        scores = getattr(pl_module, "test_scores", None)
        if scores is None or trainer.sanity_checking:
            return
        names = getattr(pl_module, "class_names", None)
        paths = trainer.datamodule.test_video_paths()
        self.predictions = write_predictions(self.dirpath / "predictions.csv", scores, paths, names)
        self.confusion = confusion_matrix_png(
            self.dirpath / "confusion.png", scores.labels, scores.preds, names
        )
        log_picture(trainer.loggers, f"{self.name}/confusion", self.confusion, trainer.global_step)
        dm = trainer.datamodule
        result = {k.removeprefix("test/"): v for k, v in pl_module.test_result.items()}
        self.line = format_result(
            result, self.name, num_clips=dm.test_clips, num_crops=dm.test_crops
        )
        if "top1_ema" in result:
            self.line += f"; EMA weights: top-1 {100 * result['top1_ema']:.2f}%"
        say(f"{self.line}\n  predictions: {self.predictions}\n  confusion matrix: {self.confusion}")
