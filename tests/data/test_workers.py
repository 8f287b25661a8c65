"""DataLoader worker set-up: glibc keeps freed clip buffers, and the data modules use it."""

import platform

import pytest

from videomae_ssl.data import workers
from videomae_ssl.data.datamodules import PretrainDataModule
from videomae_ssl.masking import TubeMaskGenerator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_thresholds():
    assert workers.keep_freed_memory() is True


def test_every_loader_sets_up_its_workers(tmp_path, make_clip):
    for i in range(2):
        make_clip(tmp_path / f"{i}.mp4", num_frames=8, size=(32, 32))
    (tmp_path / "list.csv").write_text("0.mp4 0\n1.mp4 1\n")
    dm = PretrainDataModule(
        train_list=str(tmp_path / "list.csv"),
        val_list=str(tmp_path / "list.csv"),
        root=str(tmp_path),
        num_frames=4,
        sampling_rate=1,
        input_size=32,
        mask_generator=TubeMaskGenerator(0.5),
        batch_size=2,
        num_workers=1,
        backend="pyav",
    )
    dm.setup("fit")
    assert dm.train_dataloader().worker_init_fn is workers.worker_init
    assert dm.val_dataloader().worker_init_fn is workers.worker_init
