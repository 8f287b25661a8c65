"""Every experiment composes, resolves and builds; the command line fails cleanly on bad input."""

import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import hydra
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.models.sizes import SIZES, get_size
from videomae_ssl.stages.checks import check_config
from videomae_ssl.train import CONFIG_DIR

# Files starting with "_" are bases the experiments include, not experiments.
EXPERIMENTS = sorted(
    p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml") if not p.stem.startswith("_")
)
ROOT = Path(CONFIG_DIR).parent


def compose_cfg(overrides, tmp_path):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(tmp_path)
        cfg.paths.output_dir = str(tmp_path / "out")
        cfg.paths.cache_dir = str(tmp_path / "cache")
        del cfg["hydra"]
    OmegaConf.resolve(cfg)
    return cfg


DATASETS = ("k400", "ssv2", "ucf101", "hmdb51")
PIPELINES = [e for e in EXPERIMENTS if e == "demo" or e.endswith("_pipeline")]
PROBES = [e for e in EXPERIMENTS if e.endswith("_probe")]


def test_experiments_are_found():
    stages = {
        f"{d}_{stage}" for d in DATASETS for stage in ("pretrain", "finetune", "pipeline", "probe")
    }
    assert {"demo", "demo_pretrain", "demo_finetune", "demo_probe", *stages} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", PIPELINES)
def test_pipeline_stages_are_experiments_and_init_from_earlier_ones(experiment, tmp_path):
    cfg = compose_cfg([f"experiment={experiment}"], tmp_path)
    earlier = set()
    for stage in cfg.pipeline:
        assert stage.experiment in EXPERIMENTS
        assert stage.get("init") is None or stage.init in earlier
        earlier.add(stage.name)
    assert any(s.get("init") for s in cfg.pipeline)


@pytest.mark.parametrize("experiment", PROBES)
def test_probe_experiment_composes_and_builds(experiment, tmp_path):
    from videomae_ssl.data.datamodules import FinetuneDataModule
    from videomae_ssl.probe.encoder import frozen_encoder
    from videomae_ssl.stages.probe import probe_settings

    cfg = compose_cfg([f"experiment={experiment}"], tmp_path)
    check_config(cfg)
    assert cfg.stage == "probe" and cfg.name == experiment
    settings = probe_settings(cfg)
    assert list(settings.probes) == (["knn"] if experiment == "demo_probe" else ["knn", "linear"])
    assert (settings.knn.k, settings.knn.temperature) == (20, 0.07)
    # The attentive probe's training clips: V-JEPA's augmentation, nothing more.
    assert (cfg.data.auto_augment, list(cfg.data.crop_scale)) == (None, [0.3, 1.0])
    assert (cfg.data.reprob, cfg.data.mixup, cfg.data.cutmix, cfg.data.label_smoothing) == (0,) * 4
    patch = 8 if experiment.startswith("demo") else 16
    encoder = frozen_encoder(
        size=cfg.model.net.size,
        img_size=cfg.data.input_size,
        num_frames=cfg.data.num_frames,
        patch_size=patch,
    )
    assert encoder.grid == (
        cfg.data.num_frames // 2,
        cfg.data.input_size // patch,
        cfg.data.input_size // patch,
    )
    for c in cfg.callbacks.values():
        hydra.utils.instantiate(c)
    assert isinstance(hydra.utils.instantiate(cfg.data), FinetuneDataModule)
    attentive = compose_cfg([f"experiment={experiment}", "probe=[knn,linear,attentive]"], tmp_path)
    assert list(probe_settings(attentive).probes) == ["knn", "linear", "attentive"]


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e not in PIPELINES + PROBES])
def test_experiment_composes_and_builds(experiment, tmp_path):
    cfg = compose_cfg([f"experiment={experiment}"], tmp_path)
    check_config(cfg)
    assert 0 < cfg.mask_ratio < 1
    assert cfg.masking.ratio == cfg.mask_ratio
    assert cfg.name == experiment
    module = hydra.utils.instantiate(cfg.model)
    patch = 8 if experiment.startswith("demo") else 16  # the demo's 32 px frames: 4x4 patches
    assert module.net.grid == (
        cfg.data.num_frames // 2,
        cfg.data.input_size // patch,
        cfg.data.input_size // patch,
    )
    for c in cfg.callbacks.values():
        hydra.utils.instantiate(c)
    datamodule = hydra.utils.instantiate(cfg.data)
    assert datamodule.batch_size == cfg.data.batch_size


