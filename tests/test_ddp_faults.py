"""Two CPU ranks when things go wrong: killed mid-epoch while streaming packed shards, a run
started again with `resume=auto` ends with the weights of one never interrupted; an exception
in one rank only ends every rank within a bounded time, naming the error, under Lightning's
own launcher (trainer=ddp_cpu) and under torchrun (launch/torchrun.sh)."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from tiny_runs import TESTS, overrides, train, weights, write_clips

sys.path.insert(0, str(TESTS / "data"))
from stream_runs import pack  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = TESTS.parent
FAIL = (
    "+callbacks.fail._target_=injected.RaiseOnRank",
    "+callbacks.fail.rank=1",
    "+callbacks.fail.step=1",
)
ERROR = "injected failure on rank 1 at step 1"
# Every rank must be gone this long after the failure: far below the process group's timeout
# (30 min by default), far above a run's start-up on a busy 2-core machine.
BOUND = 90


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = write_clips(tmp_path_factory.mktemp("clips"), count=8)
    assert pack(folder, folder / "packed") == 0
    return folder


def test_two_ranks_killed_mid_epoch_on_shards_resume_as_an_uninterrupted_run(data, tmp_path):
    # 8 clips, 1 per rank and step: 4 steps per epoch, 2 epochs; last.ckpt every 2 steps.
    common = (
        "trainer=ddp_cpu",
        "data.batch_size=1",
        "trainer.max_epochs=2",
        "checkpoint_every_n_steps=2",
        "resume=auto",
        f"data.stream={data / 'packed'}",
    )
    whole = train(data, tmp_path / "whole", *common, timeout=240)
    assert whole.returncode == 0, whole.stderr[-3000:]

    run = tmp_path / "outputs" / "job"
    # Both ranks stop with SIGKILL at the start of step 5 (mid-epoch 1), after last.ckpt at 4.
    kill = ("+callbacks.kill._target_=tiny_runs.KillAtStep", "+callbacks.kill.step=5")
    killed = train(data, run, *common, *kill, timeout=240)
    assert killed.returncode == -9, killed.stderr[-3000:]
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert (state["epoch"], state["global_step"]) == (0, 4)  # saved after the epoch's last step

    again = train(data, run, *common, timeout=240)
    assert again.returncode == 0, again.stderr[-3000:]
    last = run / "checkpoints" / "last.ckpt"
    assert f"resume=auto: continuing from {last} (epoch 0, step 4)" in again.stdout
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 8
    expected, got = weights(tmp_path / "whole"), weights(run)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(got[key], expected[key]), key


def test_one_rank_failing_ends_every_rank_under_lightnings_launcher(data, tmp_path):
    start = time.monotonic()
    out = train(
        data, tmp_path / "run", "trainer=ddp_cpu", "data.batch_size=1", *FAIL, timeout=BOUND
    )
    elapsed = time.monotonic() - start
    assert out.returncode is not None, f"still running after {BOUND} s:\n{out.stderr[-3000:]}"
    assert out.returncode != 0
    assert ERROR in out.stderr, out.stderr[-3000:]
    print(f"every rank ended {elapsed:.1f} s after the start, status {out.returncode}")


def test_one_rank_failing_ends_every_rank_under_torchrun(data, tmp_path):
    run_dir = tmp_path / "outputs" / "job"
    args = [o for o in overrides(data, run_dir, "data.batch_size=1", *FAIL) if o != "trainer=cpu"]
    args += ["trainer.accelerator=cpu", "trainer.precision=32-true"]
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": path,
        "GPUS_PER_NODE": "2",
        "MASTER_PORT": str(free_port()),
        "RUN_NAME": "job",
        "TORCHRUN": f"{sys.executable} -m torch.distributed.run",
    }
    log = tmp_path / "torchrun.out"
    start = time.monotonic()
    with log.open("w") as file:
        proc = subprocess.Popen(
            ["bash", str(ROOT / "launch" / "torchrun.sh"), *args],
            cwd=tmp_path,
            env=env,
            stdout=file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                pytest.fail(f"still running after {BOUND} s:\n{log.read_text()[-3000:]}")
    elapsed = time.monotonic() - start
    out = log.read_text()
    assert proc.returncode != 0
    assert ERROR in out, out[-3000:]
    print(f"every rank ended {elapsed:.1f} s after the start, status {proc.returncode}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]
