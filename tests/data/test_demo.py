"""The demo dataset: deterministic, reused, written atomically, and classes defined by motion."""

import functools
import math

import av
import numpy as np
import pytest

from videomae_ssl.data import demo
from videomae_ssl.data.annotations import read_annotations
from videomae_ssl.data.demo import DEMO_CLASSES, DemoPretrainDataModule, ensure_demo_dataset
from videomae_ssl.errors import DataError
from videomae_ssl.masking import TubeMaskGenerator

# One clip per class and split, short and small: 24 clips, well under a second.
SMALL = dict(num_train=1, num_val=1, num_test=1, frame_range=(34, 36), progress=False)


def first_frame(path):
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return ensure_demo_dataset(tmp_path_factory.mktemp("demo") / "seed_0", seed=0, **SMALL)


def test_layout_and_annotations(small):
    assert (small / "classes.txt").read_text().splitlines() == list(DEMO_CLASSES)
    assert len(DEMO_CLASSES) == 8
    for split in ("train", "val", "test"):
        records = read_annotations(small / f"{split}.csv", root=small)
        assert len(records) == 8
        for record in records:
            name = DEMO_CLASSES[record.label]
            assert record.path == str(small / "videos" / split / f"{name}_000.mp4")
            with av.open(record.path) as container:
                stream = container.streams.video[0]
                assert (stream.codec_context.name, stream.format.name) == ("h264", "yuv420p")
                assert (stream.width, stream.height) == (160, 128)
                assert 34 <= stream.frames <= 36
    assert not [p for p in small.parent.iterdir() if p.name.startswith(".")]  # no temp folders


def test_same_seed_same_dataset(small, tmp_path):
    again = ensure_demo_dataset(tmp_path / "copy", seed=0, **SMALL)
    other = ensure_demo_dataset(tmp_path / "other", seed=1, **SMALL)
    for name in ("train.csv", "val.csv", "test.csv", "classes.txt"):
        assert (again / name).read_bytes() == (small / name).read_bytes()
    clip = "videos/train/rotate_cw_000.mp4"
    assert np.array_equal(first_frame(again / clip), first_frame(small / clip))
    assert not np.array_equal(first_frame(other / clip), first_frame(small / clip))


def test_reuse_does_not_regenerate(small, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("regenerated")

    monkeypatch.setattr(demo, "_generate", fail)
    assert ensure_demo_dataset(small, seed=0, **SMALL) == small
    with pytest.raises(AssertionError, match="regenerated"):  # other parameters: a new dataset
        ensure_demo_dataset(small, seed=0, **{**SMALL, "num_train": 2})


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    written = []

    def write_then_stop(path, frames, fps):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(path)

    monkeypatch.setattr(demo, "write_mp4", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        ensure_demo_dataset(tmp_path / "demo", **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(DataError, match="is not a demo dataset"):
        ensure_demo_dataset(tmp_path, **SMALL)
    assert (tmp_path / "mine.txt").read_text() == "precious"


# Which quantity changes and its sign (y grows downwards, angles clockwise on screen).
MOVING = {
    "move_right": ("x", 1),
    "move_left": ("x", -1),
    "move_up": ("y", -1),
    "move_down": ("y", 1),
    "rotate_cw": ("angle", 1),
    "rotate_ccw": ("angle", -1),
    "grow": ("radius", 1),
    "shrink": ("radius", -1),
}


@pytest.mark.parametrize("label", range(8))
def test_class_is_the_motion(label):
    changing, sign = MOVING[DEMO_CLASSES[label]]
    for seed in range(200):
        num_frames = 40 + seed % 9
        x, y, radius, angle = demo._motion(np.random.default_rng(seed), label, num_frames, 128, 160)
        assert (x - radius >= 0).all() and (x + radius <= 160).all()  # always inside the frame
        assert (y - radius >= 0).all() and (y + radius <= 128).all()
        steps = {
            "x": np.diff(x),
            "y": np.diff(y),
            "radius": np.diff(radius),
            "angle": np.diff(angle),
        }
        for name, step in steps.items():
            if name == changing:
                assert (np.sign(step) == sign).all()
            else:
                assert np.allclose(step, 0)
        # Slow enough that the marked shape's rotation is never ambiguous.
        assert (np.abs(steps["angle"]) < math.radians(10)).all()


def test_rendered_shape_moves_right():
    label = DEMO_CLASSES.index("move_right")
    frames = demo.render_clip(np.random.default_rng(0), label, 40, 128, 160)
    assert frames.shape == (40, 128, 160, 3) and frames.dtype == np.uint8
    background = np.median(frames, axis=0)  # the shape covers each pixel only briefly
    shape = np.abs(frames - background).sum(axis=-1) > 60  # (T, H, W)
    columns = [np.nonzero(s)[1].mean() for s in shape]
    assert np.all(np.diff(columns) > 0)


def test_datamodule_generates_then_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(
        demo, "ensure_demo_dataset", functools.partial(ensure_demo_dataset, **SMALL)
    )
    dm = DemoPretrainDataModule(
        cache_dir=str(tmp_path / "cache"),
        demo_seed=0,
        mask_generator=TubeMaskGenerator(0.9),
        batch_size=4,
        num_workers=0,
        backend="pyav",
    )
    assert dm.batch_size == 4 and dm.root == str(tmp_path / "cache" / "seed_0")
    dm.validate_inputs()  # generates first, then validates
    assert (tmp_path / "cache" / "seed_0" / "train.csv").is_file()
    dm.setup("fit")
    assert dm.num_train_samples == 8
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].shape == (4, 3, 16, 112, 112)
    assert batch["mask"].shape == (4, 8 * 7 * 7) and batch["mask"].sum() == 4 * 8 * 44
