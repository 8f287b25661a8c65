"""masking=motion end to end: clips without motion vectors train with the fallback, counted as
data/motion_fallback; a killed run resumed with resume=auto ends with the weights of an
uninterrupted one; the demo's pretraining runs with it."""

import csv

import pytest
import torch
from clips import write_square_clip
from PIL import Image
from tiny_runs import train, train_here, weights

from videomae_ssl.data.readers import open_video


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A v2 list of 8 rows: 5 of moving-square H.264 clips, 3 without vectors (MJPEG, all-I
    H.264, a frame folder of the square)."""
    folder = tmp_path_factory.mktemp("motion_clips")
    (folder / "videos").mkdir()
    lines = []
    for k in range(4):
        write_square_clip(folder / "videos" / f"s{k}.mp4", num_frames=12, size=(96, 64))
        lines.append(f"videos/s{k}.mp4 0 -1")
    write_square_clip(folder / "videos" / "m.avi", 12, (96, 64), codec="mjpeg")
    write_square_clip(folder / "videos" / "i.mp4", 12, (96, 64), intra_only=True)
    frames = folder / "videos" / "f"
    frames.mkdir()
    with open_video(str(folder / "videos" / "s0.mp4"), "pyav") as video:
        for i, frame in enumerate(video.read(list(range(12))).numpy()):
            Image.fromarray(frame).save(frames / f"img_{i + 1:05d}.jpg")
    lines += ["videos/m.avi 0 -1", "videos/i.mp4 0 -1", "videos/f 1 12", "videos/s0.mp4 0 -1"]
    (folder / "train.csv").write_text("".join(f"{line}\n" for line in lines))
    return folder


MOTION = ("masking=motion", "data.annotation_format=v2")


def logged(run_dir, key):
    with open(run_dir / "csv" / "metrics.csv") as f:
        return [float(row[key]) for row in csv.DictReader(f) if row.get(key)]


def test_clips_without_vectors_train_with_the_fallback_counted(data, tmp_path, capsys, caplog):
    train_here(data, tmp_path / "run", *MOTION)
    counts = logged(tmp_path / "run", "data/motion_fallback")
    assert len(counts) == 4  # one per step: 8 clips in batches of 2
    # 2 slices per clip: the MJPEG, all-I and frame-folder clips fall back in both (6); a square
    # clip only where its crop leaves the square out.
    assert 6 <= sum(counts) < 16
    said = capsys.readouterr().out + caplog.text
    assert said.count("had no motion vectors to follow") == 1  # said once


@pytest.mark.slow
def test_killed_and_resumed_run_ends_with_the_uninterrupted_weights(data, tmp_path):
    common = ("trainer.max_epochs=2", "checkpoint_every_n_steps=2", "resume=auto", *MOTION)
    whole = train(data, tmp_path / "outputs" / "whole", *common)
    assert whole.returncode == 0, whole.stderr[-2000:]
    run = tmp_path / "outputs" / "job"
    kill = ("+callbacks.kill._target_=tiny_runs.KillAtStep", "+callbacks.kill.step=3")
    assert train(data, run, *common, *kill).returncode == -9
    resumed = train(data, run, *common)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resume=auto: continuing from" in resumed.stdout
    expected, got = weights(tmp_path / "outputs" / "whole"), weights(run)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(got[key], expected[key]), key


def test_demo_pretrain_trains_with_motion_masking(tmp_path):
    from hydra import compose, initialize_config_dir

    from videomae_ssl.stages.fit import run
    from videomae_ssl.train import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "experiment=demo_pretrain",
                "masking=motion",
                "trainer.max_steps=2",
                "trainer.max_epochs=1",
                "trainer.limit_val_batches=0",
                "trainer.log_every_n_steps=1",
                "data.num_workers=0",
                "callbacks.online_probe=null",
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path / 'run'}",
                f"paths.cache_dir={tmp_path / 'cache'}",
            ],
        )
    assert cfg.masking._target_.endswith("MotionMaskGenerator")
    run(cfg)
    assert logged(tmp_path / "run", "data/motion_fallback")  # logged at every step
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
