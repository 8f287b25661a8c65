"""PretrainDataModule: input validation that names config keys, loaders, rank handling."""

import re
from types import SimpleNamespace

import pytest
import torch

from videomae_ssl.data.datamodule import PretrainDataModule
from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.masking import TubeMaskGenerator


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, make_clip):
    root = tmp_path_factory.mktemp("ds")
    (root / "videos").mkdir()
    for k in range(5):
        make_clip(root / "videos" / f"c{k}.mp4", num_frames=12, size=(48, 32))
    (root / "train.csv").write_text("".join(f"videos/c{k}.mp4 {k % 2}\n" for k in range(5)))
    (root / "val.csv").write_text("videos/c0.mp4 0\nvideos/c1.mp4 1\nvideos/c2.mp4 0\n")
    return root


def module(folder, **kwargs):
    args = dict(
        train_list=str(folder / "train.csv"),
        val_list=str(folder / "val.csv"),
        root=str(folder),
        num_frames=4,
        sampling_rate=2,
        input_size=32,
        patch_size=16,
        tubelet_size=2,
        mask_generator=TubeMaskGenerator(0.5),
        batch_size=2,
        num_workers=0,
        pin_memory=False,
        backend="pyav",
    )
    return PretrainDataModule(**{**args, **kwargs})


@pytest.mark.parametrize("key", ["train_list", "val_list"])
def test_missing_annotation_file_names_file_and_key(dataset_dir, tmp_path, key):
    missing = tmp_path / "k400" / f"{key}.csv"
    dm = module(dataset_dir, **{key: str(missing)})
    with pytest.raises(DataError, match=re.escape(f"data.{key}={missing}")):
        dm.validate_inputs()


def test_missing_root_names_the_key(dataset_dir, tmp_path):
    with pytest.raises(DataError, match=r"data\.root="):
        module(dataset_dir, root=str(tmp_path / "nope")).validate_inputs()


def test_validate_checks_mask_ratio_and_backend(dataset_dir):
    with pytest.raises(ConfigError, match="mask_ratio=0.1"):  # hides 0 of 4 cells per slice
        module(dataset_dir, mask_generator=TubeMaskGenerator(0.1)).validate_inputs()
    with pytest.raises(ConfigError, match=r"data\.backend='opencv'"):
        module(dataset_dir, backend="opencv").validate_inputs()


def test_check_files_reports_missing_videos(dataset_dir, tmp_path):
    listing = tmp_path / "train.csv"
    listing.write_text("videos/c0.mp4 0\nvideos/gone.mp4 1\n")
    module(dataset_dir, train_list=str(listing)).validate_inputs()  # not checked by default
    with pytest.raises(DataError, match=r"1 of 2 listed videos do not exist, e\.g\. .*gone\.mp4"):
        module(dataset_dir, train_list=str(listing), check_files=True).validate_inputs()


def test_loaders(dataset_dir):
    dm = module(dataset_dir)
    dm.validate_inputs()
    dm.setup("fit")
    assert dm.num_train_samples == 5 and dm.batch_size == 2
    train = dm.train_dataloader()
    batches = list(train)
    assert len(batches) == 2  # 5 clips, batches of 2, last partial batch dropped
    assert batches[0]["video"].shape == (2, 3, 4, 32, 32)
    assert batches[0]["mask"].shape == (2, 8) and batches[0]["mask"].dtype == torch.bool
    val = list(dm.val_dataloader())
    assert [b["index"].tolist() for b in val] == [[0, 1], [2]]  # in order, nothing dropped


def test_train_sampler_uses_the_trainer_rank(dataset_dir):
    dm = module(dataset_dir, batch_size=1)
    dm.trainer = SimpleNamespace(global_rank=1, world_size=2)
    dm.setup("fit")
    sampler = dm.train_dataloader().sampler
    assert (sampler.rank, sampler.num_replicas, len(sampler)) == (1, 2, 2)
    assert sampler.shuffle and sampler.drop_last


def test_lightning_resharding_is_refused(dataset_dir):
    dm = module(dataset_dir, batch_size=1)
    connector = SimpleNamespace(use_distributed_sampler=True)
    dm.trainer = SimpleNamespace(global_rank=0, world_size=2, _accelerator_connector=connector)
    dm.setup("fit")
    with pytest.raises(ConfigError, match="trainer.use_distributed_sampler must be false"):
        dm.train_dataloader()


def test_without_val_list_validation_is_skipped(dataset_dir):
    dm = module(dataset_dir, val_list=None)
    dm.setup("fit")
    assert dm.val_dataloader() == []


def test_too_few_clips_for_one_batch(dataset_dir):
    dm = module(dataset_dir, batch_size=8)
    dm.setup("fit")
    with pytest.raises(DataError, match=r"5 clips .* data\.batch_size=8"):
        dm.train_dataloader()


def test_workers_persist(dataset_dir):
    dm = module(dataset_dir, num_workers=1)
    dm.setup("fit")
    assert dm.train_dataloader().persistent_workers
