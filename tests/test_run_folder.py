"""A run folder that holds a run is not written over: a rerun into it is refused unless it
says `resume=auto` or `overwrite=true`, and `stage=test` / `stage=probe` given a training run's
folder write into a sub-folder of their own (videomae_ssl.run_folder, a Hydra callback that
runs before Hydra writes the folder's .hydra/ and train.log)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from tiny_runs import TESTS, train, write_clips

from videomae_ssl.errors import ConfigError
from videomae_ssl.run_folder import settle_run_folder
from videomae_ssl.train import CONFIG_DIR


def composed(run_dir: Path, *overrides: str) -> DictConfig:
    """The config the callback receives: the composed one with its `hydra` node."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            config_name="train",
            overrides=[f"hydra.run.dir={run_dir}", "trainer=cpu", *overrides],
            return_hydra_config=True,
        )


def training_run(folder: Path, stage: str = "fit", checkpoint: bool = True) -> Path:
    """What a run leaves in its folder (its files' contents are stand-ins)."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(f"stage: {stage}\nseed: 0\n")
    (folder / "csv").mkdir()
    (folder / "csv" / "metrics.csv").write_text("step,train/loss\n0,1.0\n")
    (folder / "train.log").write_text("the run's log\n")
    if checkpoint:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    return folder


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def refusal(folder: Path, held: str = "checkpoints/last.ckpt") -> str:
    return (
        f"{folder} already holds a run ({held}); add resume=auto to continue it, overwrite=true "
        f"to replace it, or choose another run_name"
    )


def test_a_folder_holding_a_checkpoint_is_continued_or_replaced_only_when_asked(tmp_path):
    run = training_run(tmp_path / "run")
    before = contents(run)
    with pytest.raises(ConfigError) as err:
        settle_run_folder(composed(run))
    assert str(err.value) == refusal(run)
    assert settle_run_folder(composed(run, "resume=auto")) == run
    last = run / "checkpoints" / "last.ckpt"
    assert settle_run_folder(composed(run, f"ckpt_path={last}")) == run  # its own: continuing
    assert contents(run) == before
    with pytest.raises(ConfigError, match="keep one of them"):
        settle_run_folder(composed(run, "resume=auto", "overwrite=true"))
    with pytest.raises(ConfigError, match="overwrite='yes': expected true or false"):
        settle_run_folder(composed(run, "overwrite='yes'"))
    # overwrite=true: the old last.ckpt goes first, so resume=auto cannot continue it later.
    (run / "checkpoints" / "best.ckpt").write_bytes(b"best weights")
    assert settle_run_folder(composed(run, "overwrite=true")) == run
    assert not last.exists() and not (run / "checkpoints" / "best.ckpt").exists()
    # A folder without a checkpoint (a run that stopped on an input error) is reused.
    assert settle_run_folder(composed(run)) == run
    fresh = tmp_path / "new"
    assert settle_run_folder(composed(fresh)) == fresh and not fresh.exists()


def test_a_pipeline_folder_is_guarded_by_its_stages_checkpoints(tmp_path):
    run = tmp_path / "pipeline"
    (run / "pretrain" / "checkpoints").mkdir(parents=True)
    (run / "pretrain" / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    with pytest.raises(ConfigError) as err:
        settle_run_folder(composed(run, "experiment=demo"))
    assert str(err.value) == refusal(run, "pretrain/checkpoints/last.ckpt")
    assert settle_run_folder(composed(run, "experiment=demo", "resume=auto")) == run


@pytest.mark.parametrize("stage", ["test", "probe"])
def test_an_evaluation_stage_given_a_training_run_writes_into_its_own(tmp_path, stage, capsys):
    extra = ["experiment=demo_probe"]
    if stage == "test":
        extra = ["experiment=demo_finetune", "stage=test"]
    run = training_run(tmp_path / "run")
    before = contents(run)
    config = composed(run, *extra)
    assert settle_run_folder(config) == run / stage
    assert config.hydra.run.dir == str(run / stage)
    said = capsys.readouterr().out
    assert f"{run} holds a training run: stage={stage} writes into {run / stage}" in said
    assert contents(run) == before
    # Its own folder, once it has run there: stays (a rerun of the same stage).
    training_run(run / stage, stage=stage, checkpoint=False)
    assert settle_run_folder(composed(run / stage, *extra)) == run / stage
    # A pipeline's folder, or a folder with a checkpoint and no saved config: another run.
    pipeline = tmp_path / "pipeline"
    (pipeline / ".hydra").mkdir(parents=True)
    (pipeline / ".hydra" / "config.yaml").write_text("pipeline:\n- {name: pretrain}\n")
    assert settle_run_folder(composed(pipeline, *extra)) == pipeline / stage
    bare = tmp_path / "bare"
    (bare / "checkpoints").mkdir(parents=True)
    (bare / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    assert settle_run_folder(composed(bare, *extra)) == bare / stage
    # A new folder: this stage's own.
    assert settle_run_folder(composed(tmp_path / "new", *extra)) == tmp_path / "new"


def test_an_attentive_probe_rerun_into_its_folder_is_refused_unless_resumed(tmp_path):
    run = training_run(tmp_path / "probe", stage="probe", checkpoint=False)
    (run / "attentive" / "checkpoints").mkdir(parents=True)
    (run / "attentive" / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    with pytest.raises(ConfigError) as err:
        settle_run_folder(composed(run, "experiment=demo_probe"))
    assert str(err.value) == refusal(run, "attentive/checkpoints/last.ckpt")
    assert settle_run_folder(composed(run, "experiment=demo_probe", "resume=auto")) == run


def command(*overrides: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "videomae_ssl.train", "trainer=cpu", *overrides],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_the_command_stops_before_hydra_writes_into_the_folder(tmp_path):
    # Hydra saves .hydra/config.yaml and opens train.log before the task runs: the check is a
    # callback that runs earlier (configs/hydra/default.yaml).
    run = training_run(tmp_path / "run")
    before = contents(run)
    result = command(f"hydra.run.dir={run}")
    assert result.returncode == 2
    assert result.stderr == f"error: {refusal(run)}\n"
    assert contents(run) == before
    # stage=test writes its config and log into run/test (here it then stops: no classifier).
    result = command(
        f"hydra.run.dir={run}",
        "experiment=demo_finetune",
        "stage=test",
        f"ckpt_path={tmp_path / 'none.ckpt'}",
    )
    assert result.returncode == 2 and "none.ckpt: no such file" in result.stderr
    assert contents(run / "test").keys() >= {".hydra/config.yaml", "train.log"}
    assert {k: v for k, v in contents(run).items() if not k.startswith("test/")} == before


@pytest.mark.slow
def test_a_rerun_of_a_trained_run_is_refused_and_overwrite_replaces_it(tmp_path):
    data = write_clips(tmp_path / "clips", count=4)
    run = tmp_path / "outputs" / "job"
    first = train(data, run, "trainer.max_steps=1")
    assert first.returncode == 0, first.stderr[-2000:]
    made = contents(run)
    kept = {"checkpoints/last.ckpt", "csv/metrics.csv", ".hydra/config.yaml", "train.log"}
    assert kept <= made.keys()
    again = train(data, run, "trainer.max_steps=1", "seed=1")
    assert again.returncode == 2 and again.stderr == f"error: {refusal(run)}\n"
    assert contents(run) == made
    replaced = train(data, run, "trainer.max_steps=1", "seed=1", "overwrite=true")
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    assert f"overwrite=true: removed {run / 'checkpoints' / 'last.ckpt'}" in replaced.stdout
    assert "seed: 1" in (run / ".hydra" / "config.yaml").read_text()
    assert (run / "checkpoints" / "last.ckpt").read_bytes() != made["checkpoints/last.ckpt"]
