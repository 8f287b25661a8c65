"""The loggers see the run: its resolved config beside the module's hyperparameters, and the
pictures the callbacks draw (reconstructions, confusion matrices, the kNN curve)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import yaml
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from PIL import Image
from tiny_runs import train_here, write_clips

from videomae_ssl.callbacks.logger_media import log_picture

pytestmark = pytest.mark.slow


def events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"images": 0})
    accumulator.Reload()
    return accumulator


def test_a_picture_file_reaches_tensorboard_with_its_pixels_and_csv_is_left_alone(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "confusion.png")
    board, table = TensorBoardLogger(tmp_path, name="tb", version=""), CSVLogger(tmp_path, "csv")
    log_picture([board, table], "test/confusion", tmp_path / "confusion.png", step=7)
    board.finalize("success")
    (image,) = events(tmp_path / "tb").Images("test/confusion")
    assert (image.step, image.width, image.height) == (7, 30, 20)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(image.encoded_image_string))), pixels)


def test_a_pretraining_run_gives_tensorboard_its_config_and_reconstructions(tmp_path):
    data = write_clips(tmp_path / "clips", count=4)
    run = tmp_path / "run"
    train_here(
        data,
        run,
        "logger=tensorboard",
        f"data.val_list={data / 'train.csv'}",
        "trainer.limit_val_batches=1",
        "mask_ratio=0.75",
        "seed=3",
        f"callbacks.reconstruction_grid={{_target_: videomae_ssl.callbacks.reconstruction."
        f"ReconstructionGrid, dirpath: {run / 'reconstructions'}, num_clips: 2}}",
    )
    hparams = yaml.safe_load((run / "tensorboard" / "hparams.yaml").read_text())
    # The run's config (what the module's hyperparameters do not say) beside the module's own.
    assert hparams["mask_ratio"] == 0.75 and hparams["seed"] == 3
    assert hparams["data"]["train_list"] == str(data / "train.csv")
    assert hparams["norm_pix_loss"] is True
    assert "val/reconstruction" in events(run / "tensorboard").Tags()["images"]
