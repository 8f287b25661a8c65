"""What the run's loggers see beyond the numbers Lightning logs: the resolved config, pictures
(reconstructions, confusion matrices, the kNN curve, the feature map) and the results computed
outside a LightningModule (the frozen probes). The files on disk stay; this sends copies to
the loggers that can show them (TensorBoard, wandb); the CSV logger keeps numbers only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from PIL import Image


@rank_zero_only
def log_config(loggers: Iterable[Logger], config: Mapping[str, Any]) -> None:
    """The run's whole resolved config (dataset, mask ratio, seed, ...), beside the module's own
    hyperparameters that Lightning logs."""
    for logger in loggers:
        logger.log_hyperparams(dict(config))


@rank_zero_only
def log_picture(
    loggers: Iterable[Logger], key: str, picture: Image.Image | str | Path, step: int
) -> None:
    """`picture` (an image or a PNG's path) under `key` at `step`."""
    image = picture if isinstance(picture, Image.Image) else Image.open(picture)
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[image], step=step)
        elif isinstance(logger, TensorBoardLogger):
            pixels = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
            logger.experiment.add_image(key, pixels, step, dataformats="HWC")


@rank_zero_only
def log_numbers(loggers: Iterable[Logger], values: Mapping[str, float], step: int) -> None:
    """Scalars computed outside a LightningModule (a frozen probe's top-1, ...)."""
    numbers = {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}
    for logger in loggers:
        logger.log_metrics(numbers, step=step)