# The official scripts' values (VIDEOMAE_FACTS.md section 6): frames apart, mask ratio, epochs,
# base lr per 256 videos, videos per GPU.
@pytest.mark.parametrize(
    "experiment, frames_apart, ratio, epochs, lr, batch",
    [
        ("k400_pretrain", 4, 0.9, 800, 1.5e-4, 32),
        ("ssv2_pretrain", 2, 0.9, 800, 1.5e-4, 32),
        ("ucf101_pretrain", 4, 0.75, 3200, 3e-4, 24),
        ("hmdb51_pretrain", 4, 0.9, 4800, 1.5e-4, 32),
    ],
)
def test_paper_settings(experiment, frames_apart, ratio, epochs, lr, batch, tmp_path):
    cfg = compose_cfg([f"experiment={experiment}"], tmp_path)
    assert cfg.data.sampling_rate == frames_apart and cfg.mask_ratio == ratio
    assert cfg.data.num_frames == 16 and cfg.data.input_size == 224
    assert cfg.model.net.size == "base"
    assert cfg.trainer.precision == "bf16-mixed"
    assert tuple(cfg.optim.optimizer.betas) == (0.9, 0.95) and cfg.optim.weight_decay == 0.05
    assert cfg.optim.base_lr == lr and cfg.optim.warmup_epochs == 40
    assert cfg.trainer.max_epochs == epochs and cfg.data.batch_size == batch


# Fine-tuning: epochs, base lr, videos per GPU, views per video, layer decay, drop path,
# sampling, test clips x crops, flip.
@pytest.mark.parametrize(
    "experiment, epochs, lr, batch, views, decay, drop_path, sampling, clips, flip",
    [
        ("k400_finetune", 100, 1e-3, 8, 1, 0.75, 0.1, "dense", 5, True),
        ("ssv2_finetune", 50, 5e-4, 8, 1, 0.75, 0.1, "segment", 2, False),
        ("ucf101_finetune", 100, 5e-4, 16, 2, 0.7, 0.2, "dense", 5, True),
        ("hmdb51_finetune", 50, 5e-4, 16, 2, 0.7, 0.2, "dense", 5, True),
    ],
)
def test_finetune_recipes(
    experiment, epochs, lr, batch, views, decay, drop_path, sampling, clips, flip, tmp_path
):
    cfg = compose_cfg([f"experiment={experiment}"], tmp_path)
    assert cfg.trainer.max_epochs == epochs and cfg.optim.base_lr == lr
    assert cfg.data.batch_size == batch and cfg.data.num_sample == views
    assert cfg.optim.layer_decay == decay and cfg.model.net.drop_path_rate == drop_path
    assert cfg.data.sampling == sampling and cfg.data.test_clips == clips
    assert cfg.data.test_crops == 3 and cfg.data.flip == flip
    assert tuple(cfg.optim.optimizer.betas) == (0.9, 0.999) and cfg.optim.weight_decay == 0.05
    assert cfg.optim.warmup_epochs == 5 and cfg.data.auto_augment == "rand-m7-n4-mstd0.5-inc1"
    assert (cfg.data.mixup, cfg.data.cutmix, cfg.data.label_smoothing) == (0.8, 1.0, 0.1)
    assert cfg.data.reprob == 0.25 and cfg.test_after_fit


