"""PretrainDataModule: input validation that names config keys, loaders, rank handling."""

import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import pretrain_module
from PIL import Image

from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.masking import TubeMaskGenerator


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, clip_folder):
    return clip_folder(tmp_path_factory.mktemp("ds"), 5)


def module(folder, **kwargs):
    lists = dict(train_list=folder / "train.csv", root=folder, val_list=folder / "val.csv")
    return pretrain_module(**{**lists, **kwargs})


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
    with pytest.raises(DataError, match=r"1 of 2 listed videos.*gone\.mp4"):
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
    strategy = SimpleNamespace(broadcast=lambda obj, src=0: obj)
    dm.trainer = SimpleNamespace(global_rank=1, world_size=2, strategy=strategy)
    dm.setup("fit")
    sampler = dm.train_dataloader().sampler
    assert (sampler.rank, sampler.num_replicas, len(sampler)) == (1, 2, 2)
    assert sampler.shuffle and sampler.drop_last


def test_lightning_resharding_is_refused(dataset_dir):
    from lightning.fabric.utilities.distributed import DistributedSamplerWrapper
    from torch.utils.data import DataLoader

    dm = module(dataset_dir, batch_size=1)
    strategy = SimpleNamespace(broadcast=lambda obj, src=0: obj)
    dm.trainer = SimpleNamespace(global_rank=0, world_size=2, strategy=strategy, training=True)
    dm.setup("fit")
    ours = dm.train_dataloader()
    # What Lightning iterates with use_distributed_sampler=true: our sampler wrapped in its own.
    wrapped = DistributedSamplerWrapper(ours.sampler, num_replicas=2, rank=0)
    dm.trainer.train_dataloader = DataLoader(ours.dataset, batch_size=1, sampler=wrapped)
    with pytest.raises(ConfigError, match="trainer.use_distributed_sampler must be false"):
        dm.on_before_batch_transfer({}, 0)
    dm.trainer.train_dataloader = ours  # Lightning left it alone: no error
    dm.on_before_batch_transfer({}, 0)


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


def test_annotation_options_reach_the_reader(dataset_dir, tmp_path):
    listing = tmp_path / "train_v2.txt"
    listing.write_text("videos/c0.mp4 0 -1\nvideos/c1.mp4 0 -1\nvideos/c2.mp4 0 -1\n")
    dm = module(dataset_dir, train_list=str(listing), val_list=None, annotation_format="v2")
    dm.setup("fit")
    assert [r.path for r in dm.train_records] == [
        os.path.join(str(dataset_dir), f"videos/c{k}.mp4") for k in range(3)
    ]
    assert all(r.label == -1 and not r.is_frames for r in dm.train_records)
    assert next(iter(dm.train_dataloader()))["video"].shape == (2, 3, 4, 32, 32)
    with pytest.raises(DataError, match=r"train\.csv:2"):  # label 1 is not below 1 class
        module(dataset_dir, num_classes=1).validate_inputs()
    with pytest.raises(ConfigError, match=r"data\.annotation_format='v3'"):
        module(dataset_dir, annotation_format="v3").validate_inputs()


def test_reader_options_reach_the_datasets(dataset_dir):
    dm = module(dataset_dir, frame_template="{:06d}.png", short_side=40, num_sample=3)
    dm.setup("fit")
    for ds in (dm.train_dataset, dm.val_dataset):
        assert (ds.decoding.frame_template, ds.decoding.short_side) == ("{:06d}.png", 40)
    assert dm.train_dataset.num_sample == 3 and dm.val_dataset.num_sample == 1


@pytest.mark.parametrize(
    "override, match",
    [
        (dict(eval_broken="skip"), r"data\.eval_broken='skip'"),
        (dict(max_broken_fraction=1.5), r"data\.max_broken_fraction=1\.5"),
        (dict(max_broken_fraction=-0.1), r"data\.max_broken_fraction=-0\.1"),
        (dict(short_side=0), r"data\.short_side=0"),
        (dict(num_sample=2.5), r"data\.num_sample=2\.5"),
    ],
)
def test_impossible_settings_name_the_key(dataset_dir, override, match):
    with pytest.raises(ConfigError, match=match):
        module(dataset_dir, **override).validate_inputs()


def test_validation_probe_passes_good_lists(dataset_dir, tmp_path):
    dm = module(dataset_dir, quarantine_file=str(tmp_path / "q.tsv"))
    dm.validate_inputs()
    assert len(dm.val_records) == 3 and dm.excluded_eval == []
    assert not (tmp_path / "q.tsv").exists()  # nothing broken, nothing written


@pytest.mark.parametrize("num_workers", [0, 1])
def test_checking_the_lists_leaves_the_global_generators_as_they_were(dataset_dir, num_workers):
    # The model is built after the check: its initialisation must not depend on whether the
    # evaluation videos were opened (a streamed run checks none and must start the same).
    dm = module(dataset_dir, num_workers=num_workers)
    torch.manual_seed(0)
    np.random.seed(0)
    before = torch.get_rng_state(), np.random.get_state()[1].copy()
    dm.validate_inputs()
    assert len(dm.val_records) == 3
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1])


def test_frame_folders_with_a_custom_template(tmp_path):
    frames = tmp_path / "frames" / "clip0"
    frames.mkdir(parents=True)
    for i in range(1, 11):  # the frames format numbers files from 1
        shade = np.full((32, 48, 3), 10 + 20 * i, dtype=np.uint8)
        Image.fromarray(shade).save(frames / f"f_{i:03d}.jpg", quality=95)
    listing = tmp_path / "train.txt"
    listing.write_text("frames/clip0 10 0\nframes/clip0 10 0\n")
    dm = module(
        tmp_path,
        train_list=str(listing),
        val_list=None,
        annotation_format="frames",
        frame_template="f_{:03d}.jpg",
    )
    dm.setup("fit")
    assert dm.train_records[0].is_frames and dm.train_records[0].num_frames == 10
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].shape == (2, 3, 4, 32, 32) and batch["broken"].tolist() == [0, 0]
    wrong = module(tmp_path, train_list=str(listing), val_list=None, annotation_format="frames")
    wrong.setup("fit")
    with pytest.raises(DataError, match="clip0"):  # the default template names no file here
        next(iter(wrong.train_dataloader()))
