"""stage=probe end to end on small generated videos in the fine-tuning lists' layout: the three
probes write their reports, the features and the picture; two CPU DDP processes gather each
view exactly once (the evaluation sampler does not pad) and match one process."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from clips import write_clip
from hydra import compose, initialize_config_dir
from PIL import Image

from videomae_ssl.probe.features import FeatureSet
from videomae_ssl.stages.fit import run
from videomae_ssl.train import CONFIG_DIR

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]
SPLITS = {"train": 5, "val": 3, "test": 3}  # odd counts: two ranks cannot split them evenly


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two classes of clips of several sizes, codecs and lengths, listed in v1 files."""
    root = tmp_path_factory.mktemp("probe_data")
    kinds = [
        ((64, 48), "libx264", ".mp4", 20),
        ((48, 64), "mpeg4", ".avi", 14),
        ((80, 48), "libx264", ".mkv", 9),
    ]
    for split, count in SPLITS.items():
        lines = []
        for k in range(count):
            size, codec, suffix, frames = kinds[k % len(kinds)]
            name = f"{split}_{k}{suffix}"
            write_clip(root / name, num_frames=frames, size=size, codec=codec)
            lines.append(f"{name} {k % 2}\n")
        (root / f"{split}.csv").write_text("".join(lines))
    (root / "classes.txt").write_text("left\nright\n")
    return root


def probe_overrides(data: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        "experiment=ucf101_probe",
        "trainer=cpu",
        f"data.train_list={data / 'train.csv'}",
        f"data.val_list={data / 'val.csv'}",
        f"data.test_list={data / 'test.csv'}",
        f"data.class_names={data / 'classes.txt'}",
        f"data.root={data}",
        "data.num_classes=2",
        "data.num_frames=4",
        "data.sampling_rate=2",
        "data.input_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        "data.pin_memory=false",
        "data.backend=pyav",
        "data.test_clips=2",
        "data.test_crops=1",
        "model.net.size=tiny",
        "model.net.patch_size=8",
        "+model.net.depth=1",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def probe_here(data: Path, run_dir: Path, *extra: str) -> dict:
    args = [o for o in probe_overrides(data, run_dir, *extra) if not o.startswith("hydra.")]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[*args, f"paths.root_dir={run_dir.parent}", f"paths.output_dir={run_dir}"],
        )
    return run(cfg)


def test_all_three_probes_write_their_reports(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    result = probe_here(
        data,
        run_dir,
        "probe=[knn,linear,attentive]",
        "probe.linear.epochs=3",
        "probe.attentive.epochs=1",
    )
    for name in ("knn", "linear", "attentive"):
        assert 0 <= result[f"{name}/top1"] <= result[f"{name}/top5"] <= 1
        with open(run_dir / name / "predictions.csv") as f:
            rows = list(csv.DictReader(f))
        assert [r["path"] for r in rows] == [
            str(data / n) for n in ("test_0.mp4", "test_1.avi", "test_2.mkv")
        ]
        assert {r["label_name"] for r in rows} == {"left", "right"}
        with Image.open(run_dir / name / "confusion.png") as image:
            assert image.width > 50
    out = capsys.readouterr().out
    assert "kNN probe: 3 videos, 6 views (2 clips x 1 crop each)" in out
    assert "attentive probe: 3 videos, 6 views" in out
    assert out.strip().splitlines()[-1].startswith("frozen evaluation: kNN top-1 ")
    train = FeatureSet.load(run_dir / "features" / "train.safetensors")
    assert train.features.shape == (5, 192) and train.video_ids.tolist() == [0, 1, 2, 3, 4]
    test = FeatureSet.load(run_dir / "features" / "test.safetensors")
    assert test.video_ids.tolist() == [0, 0, 1, 1, 2, 2] and test.view_ids.tolist() == [0, 1] * 3
    with Image.open(run_dir / "embedding.png") as image:
        assert image.width > 200
    assert (run_dir / "attentive" / "checkpoints" / "last.ckpt").is_file()


def test_two_ddp_processes_gather_every_view_once_and_match_one(data, tmp_path):
    one = tmp_path / "one"
    probe_here(data, one, "probe=knn")
    two = tmp_path / "two"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(TESTS)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "videomae_ssl.train",
            *probe_overrides(data, two, "probe=knn", "trainer=ddp_cpu"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for split, videos in SPLITS.items():
        views = 2 if split == "test" else 1
        a = FeatureSet.load(one / "features" / f"{split}.safetensors")
        b = FeatureSet.load(two / "features" / f"{split}.safetensors")
        # Each (video, view) once: padding would repeat a video on the rank with one fewer.
        pairs = list(zip(b.video_ids.tolist(), b.view_ids.tolist(), strict=True))
        assert pairs == [(v, w) for v in range(videos) for w in range(views)]
        torch.testing.assert_close(b.features, a.features, rtol=1e-5, atol=1e-6)
    assert out.stdout.count("kNN probe: 3 videos, 6 views") == 1  # rank 0 reports, once


def test_a_bad_probe_setting_names_its_key(data, tmp_path):
    from videomae_ssl.errors import ConfigError

    with pytest.raises(ConfigError, match=r"probe.knn: k=0: expected an integer >= 1"):
        probe_here(data, tmp_path / "bad", "probe.knn.k=0")
    with pytest.raises(ConfigError, match="ckpt_path resumes training"):
        probe_here(data, tmp_path / "bad", f"ckpt_path={data / 'train.csv'}")


def tensorboard_events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def test_the_loggers_see_the_probes_results_pictures_and_the_config(data, tmp_path):
    """logger=many: TensorBoard gets the kNN and linear top-1, each probe's confusion matrix and
    the feature map as images; both loggers get the resolved config (files stay too)."""
    import yaml

    run_dir = tmp_path / "run"
    result = probe_here(data, run_dir, "probe=[knn,linear]", "probe.linear.epochs=1", "logger=many")
    events = tensorboard_events(run_dir / "tensorboard")
    for name in ("knn", "linear"):
        (point,) = events.Scalars(f"{name}/top1")
        assert point.value == pytest.approx(result[f"{name}/top1"])
    assert {"knn/confusion", "linear/confusion", "features/embedding"} <= set(
        events.Tags()["images"]
    )
    (image,) = events.Images("features/embedding")
    with Image.open(run_dir / "embedding.png") as png:
        assert (image.width, image.height) == png.size
    for folder in ("tensorboard", "csv"):
        hparams = yaml.safe_load((run_dir / folder / "hparams.yaml").read_text())
        assert hparams["stage"] == "probe" and hparams["seed"] == 0
        assert hparams["data"]["train_list"] == str(data / "train.csv")
    assert (run_dir / "knn" / "confusion.png").is_file()


def test_stage_probe_under_a_fine_tuning_experiment_probes_its_architecture(data, tmp_path):
    """stage=probe with experiment=ucf101_finetune: the frozen encoder is built from the
    fine-tuning model config's architecture keys (it stopped with "frozen_encoder() got multiple
    values for keyword argument 'img_size'")."""
    args = [
        a.replace("experiment=ucf101_probe", "experiment=ucf101_finetune")
        for a in probe_overrides(data, tmp_path / "run", "stage=probe", "probe=knn")
        if a != "+model.net.depth=1" and not a.startswith("hydra.")
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[*args, f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'run'}"],
        )
    result = run(cfg)
    assert 0 <= result["knn/top1"] <= 1
    train = FeatureSet.load(tmp_path / "run" / "features" / "train.safetensors")
    assert train.features.shape == (5, 192)  # ViT-tiny's width
