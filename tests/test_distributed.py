"""trainer=ddp_cpu: two real CPU processes (gloo). Their pretraining run matches one process with
the same effective batch, its logs hold both ranks' values, and a broken-video budget crossed
on one rank stops both with the same clean error. Two "nodes" launched with launch/torchrun.sh
meet through torchrun's rendezvous on localhost."""

import csv
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_runs import overrides, train, train_here, weights, write_clips

from videomae_ssl.data.epoch_sampler import EpochSampler

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_nodes_meet_through_torchrun_on_localhost(tmp_path):
    """launch/torchrun.sh once per "node" (one CPU process each), both on this machine, with
    torchrun's static rendezvous at localhost; a shared run folder as on a shared filesystem."""
    data = write_clips(tmp_path / "clips", count=4)
    run_dir = tmp_path / "outputs" / "job"
    args = [o for o in overrides(data, run_dir, "data.batch_size=1") if o != "trainer=cpu"]
    args += ["trainer.accelerator=cpu", "trainer.precision=32-true", "trainer.max_steps=2"]
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "NNODES": "2",
        "GPUS_PER_NODE": "1",
        "MASTER_ADDR": "localhost",
        "MASTER_PORT": str(free_port()),
        "TORCHRUN": f"{sys.executable} -m torch.distributed.run",
    }
    # Output to files, not pipes: a node blocked on a full pipe would hold the other in a collective.
    files = [(tmp_path / f"node{rank}.out").open("w") for rank in (0, 1)]
    nodes = [
        subprocess.Popen(
            ["bash", str(ROOT / "launch" / "torchrun.sh"), *args],
            cwd=tmp_path,
            env={**env, "NODE_RANK": str(rank)},
            start_new_session=True,
            stdout=file,
            stderr=subprocess.STDOUT,
        )
        for rank, file in enumerate(files)
    ]
    try:
        for node in nodes:
            node.wait(timeout=180)
    finally:
        for node, file in zip(nodes, files, strict=True):
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
            file.close()
    outputs = [(tmp_path / f"node{rank}.out").read_text() for rank in (0, 1)]
    for node, out in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, out[-3000:]
    assert "Effective batch 2 videos = 1 per device x 1 devices x 2 nodes" in outputs[0]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in outputs[1]
    assert "`Trainer.fit` stopped: `max_steps=2` reached." in outputs[0]
    # One log file per rank in the shared folder: rank 0's is train.log.
    log, log_1 = (run_dir / "train.log").read_text(), (run_dir / "train.rank1.log").read_text()
    assert "GLOBAL_RANK: 0" in log and "GLOBAL_RANK: 1" not in log
    assert "GLOBAL_RANK: 1" in log_1
    assert weights(run_dir)  # rank 0 wrote the checkpoint
