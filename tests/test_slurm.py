"""launch/slurm.sbatch on a real SLURM (slurmctld, slurmd and munged on this machine, one node,
see slurm_cluster.py): two tasks take their world from SLURM's environment, and a job signalled
as at its time limit saves, requeues itself, continues in the same run folder and ends with the
weights of a run that was never interrupted."""

import json
import os
import sys
import time

import pytest
import torch
from slurm_cluster import ENDED, Cluster, missing_programs
from tiny_runs import TESTS, overrides, train, weights, write_clips

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

SBATCH = TESTS.parent / "launch" / "slurm.sbatch"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    missing = missing_programs()
    if missing:
        pytest.skip(f"no SLURM here ({', '.join(missing)} not found); .ci/run installs it")
    cluster = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_clips(tmp_path_factory.mktemp("clips"), count=8)


def job_arguments(data, *extra: str) -> list[str]:
    """sbatch's options for 2 CPU tasks on the one node, the script, and the tiny run's
    overrides on the CPU (the script sets the trainer, devices, workers, run_name and resume)."""
    set_by_script = ("trainer=", "data.num_workers=", "hydra.run.dir=")
    tiny = [o for o in overrides(data, data, *extra) if not o.startswith(set_by_script)]
    return [
        "--ntasks-per-node=2",
        "--gpus-per-node=0",
        "--cpus-per-task=1",
        "--output=slurm-%j.out",
        str(SBATCH),
        *tiny,
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",
        "name=slurm",
    ]


def job_env() -> dict[str, str]:
    """The job runs this Python on this checkout: sbatch passes the environment on."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHON_RUN": sys.executable, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def test_two_tasks_take_their_world_from_slurm(cluster, data, tmp_path):
    world = tmp_path / "world"
    job = cluster.sbatch(
        *job_arguments(
            data,
            "trainer.max_steps=2",
            "+callbacks.world._target_=injected.RecordWorld",
            f"+callbacks.world.folder={world}",
        ),
        env=job_env(),
        cwd=tmp_path,
    )
    state = cluster.wait_for(job, ENDED, timeout=120)
    out = (tmp_path / f"slurm-{job}.out").read_text()
    assert state == "COMPLETED", out[-3000:]
    ranks = [json.loads((world / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rank, record in enumerate(ranks):
        assert record["environment"] == "SLURMEnvironment"
        assert (record["world_size"], record["global_rank"]) == (2, rank)
        assert (record["SLURM_NTASKS"], record["SLURM_PROCID"]) == ("2", str(rank))
    assert ranks[0]["pid"] != ranks[1]["pid"]
    run_dir = tmp_path / "outputs" / "slurm" / str(job)  # run_name=$SLURM_JOB_ID
    assert (
        "Effective batch 4 videos = 2 per device x 2 devices" in (run_dir / "train.log").read_text()
    )
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in (run_dir / "train.rank1.log").read_text()
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2


def test_a_job_signalled_before_its_time_limit_requeues_and_resumes_exactly(
    cluster, data, tmp_path
):
    # 8 clips, 1 per task and step: 4 steps per epoch, 3 epochs.
    common = ("data.batch_size=1", "trainer.max_epochs=3")
    whole = train(data, tmp_path / "whole", "trainer=ddp_cpu", *common, timeout=240)
    assert whole.returncode == 0, whole.stderr[-3000:]

    # The job's last.ckpt at step 4, then 1 s per step: the signal comes after it, mid-epoch 1.
    slow = (
        "+callbacks.slow._target_=injected.SlowSteps",
        "+callbacks.slow.seconds=1",
        "checkpoint_every_n_steps=4",
        "callbacks.step_line.every_n_steps=1",
    )
    job = cluster.sbatch(*job_arguments(data, *common, *slow), env=job_env(), cwd=tmp_path)
    run_dir = tmp_path / "outputs" / "slurm" / str(job)
    output = tmp_path / f"slurm-{job}.out"
    deadline = time.monotonic() + 90
    # Rank 0's line after step 5, mid-epoch 1 (last.ckpt holds step 4): the job is 7 steps
    # (7 s) from its end, and the requeue checkpoint will be newer than last.ckpt.
    while not (output.is_file() and "step 5/12" in output.read_text()):
        assert cluster.state(job) in ("PENDING", "RUNNING"), output.read_text()[-3000:]
        assert time.monotonic() < deadline, "step 5 not reached after 90 s"
        time.sleep(0.2)
    # What SLURM sends `--signal=SIGUSR1@90` before the time limit, to every task.
    cluster.run("scancel", "--signal=USR1", str(job))
    state = cluster.wait_for(job, ("PENDING",), timeout=60)  # requeued by Lightning's handler
    assert state == "PENDING", output.read_text()[-3000:]
    # A requeued job waits (BeginTime) before it may start again; a free cluster starts it now.
    cluster.run("scontrol", "update", f"JobId={job}", "StartTime=now")
    state = cluster.wait_for(job, ENDED, timeout=120)
    out = output.read_text()  # both starts: --open-mode=append
    assert state == "COMPLETED", out[-3000:]

    hpc = run_dir / "hpc_ckpt_1.ckpt"
    saved = torch.load(hpc, map_location="cpu", weights_only=True)
    assert saved["global_step"] > 4  # saved on the signal, mid-epoch 1: newer than last.ckpt
    log = (run_dir / "train.log").read_text()
    assert f"resume=auto: continuing from {hpc} (epoch 1, step {saved['global_step']})" in log, out[
        -3000:
    ]
    last = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 12
    expected, got = weights(tmp_path / "whole"), weights(run_dir)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(got[key], expected[key]), key