@pytest.mark.parametrize("dataset", ["ucf101", "hmdb51"])
def test_split_selects_the_official_split_lists(dataset, tmp_path):
    cfg = compose_cfg([f"experiment={dataset}_finetune", "split=3"], tmp_path)
    assert cfg.data.train_list == str(tmp_path / "data" / dataset / "split3" / "train.csv")
    assert cfg.data.test_list == str(tmp_path / "data" / dataset / "split3" / "test.csv")


def test_missing_dataset_names_file_and_key(tmp_path):
    cfg = compose_cfg(["experiment=k400_pretrain"], tmp_path)
    datamodule = hydra.utils.instantiate(cfg.data)
    with pytest.raises(DataError, match=r"data\.train_list") as err:
        datamodule.validate_inputs()
    assert str(tmp_path / "data" / "kinetics400" / "train.csv") in str(err.value)


def test_a_folder_given_as_a_list_is_named_as_a_folder(tmp_path):
    cfg = compose_cfg(["experiment=ucf101_finetune", f"data.train_list={tmp_path}"], tmp_path)
    datamodule = hydra.utils.instantiate(cfg.data)
    with pytest.raises(DataError, match=rf"data\.train_list={tmp_path}: is a folder"):
        datamodule.validate_inputs()


@pytest.mark.parametrize(
    "override, match",
    [
        ("mask_ratio=1.5", r"mask_ratio=1.5 .*\(0, 1\)"),
        ("mask_ratio=0", r"mask_ratio=0"),
        ("data.num_frames=15", r"data.num_frames=15 must be a multiple"),
        ("data.input_size=100", r"data.input_size=100 must be a multiple"),
        ("ckpt_path=/nonexistent/last.ckpt", r"ckpt_path=/nonexistent/last.ckpt"),
        ("pretrained=/nonexistent/weights.pth", r"pretrained=/nonexistent/weights.pth"),
    ],
)
def test_impossible_values_name_the_key(override, match, tmp_path):
    cfg = compose_cfg(["experiment=k400_pretrain", override], tmp_path)
    with pytest.raises(ConfigError, match=match):
        check_config(cfg)


