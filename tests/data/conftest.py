"""Fixtures shared by the data tests: a folder of small clips with its lists, and a pretraining
data module built on it with the settings these tests use unless they say otherwise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from videomae_ssl.data.datamodules import PretrainDataModule
from videomae_ssl.masking import TubeMaskGenerator

# Four frames of 32 px in 2 x 2 x 2 tubelets of 16 px, half of them hidden: small enough that a
# batch decodes and collates in milliseconds on a 2-core CPU.
SMALL = dict(
    num_frames=4,
    sampling_rate=2,
    input_size=32,
    patch_size=16,
    tubelet_size=2,
    batch_size=2,
    num_workers=0,
    pin_memory=False,
    backend="pyav",
)


def pretrain_module(
    train_list: str | Path,
    root: str | Path,
    val_list: str | Path | None = None,
    mask_ratio: float = 0.5,
    **kwargs,
) -> PretrainDataModule:
    """A PretrainDataModule with the SMALL settings; `kwargs` override any of them."""
    args = dict(
        SMALL,
        train_list=str(train_list),
        val_list=None if val_list is None else str(val_list),
        root=str(root),
        mask_generator=TubeMaskGenerator(mask_ratio),
    )
    return PretrainDataModule(**{**args, **kwargs})


@pytest.fixture(scope="session")
def clip_folder(make_clip) -> Callable[..., Path]:
    """`clip_folder(root, count, labels=None)` writes videos/c{k}.mp4 (12 frames, 48x32 h264)
    under `root`, train.csv listing all of them (label k % 2 unless `labels` is given) and
    val.csv listing c0, c1, c2 with labels 0, 1, 0, and returns `root`."""

    def write(root: Path, count: int, labels: list[int] | None = None) -> Path:
        labels = [k % 2 for k in range(count)] if labels is None else labels
        (root / "videos").mkdir(parents=True, exist_ok=True)
        for k in range(count):
            make_clip(root / "videos" / f"c{k}.mp4", num_frames=12, size=(48, 32))
        (root / "train.csv").write_text(
            "".join(f"videos/c{k}.mp4 {labels[k]}\n" for k in range(count))
        )
        (root / "val.csv").write_text("videos/c0.mp4 0\nvideos/c1.mp4 1\nvideos/c2.mp4 0\n")
        return root

    return write
