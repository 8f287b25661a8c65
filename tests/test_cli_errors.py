"""The training command's input errors: one line `error: ...` on stderr and exit status 2, with
no traceback or Hydra banner, whoever catches them (Hydra, OmegaConf, Lightning or the project);
and the answers that need no training (help, the composed config, a missing file) come without
importing Lightning."""

import os
import subprocess
import sys

import pytest
import torch
from test_configs import compose_cfg

from videomae_ssl.errors import ConfigError
from videomae_ssl.stages.checks import check_config


def train_cli(*args, cwd):
    """The training command with `-X importtime`, which lists every module it imports on stderr."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "videomae_ssl.train", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def imported(stderr):
    """Top-level packages named in `-X importtime` lines."""
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def messages(stderr):
    """stderr without the `-X importtime` lines."""
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


@pytest.mark.parametrize(
    "args, start",
    [
        (["mask_ratio=["], "error: cannot parse the override 'mask_ratio=['"),
        (["foo=1"], "error: Could not override 'foo'. To append to your config use +foo=1"),
        (["experiment=nope"], "error: experiment=nope: no such option; choose one of demo, "),
        (
            ["experiment=demo_pretrain", "mask_ratio=abc"],
            "error: mask_ratio='abc': expected a number in (0, 1)",
        ),
        (
            ["experiment=k400_pretrain", "data.train_list=/nonexistent/train.csv"],
            "error: data.train_list=/nonexistent/train.csv: no such file",
        ),
        (
            ["experiment=demo_pretrain", "target=hog", "target.cell_size=3"],
            "error: target.cell_size=3 must divide model.net.patch_size=8",
        ),
    ],
)
def test_input_errors_are_one_line_with_status_2_before_lightning(args, start, tmp_path):
    out = train_cli(*args, f"paths.cache_dir={tmp_path / 'cache'}", cwd=tmp_path)
    lines = messages(out.stderr)
    assert out.returncode == 2, out.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(start), lines
    assert "Error executing job" not in out.stdout + out.stderr
    assert "lightning" not in imported(out.stderr)


def test_a_lightning_misconfiguration_is_one_line_with_status_2(tmp_path):
    out = train_cli(
        "experiment=demo_pretrain",
        "trainer.devices=0",
        f"paths.cache_dir={tmp_path / 'cache'}",
        cwd=tmp_path,
    )
    lines = messages(out.stderr)
    assert out.returncode == 2, out.stderr[-3000:]
    assert lines[-1].startswith("error: trainer: `Trainer(devices=0)` value is not a valid input")
    assert "Traceback" not in out.stderr and "Error executing job" not in out.stdout + out.stderr
    assert not (tmp_path / "cache").exists()  # the Trainer is checked before data is made


@pytest.mark.parametrize("args", [["--help"], ["experiment=k400_pretrain", "--cfg", "job"]])
def test_help_and_composed_config_do_not_import_lightning(args, tmp_path):
    out = train_cli(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert not {"lightning", "torch", "timm"} & imported(out.stderr)


@pytest.mark.parametrize(
    "override, message",
    [
        ("mask_ratio=abc", "mask_ratio='abc': expected a number in (0, 1)"),
        ("mask_ratio=true", "mask_ratio=True: expected a number in (0, 1)"),
        (
            "trainer.max_epochs=ten",
            "trainer.max_epochs='ten': expected an integer, -1 for no limit",
        ),
        ("optim.base_lr=-1e-3", "optim.base_lr=-0.001: expected a number >= 0"),
        (
            "trainer.accumulate_grad_batches=0.5",
            "trainer.accumulate_grad_batches=0.5: expected an integer >= 1",
        ),
    ],
)
def test_numeric_keys_are_checked_before_anything_is_built(override, message, tmp_path):
    cfg = compose_cfg(["experiment=demo_pretrain", override], tmp_path)
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert str(err.value) == message + "."


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_gpu_experiment_without_a_gpu_says_to_add_trainer_cpu(tmp_path):
    for name in ("train.csv", "val.csv"):
        (tmp_path / name).write_text("a.mp4 0\n")
    out = train_cli(
        "experiment=k400_pretrain",
        f"data.train_list={tmp_path / 'train.csv'}",
        f"data.val_list={tmp_path / 'val.csv'}",
        cwd=tmp_path,
    )
    lines = messages(out.stderr)
    assert out.returncode == 2, out.stderr[-3000:]
    assert lines == [
        "error: trainer.accelerator=gpu: this machine has no usable GPU (CUDA); add trainer=cpu "
        "to the command to run on the CPU (slow for the paper's models), or trainer=ddp_cpu for "
        "two CPU processes."
    ]
    assert "lightning" not in imported(out.stderr)  # said before the Trainer is built


def test_a_missing_hydra_plugin_says_what_to_install(tmp_path):
    """`-m hydra/launcher=submitit_slurm` without the plugin: one line naming the install, not
    Hydra's "Unknown plugin class" traceback (a target no package provides stands for it here,
    so the test holds whether or not the slurm extra is installed)."""
    out = train_cli(
        "-m",
        "hydra/launcher=submitit_slurm",
        "experiment=demo_pretrain",
        "hydra.launcher._target_=hydra_plugins.hydra_submitit_launcher.absent.SlurmLauncher",
        f"paths.cache_dir={tmp_path / 'cache'}",
        cwd=tmp_path,
    )
    errors = [line for line in messages(out.stderr) if line.startswith("error:")]
    assert out.returncode == 2, out.stderr[-3000:]
    assert errors == [
        "error: the Hydra plugin hydra_plugins.hydra_submitit_launcher.absent.SlurmLauncher is "
        "not installed; install it with `uv sync --locked --extra slurm` (pip: pip install "
        "'hydra-submitit-launcher')."
    ]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("train", "classes", "start"),
    [
        ("a.mp4 0\nb.mp4\n", None, "train.csv:2: expected '<path> <label>'"),
        ("a.mp4 0\nb.mp4 7\n", "cat\ndog\n", "train.csv:2: label 7 is not below num_classes=2"),
        ("a.mp4 0\n", "cat\n\ndog\n", "classes.txt:2: blank line between class names"),
    ],
)
def test_an_error_in_a_lists_contents_is_one_line_before_lightning(train, classes, start, tmp_path):
    """The annotation files and classes.txt are parsed before Lightning is imported: an error
    in their contents answers in a second or two, not after Lightning's start-up."""
    lists = tmp_path / "lists"
    lists.mkdir()
    for split in ("train", "val", "test"):
        (lists / f"{split}.csv").write_text(train if split == "train" else "a.mp4 0\n")
    if classes is not None:
        (lists / "classes.txt").write_text(classes)
    out = train_cli(
        "experiment=ucf101_finetune",
        *(f"data.{s}_list={lists / f'{s}.csv'}" for s in ("train", "val", "test")),
        f"paths.cache_dir={tmp_path / 'cache'}",
        cwd=tmp_path,
    )
    lines = messages(out.stderr)
    assert out.returncode == 2, out.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(f"error: {lists}/{start}"), lines
    assert "lightning" not in imported(out.stderr)
