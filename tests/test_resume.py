"""A job killed mid-epoch and started again with `resume=auto` continues from its last
checkpoint and ends with the weights of a run that was never interrupted."""

import pytest
import torch
from tiny_runs import train, train_here, weights, write_clips

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_clips(tmp_path_factory.mktemp("clips"))


# VideoMAE V2's decoder masking draws a mask per clip and step: from the clip's own stream, so
# the resumed job draws the same ones. Stochastic depth draws in the forward pass, from the
# step's own seed (two blocks: the first block's rate is 0).
@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("model.decoder_mask_ratio=0.5",),
        ("model.net.depth=2", "model.net.drop_path_rate=0.5"),
    ],
    ids=["v1", "decoder_masking", "drop_path"],
)
def test_killed_mid_epoch_resume_auto_ends_as_an_uninterrupted_run(data, tmp_path, capsys, extra):
    # 8 clips in batches of 2: 4 steps per epoch, 2 epochs; last.ckpt every 2 steps.
    common = ("trainer.max_epochs=2", "checkpoint_every_n_steps=2", "resume=auto", *extra)
    train_here(data, tmp_path / "whole", *common)

    run = tmp_path / "outputs" / "job"
    kill = ("+callbacks.kill._target_=tiny_runs.KillAtStep", "+callbacks.kill.step=3")
    killed = train(data, run, *common, *kill)
    assert killed.returncode == -9  # SIGKILL, at the start of the epoch's 4th batch
    assert "resume=auto: no checkpoint in" in killed.stdout
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert (state["epoch"], state["global_step"]) == (0, 2)

    train_here(data, run, *common)  # the job started again
    last = run / "checkpoints" / "last.ckpt"
    assert f"resume=auto: continuing from {last} (epoch 0, step 2)" in capsys.readouterr().out
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 8
    expected, got = weights(tmp_path / "whole"), weights(run)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6, msg=key)


# Stochastic depth and dropout draw from torch's generators in the training forward pass: the
# step's own stream (seed, epoch, batch, rank) gives the resumed job the same draws. The rates
# are high, so that every step drops something. Every run is a fresh process, so that all three
# compute with the same threads and compare bit for bit.
def test_a_killed_fine_tuning_resumed_with_resume_auto_ends_as_an_uninterrupted_run(data, tmp_path):
    common = (
        "trainer.max_epochs=2",
        "checkpoint_every_n_steps=2",
        "resume=auto",
        "model.net.drop_path_rate=0.5",
        "model.net.fc_drop_rate=0.5",
    )
    whole = tmp_path / "outputs" / "whole"
    done = train(data, whole, *common, task="finetune")
    assert done.returncode == 0, done.stderr[-2000:]

    run = tmp_path / "outputs" / "job"
    kill = ("+callbacks.kill._target_=tiny_runs.KillAtStep", "+callbacks.kill.step=3")
    killed = train(data, run, *common, *kill, task="finetune")
    assert killed.returncode == -9, killed.stderr[-2000:]
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert (state["epoch"], state["global_step"]) == (0, 2)

    resumed = train(data, run, *common, task="finetune")  # the job started again
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resume=auto: continuing from" in resumed.stdout
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 8
    expected, got = weights(whole), weights(run)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(got[key], expected[key]), key
