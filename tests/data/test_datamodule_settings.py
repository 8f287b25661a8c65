"""The data modules take the configs' flat keys (`data.batch_size=16` on the command line) and keep
them in typed settings groups; every key lands in its group, and an unknown one is refused."""

import hydra
import pytest
from test_configs import compose_cfg

from videomae_ssl.data.datamodules import FinetuneDataModule, PretrainDataModule
from videomae_ssl.data.datamodules.settings import (
    KEYS,
    BrokenVideoSettings,
    ClipSettings,
    ListSettings,
    LoaderSettings,
    group_keys,
)
from videomae_ssl.data.datamodules.streams import StreamOptions
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.masking import TubeMaskGenerator

# The keys of configs/data/_pretrain.yaml and _finetune.yaml that every data module takes.
CONFIG_KEYS = {
    "train_list",
    "val_list",
    "test_list",
    "root",
    "annotation_format",
    "num_classes",
    "check_files",
    "num_frames",
    "sampling_rate",
    "input_size",
    "num_sample",
    "batch_size",
    "num_workers",
    "pin_memory",
    "seed",
    "backend",
    "frame_template",
    "short_side",
    "decode_device",
    "decode_skip_loop_filter",
    "quarantine_file",
    "max_broken_fraction",
    "eval_broken",
    "stream",
    "stream_cache_dir",
    "stream_cache_size",
}


def test_the_config_keys_are_the_settings_keys():
    assert set(KEYS) == CONFIG_KEYS


def test_each_key_fills_its_group():
    groups = group_keys(
        dict(
            train_list="t.csv",
            root="videos",
            num_frames=8,
            sampling_rate=2,
            input_size=112,
            num_sample=2,
            batch_size=4,
            num_workers=3,
            pin_memory=False,
            seed=7,
            backend="pyav",
            decode_device="cpu",
            short_side=128,
            quarantine_file="q.tsv",
            eval_broken="exclude",
            stream="packed",
            stream_cache_dir="cache",
        )
    )
    assert groups["lists"] == ListSettings(train_list="t.csv", root="videos")
    assert groups["clips"] == ClipSettings(
        num_frames=8, sampling_rate=2, input_size=112, num_sample=2
    )
    assert groups["loader"] == LoaderSettings(batch_size=4, num_workers=3, pin_memory=False, seed=7)
    assert groups["decode"] == DecodeOptions(backend="pyav", short_side=128)
    assert groups["broken"] == BrokenVideoSettings(quarantine_file="q.tsv", eval_broken="exclude")
    assert groups["stream"] == StreamOptions("packed", "cache", None)
    assert group_keys({"stream_cache_dir": "cache"})["stream"] is None  # no stream without its URL


def test_an_unknown_key_is_refused_by_name():
    with pytest.raises(TypeError, match="'batchsize'"):
        PretrainDataModule(train_list="t.csv", mask_generator=TubeMaskGenerator(0.9), batchsize=4)


def test_the_settings_read_as_attributes_but_are_set_through_their_group():
    dm = PretrainDataModule(
        train_list="t.csv", mask_generator=TubeMaskGenerator(0.9), batch_size=4, num_frames=8
    )
    assert (dm.batch_size, dm.num_frames, dm.train_list) == (4, 8, "t.csv")
    with pytest.raises(AttributeError, match="loader"):
        dm.batch_size = 2


@pytest.mark.parametrize(
    ("experiment", "kind"),
    [("k400_pretrain", PretrainDataModule), ("ssv2_finetune", FinetuneDataModule)],
)
def test_command_line_overrides_reach_the_groups(experiment, kind, tmp_path):
    cfg = compose_cfg(
        [
            f"experiment={experiment}",
            "data.batch_size=16",
            "data.num_workers=3",
            "data.input_size=112",
            "data.backend=pyav",
            "data.num_sample=2",
            "data.eval_broken=exclude",
            f"data.stream={tmp_path}",
        ],
        tmp_path,
    )
    dm = hydra.utils.instantiate(cfg.data)
    assert isinstance(dm, kind)
    assert (dm.loader.batch_size, dm.loader.num_workers, dm.loader.seed) == (16, 3, cfg.seed)
    assert (dm.clips.input_size, dm.clips.num_sample) == (112, 2)
    assert dm.decode.backend == "pyav" and dm.broken.eval_broken == "exclude"
    assert dm.stream.url == str(tmp_path) and dm.lists.train_list == cfg.data.train_list
    assert (dm.loaders.batch_size, dm.loaders.num_workers) == (16, 3)
