"""The training command end to end on the generated demo dataset: pretraining (write, resume,
initialise), the demo pipeline (pretrain, fine-tune from it and from scratch, test), and
stage=test on a fine-tuned checkpoint."""

import csv
import logging
import os
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from videomae_ssl.stages.build import build_module
from videomae_ssl.train import CONFIG_DIR

pytestmark = pytest.mark.slow


def train(*overrides, cwd, experiment="demo_pretrain"):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "videomae_ssl.train", f"experiment={experiment}", *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """Two short epochs of the demo experiment through the command line."""
    tmp = tmp_path_factory.mktemp("demo_run")
    run_dir = tmp / "run"
    out = train(
        f"paths.cache_dir={tmp / 'cache'}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.check_val_every_n_epoch=1",
        "trainer.log_every_n_steps=1",
        "data.num_workers=0",
        cwd=tmp,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return tmp, run_dir, out


def test_demo_writes_checkpoint_picture_and_metrics(demo_run):
    _, run_dir, out = demo_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    png = run_dir / "reconstructions" / "latest.png"
    assert f"checkpoint: {ckpt}" in out.stdout
    assert f"reconstructions: {png}" in out.stdout
    with Image.open(png) as image:
        # One row each of original, masked and reconstructed frames per validation clip.
        assert image.width > 0 and image.height > image.width
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["epoch"] == 2 and state["global_step"] == 6  # epochs completed, optimizer steps
    assert state["videomae_ssl"]["model_args"]["embed_dim"] == 192  # the tiny model
    with open(run_dir / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    assert losses and all(0.0 < x < 10.0 for x in losses)
    assert any(r.get("val/loss") for r in rows) and any(r.get("train/loss_epoch") for r in rows)
    assert (run_dir / ".hydra" / "config.yaml").is_file()


def test_summary_names_metrics_and_config_and_train_log_keeps_the_run(demo_run):
    _, run_dir, out = demo_run
    assert f"metrics: {run_dir / 'csv' / 'metrics.csv'}" in out.stdout
    assert f"config: {run_dir / '.hydra' / 'config.yaml'}" in out.stdout
    log = (run_dir / "train.log").read_text()
    # Lightning's lines, the project's own and the summary, each once.
    for line in (
        "Effective batch 16 videos",
        f"Run folder: {run_dir}",
        "epoch 2/2  train/loss",
        f"checkpoint: {run_dir / 'checkpoints' / 'last.ckpt'}",
        f"metrics: {run_dir / 'csv' / 'metrics.csv'}",
    ):
        assert log.count(line) == 1, line
    assert "Effective batch 16 videos" in out.stdout and out.stdout.count("epoch 2/2") == 1


def test_fast_dev_run_writes_no_checkpoint_pictures_or_metrics(demo_run):
    tmp, _, _ = demo_run
    run_dir = tmp / "fdr"
    out = train(
        f"paths.cache_dir={tmp / 'cache'}", f"hydra.run.dir={run_dir}", "debug=fdr", cwd=tmp
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Logging and checkpointing is suppressed" in out.stdout + out.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == [".hydra", "train.log"]
    summary = out.stdout.split("Run summary")[1]
    assert "checkpoint:" not in summary and "reconstructions:" not in summary
    assert "metrics:" not in summary
    assert f"config: {run_dir / '.hydra' / 'config.yaml'}" in summary


def test_the_pretraining_module_takes_its_batch_from_the_data_config():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=["experiment=demo_pretrain", "data.batch_size=6", "data.num_sample=2"],
        )
    module = build_module(cfg)
    assert (module.hparams.batch_size, module.hparams.views_per_video) == (6, 2)


def test_demo_resumes_from_its_checkpoint(demo_run):
    tmp, run_dir, _ = demo_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    resumed = tmp / "resumed"
    out = train(
        f"paths.cache_dir={tmp / 'cache'}",
        f"hydra.run.dir={resumed}",
        f"ckpt_path={ckpt}",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "data.num_workers=0",
        cwd=tmp,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    state = torch.load(resumed / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    # One more epoch on top of the two restored ones, optimizer state included.
    assert state["epoch"] == 3 and state["global_step"] == 9
    assert state["optimizer_states"][0]["state"]


def test_pretrained_initialises_the_encoder_from_a_checkpoint(demo_run, caplog):
    tmp, run_dir, _ = demo_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train", overrides=["experiment=demo_pretrain", f"pretrained={ckpt}"]
        )
    with caplog.at_level(logging.INFO):
        module = build_module(cfg)
    assert f"Pretrained weights: {ckpt}" in caplog.text
    source = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    state = module.state_dict()
    encoder = [k for k in source if k.startswith("net.encoder.")]
    assert len(encoder) > 10 and all(torch.equal(source[k], state[k]) for k in encoder)
    # The decoder is not loaded: it keeps its fresh initialisation.
    assert not torch.equal(source["net.decoder.head.weight"], state["net.decoder.head.weight"])


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """The demo pipeline with a few steps per stage: pretrain, fine-tune from it, from scratch."""
    tmp = tmp_path_factory.mktemp("pipeline_run")
    run_dir = tmp / "run"
    out = train(
        f"paths.cache_dir={tmp / 'cache'}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "data.num_workers=0",
        # Two test batches of 4 clips: the first 4 videos, each with its 2 clips.
        "trainer.limit_test_batches=2",
        "trainer.limit_predict_batches=2",
        "model.norm_pix_loss=false",
        cwd=tmp,
        experiment="demo",
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return tmp, run_dir, out


def test_pipeline_runs_each_stage_from_the_previous_checkpoint(pipeline_run):
    _, run_dir, out = pipeline_run
    pretrain_ckpt = run_dir / "pretrain" / "checkpoints" / "last.ckpt"
    assert pretrain_ckpt.is_file()
    # The fine-tuning stage found the pretraining checkpoint; the scratch stage did not load one.
    stages = out.stdout.split("=== Stage ")
    pretrained = next(s for s in stages if s.startswith("pretrained"))
    scratch = next(s for s in stages if s.startswith("scratch"))
    assert f"Pretrained weights: {pretrain_ckpt}" in pretrained + out.stderr
    assert "Pretrained weights" not in scratch
    for stage in ("pretrained", "scratch"):
        ckpt = run_dir / stage / "checkpoints" / "last.ckpt"
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        assert state["videomae_ssl"]["kind"] == "classifier"
        assert state["videomae_ssl"]["id2label"][0] == "move_right"
        with open(run_dir / stage / "test" / "predictions.csv") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 4  # every tested video once
        assert (run_dir / stage / "test" / "confusion.png").is_file()
    lines = out.stdout.strip().splitlines()[-4:]
    for line, start in zip(
        lines,
        (
            "pretrained top-1: ",
            "scratch top-1: ",
            "pretrained kNN top-1: ",
            "random-init kNN top-1: ",
        ),
        strict=True,
    ):
        assert line.startswith(start) and line.endswith("%"), lines
    # The probe stages: the pretraining checkpoint's encoder, and random weights.
    knn = next(s for s in stages if s.startswith("knn_pretrained"))
    assert f"Pretrained weights: {pretrain_ckpt}" in knn
    assert "probing an encoder with random weights" in next(
        s for s in stages if s.startswith("knn_random")
    )
    for stage in ("knn_pretrained", "knn_random"):
        assert (run_dir / stage / "knn" / "predictions.csv").is_file()
        assert (run_dir / stage / "embedding.png").is_file()
    assert (run_dir / "pretrain" / "probe" / "knn_top1.png").is_file()
    assert "test: 4 videos, 8 views (2 clips x 1 crop each)" in out.stdout
    # A key of the pretraining stage's config only: the fine-tuning stages leave it out.
    assert "(not used by this stage: model.norm_pix_loss=false)" in out.stdout


def test_stage_test_evaluates_a_fine_tuned_checkpoint(pipeline_run):
    tmp, run_dir, pipeline = pipeline_run
    ckpt = run_dir / "pretrained" / "checkpoints" / "last.ckpt"
    out = train(
        f"paths.cache_dir={tmp / 'cache'}",
        f"hydra.run.dir={tmp / 'test_only'}",
        "stage=test",
        f"ckpt_path={ckpt}",
        "data.num_workers=0",
        "trainer.limit_test_batches=2",
        cwd=tmp,
        experiment="demo_finetune",
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "test: 4 videos, 8 views" in out.stdout
    # The same weights and views as the pipeline's own test: the same accuracy.
    first = [line for line in pipeline.stdout.splitlines() if line.startswith("test: ")][0]
    assert first in out.stdout
    assert not (tmp / "test_only" / "checkpoints").exists()  # nothing was trained


def test_fine_tuning_keeps_the_best_checkpoint_which_stage_test_takes(pipeline_run):
    """Fine-tuning keeps checkpoints/best.ckpt (the best val/top1 so far) beside last.ckpt; a
    pretraining run, which logs no top-1, keeps last.ckpt only."""
    tmp, run_dir, _ = pipeline_run
    assert sorted(p.name for p in (run_dir / "pretrain" / "checkpoints").iterdir()) == ["last.ckpt"]
    fit = train(
        f"paths.cache_dir={tmp / 'cache'}",
        f"hydra.run.dir={tmp / 'best'}",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=1",
        "test_after_fit=false",
        "trainer.check_val_every_n_epoch=1",
        "data.num_workers=0",
        cwd=tmp,
        experiment="demo_finetune",
    )
    assert fit.returncode == 0, fit.stdout[-3000:] + fit.stderr[-3000:]
    best = tmp / "best" / "checkpoints" / "best.ckpt"
    assert sorted(p.name for p in best.parent.iterdir()) == ["best.ckpt", "last.ckpt"]
    state = torch.load(best, map_location="cpu", weights_only=True)
    (scores,) = [v["best_model_score"] for k, v in state["callbacks"].items() if "val/top1" in k]
    assert 0 <= float(scores) <= 1
    out = train(
        f"paths.cache_dir={tmp / 'cache'}",
        f"hydra.run.dir={tmp / 'test_best'}",
        "stage=test",
        f"ckpt_path={best}",
        "data.num_workers=0",
        "trainer.limit_test_batches=2",
        cwd=tmp,
        experiment="demo_finetune",
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "test: 4 videos, 8 views" in out.stdout


def test_stage_test_refuses_a_pretraining_checkpoint(pipeline_run):
    tmp, run_dir, _ = pipeline_run
    ckpt = run_dir / "pretrain" / "checkpoints" / "last.ckpt"
    out = train(
        f"paths.cache_dir={tmp / 'cache'}",
        f"hydra.run.dir={tmp / 'refused'}",
        "stage=test",
        f"ckpt_path={ckpt}",
        cwd=tmp,
        experiment="demo_finetune",
    )
    assert out.returncode == 2
    assert f"ckpt_path={ckpt}: holds pretrain weights, not a classifier" in out.stderr


def test_compile_compiles_the_network_in_place():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=demo_pretrain", "compile=true"])
    module = build_module(cfg)
    assert module.net._compiled_call_impl is not None
    assert all(not k.startswith("net._orig_mod") for k in module.state_dict())
