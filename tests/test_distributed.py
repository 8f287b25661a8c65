"""trainer=ddp_cpu: two real CPU processes (gloo). Their pretraining run matches one process with
the same effective batch, its logs hold both ranks' values, and a broken-video budget crossed
on one rank stops both with the same clean error."""

import csv

import pytest
import torch
from tiny_runs import train, train_here, weights, write_clips

from videomae_ssl.data.sampler import EpochSampler

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """8 clips; the one rank 1 reads first does not decode (rank 0's shard is clean at step 0)."""
    (first_of_rank_1, _), *_ = EpochSampler(8, seed=0, drop_last=True, num_replicas=2, rank=1)
    return write_clips(tmp_path_factory.mktemp("clips"), broken=(first_of_rank_1,))


def logged(run_dir):
    with open(run_dir / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return {
        key: [float(r[key]) for r in rows if r.get(key)]
        for key in ("train/loss", "train/loss_epoch", "data/broken")
    }


def test_two_processes_match_one_with_the_same_effective_batch(data, tmp_path):
    budget = "data.max_broken_fraction=0.5"
    train_here(data, tmp_path / "one", "data.batch_size=2", budget)
    two = train(data, tmp_path / "two", "trainer=ddp_cpu", "data.batch_size=1", budget)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "Effective batch 2 videos = 1 per device x 2 devices" in two.stdout
    expected, got = logged(tmp_path / "one"), logged(tmp_path / "two")
    assert len(got["train/loss"]) == 4
    for key in expected:
        # The loss of the whole batch (both ranks), the broken video met on rank 1 included.
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6, msg=key)
    assert got["data/broken"][-1] == 1.0
    one_weights, two_weights = weights(tmp_path / "one"), weights(tmp_path / "two")
    for key in one_weights:
        torch.testing.assert_close(two_weights[key], one_weights[key], rtol=1e-4, atol=1e-6)


def test_a_budget_crossed_on_one_rank_stops_every_rank(data, tmp_path):
    out = train(data, tmp_path / "run", "trainer=ddp_cpu", "data.batch_size=1", timeout=180)
    assert out.returncode == 2, f"status {out.returncode}:\n{out.stderr[-3000:]}"
    assert "error: 1 of 8 videos in" in out.stderr
    assert "Traceback" not in out.stderr