def run_cli(*args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "videomae_ssl.train", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_cfg_job_shows_ratio_and_model(tmp_path):
    out = run_cli("experiment=k400_pretrain", "mask_ratio=0.95", "--cfg", "job", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    cfg = OmegaConf.create(out.stdout)
    assert cfg.mask_ratio == 0.95 and cfg.masking.ratio == 0.95  # interpolated from mask_ratio
    assert OmegaConf.to_container(cfg)["masking"]["ratio"] == "${mask_ratio}"
    assert cfg.model.net.size == "base"


def test_cli_missing_data_is_one_clear_message(tmp_path):
    out = run_cli("experiment=k400_pretrain", cwd=tmp_path)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr + out.stdout
    assert "data.train_list" in out.stderr
    assert str(tmp_path / "data" / "kinetics400" / "train.csv") in out.stderr


def test_cli_bad_mask_ratio_stops_before_work(tmp_path):
    out = run_cli(
        "experiment=demo", "mask_ratio=1.2", f"paths.cache_dir={tmp_path}/cache", cwd=tmp_path
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert "mask_ratio=1.2" in out.stderr and "(0, 1)" in out.stderr
    assert not (tmp_path / "cache").exists()  # nothing generated


def test_usual_trainer_limits_are_overridable_without_plus(tmp_path):
    overrides = [
        "trainer.max_steps=5",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=2",
        "trainer.val_check_interval=0.5",
    ]
    cfg = compose_cfg(["experiment=k400_finetune", *overrides], tmp_path)
    trainer = hydra.utils.instantiate(
        cfg.trainer,
        accelerator="cpu",
        devices=1,
        strategy="auto",
        precision="32-true",
        logger=False,
    )
    assert trainer.max_steps == 5 and trainer.limit_train_batches == 3
    assert trainer.limit_test_batches == 2 and trainer.val_check_interval == 0.5


def built_on_meta(net_cfg):
    """The network a config builds, on the meta device: shapes and arguments, no memory."""
    with torch.device("meta"):
        return hydra.utils.instantiate(net_cfg)


@pytest.mark.parametrize("experiment", ["k400_pretrain", "k400_finetune"])
@pytest.mark.parametrize("size", sorted(SIZES))
def test_the_size_decides_the_architecture(experiment, size, tmp_path):
    cfg = compose_cfg([f"experiment={experiment}", f"model.net.size={size}"], tmp_path)
    net = built_on_meta(cfg.model.net)
    expected = asdict(get_size(size))
    if experiment.endswith("finetune"):  # a classifier has no decoder
        expected = {k: v for k, v in expected.items() if not k.startswith("decoder")}
    expected = {k: v for k, v in expected.items() if k not in ("img_size", "num_frames")}
    assert {k: getattr(net.config, k) for k in expected} == expected
    patch = expected["patch_size"]
    encoder = net if experiment.endswith("finetune") else net.encoder
    assert encoder.patch_embed.proj.kernel_size == (2, patch, patch)
    if "patch_size" in cfg.data:  # pretraining data draws masks on the model's token grid
        assert cfg.data.patch_size == patch


def test_giant_has_patch_14_unless_the_patch_is_set(tmp_path):
    cfg = compose_cfg(["experiment=k400_pretrain", "model.net.size=giant"], tmp_path)
    assert built_on_meta(cfg.model.net).config.patch_size == 14
    assert cfg.data.patch_size == 14
    cfg = compose_cfg(
        ["experiment=k400_pretrain", "model.net.size=giant", "model.net.patch_size=16"], tmp_path
    )
    assert built_on_meta(cfg.model.net).config.patch_size == 16
    assert cfg.data.patch_size == 16


@pytest.mark.parametrize("experiment", [e for e in PIPELINES if e != "demo"])
def test_a_pipeline_takes_its_datasets_data_overrides(experiment, tmp_path):
    """`experiment=ucf101_pipeline data.root=...` (the README's line): the pipeline's own
    composition has the dataset's data keys, which its stages then receive."""
    cfg = compose_cfg([f"experiment={experiment}", "data.root=/data/videos"], tmp_path)
    assert cfg.data.root == "/data/videos"


MODEL_CONFIGS = sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml"))


def test_every_model_config_exposes_the_same_architecture_keys():
    """The pretraining, fine-tuning and probe models take the same architecture fields, so one
    override reads the same in every experiment (no `++` for some)."""
    architecture = {"size", "img_size", "num_frames", "patch_size", "tubelet_size"}
    assert len(MODEL_CONFIGS) == 3
    for name in MODEL_CONFIGS:
        net = OmegaConf.load(Path(CONFIG_DIR) / "model" / f"{name}.yaml").net
        assert architecture <= set(net), f"model/{name}.yaml lacks {architecture - set(net)}"
        assert "_target_" in net, f"model/{name}.yaml builds nothing"


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e not in PIPELINES])
def test_patch_and_tubelet_override_under_every_experiment(experiment, tmp_path):
    cfg = compose_cfg(
        [f"experiment={experiment}", "model.net.patch_size=8", "model.net.tubelet_size=4"], tmp_path
    )
    check_config(cfg)
    net = built_on_meta(cfg.model.net)
    encoder = net.encoder if hasattr(net, "encoder") else net
    assert encoder.patch_embed.proj.kernel_size == (4, 8, 8)
    assert encoder.grid == (
        cfg.data.num_frames // 4,
        cfg.data.input_size // 8,
        cfg.data.input_size // 8,
    )


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e.endswith("_pretrain")])
def test_every_pretraining_data_config_takes_motion_masking(experiment, tmp_path):
    from videomae_ssl.masking import MotionMaskGenerator

    cfg = compose_cfg([f"experiment={experiment}", "masking=motion"], tmp_path)
    check_config(cfg)
    datamodule = hydra.utils.instantiate(cfg.data)
    assert isinstance(datamodule.mask_generator, MotionMaskGenerator)
    assert datamodule.mask_generator.ratio == cfg.mask_ratio
