"""Sweeps: the command returns the metric the config names, and hparams_search=demo_optuna
searches the learning rate and mask ratio with Hydra's Optuna sweeper (the sweep extra, which
`make test` installs)."""

from __future__ import annotations

import csv

import pytest
import yaml
from tiny_runs import train, write_clips

from videomae_ssl.errors import ConfigError
from videomae_ssl.stages.pipeline import optimized_value

pytestmark = pytest.mark.slow


def test_the_optimized_metric_is_read_from_a_run_or_a_pipeline_stage():
    assert optimized_value({"train/loss_epoch": 0.5, "checkpoint": "x"}, "train/loss_epoch") == 0.5
    pipeline = {"pretrain": {"probe/knn_top1": 0.25}, "knn": {"knn/top1": 0.75}}
    assert optimized_value(pipeline, "knn/knn/top1") == 0.75
    assert optimized_value(pipeline, "pretrain/probe/knn_top1") == 0.25
    with pytest.raises(
        ConfigError,
        match=r"optimized_metric=val/top1: the run logged no such "
        r"value; it has knn/knn/top1, pretrain/probe/knn_top1\.",
    ):
        optimized_value(pipeline, "val/top1")


def last_epoch_loss(trial) -> float:
    with open(trial / "csv" / "metrics.csv") as f:
        values = [row["train/loss_epoch"] for row in csv.DictReader(f) if row["train/loss_epoch"]]
    return float(values[-1])


def test_a_two_trial_optuna_sweep_optimises_the_returned_metric(tmp_path):
    """hparams_search=demo_optuna on tiny data, minimising the last epoch's loss here: each
    trial draws a learning rate and a mask ratio, and the best value the sweeper reports is the
    lowest loss the trials logged."""
    data = write_clips(tmp_path / "data", count=4)
    sweep = tmp_path / "sweep"
    out = train(
        data,
        tmp_path / "run",
        "hparams_search=demo_optuna",
        "hydra.sweeper.n_trials=2",
        "optimized_metric=train/loss_epoch",
        "hydra.sweeper.direction=minimize",
        f"hydra.sweep.dir={sweep}",
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(result["best_params"]) == {"optim.base_lr", "mask_ratio"}
    assert 3e-3 <= result["best_params"]["optim.base_lr"] <= 1e-1
    assert result["best_params"]["mask_ratio"] in (0.5, 0.75, 0.9)
    losses = [last_epoch_loss(sweep / str(trial)) for trial in range(2)]
    assert result["best_value"] == pytest.approx(min(losses), rel=1e-6)
    configs = [
        yaml.safe_load((sweep / str(t) / ".hydra" / "overrides.yaml").read_text()) for t in range(2)
    ]
    assert all(any(o.startswith("optim.base_lr=") for o in c) for c in configs)
