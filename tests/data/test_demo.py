"""The demo dataset: deterministic, reused, written atomically, and classes defined by motion."""

import functools
import subprocess
import sys

import av
import numpy as np
import pytest

from videomae_ssl.data import demo
from videomae_ssl.data.annotations import read_annotations
from videomae_ssl.data.datamodules import DemoPretrainDataModule
from videomae_ssl.data.datamodules import demo as demo_modules
from videomae_ssl.data.demo import DEMO_CLASSES, ensure_demo_dataset
from videomae_ssl.errors import DataError
from videomae_ssl.masking import TubeMaskGenerator

# One clip per class and split, short and small: 32 clips, well under a second.
SMALL = dict(
    num_unlabelled=1, num_train=1, num_val=1, num_test=1, frame_range=(16, 18), progress=False
)


def first_frame(path):
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return ensure_demo_dataset(tmp_path_factory.mktemp("demo") / "seed_0", seed=0, **SMALL)


def test_layout_and_annotations(small):
    assert (small / "classes.txt").read_text().splitlines() == list(DEMO_CLASSES)
    assert len(DEMO_CLASSES) == 8
    for split in ("unlabelled", "train", "val", "test"):
        records = read_annotations(small / f"{split}.csv", root=small)
        assert len(records) == 8
        for record in records:
            name = DEMO_CLASSES[record.label]
            assert record.path == str(small / "videos" / split / f"{name}_000.mp4")
            with av.open(record.path) as container:
                stream = container.streams.video[0]
                assert (stream.codec_context.name, stream.format.name) == ("h264", "yuv420p")
                assert (stream.width, stream.height) == (32, 32)
                assert 16 <= stream.frames <= 18
    assert not [p for p in small.parent.iterdir() if p.name.startswith(".")]  # no temp folders


def test_same_seed_same_dataset(small, tmp_path):
    again = ensure_demo_dataset(tmp_path / "copy", seed=0, **SMALL)
    other = ensure_demo_dataset(tmp_path / "other", seed=1, **SMALL)
    for name in ("unlabelled.csv", "train.csv", "val.csv", "test.csv", "classes.txt"):
        assert (again / name).read_bytes() == (small / name).read_bytes()
    clip = "videos/train/move_up_left_000.mp4"
    assert np.array_equal(first_frame(again / clip), first_frame(small / clip))
    assert not np.array_equal(first_frame(other / clip), first_frame(small / clip))


def test_processes_running_at_once_write_the_same_bytes(tmp_path):
    # x264's macroblock-tree rate control made a third of the clips depend on the timing of
    # the process (four generations running at once on two cores disagreed); four generations
    # at once must now write identical files.
    script = (
        "import sys; from videomae_ssl.data.demo import ensure_demo_dataset; "
        "ensure_demo_dataset(sys.argv[1], seed=0, num_unlabelled=4, num_train=1, num_val=1, "
        "num_test=1, progress=False)"
    )
    roots = [tmp_path / f"run_{i}" for i in range(4)]
    runs = [subprocess.Popen([sys.executable, "-c", script, str(root)]) for root in roots]
    assert [run.wait() for run in runs] == [0] * 4
    files = sorted(p.relative_to(roots[0]) for p in roots[0].rglob("*.mp4"))
    assert len(files) == 8 * 7
    differing = {
        str(f)
        for f in files
        for root in roots[1:]
        if (root / f).read_bytes() != (roots[0] / f).read_bytes()
    }
    assert differing == set()


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


# The step of each class on screen, written out by hand (y grows downwards).
STEPS = {
    "move_right": (1, 0),
    "move_up_right": (1, -1),
    "move_up": (0, -1),
    "move_up_left": (-1, -1),
    "move_left": (-1, 0),
    "move_down_left": (-1, 1),
    "move_down": (0, 1),
    "move_down_right": (1, 1),
}


@pytest.mark.parametrize("label", range(8))
def test_class_is_the_direction_of_motion(label):
    want = np.array(STEPS[DEMO_CLASSES[label]], dtype=float)
    want /= np.linalg.norm(want)
    for seed in range(200):
        num_frames = 16 + seed % 3
        x, y, radius = demo._motion(np.random.default_rng(seed), label, num_frames, 32, 40)
        eps = 1e-9  # the ball may touch an edge
        assert (x - radius >= -eps).all() and (x + radius <= 40 + eps).all()  # inside the frame
        assert (y - radius >= -eps).all() and (y + radius <= 32 + eps).all()
        steps = np.stack([np.diff(x), np.diff(y)], axis=1)  # (T - 1, 2)
        assert np.allclose(steps, steps[0])  # constant velocity
        speed = np.linalg.norm(steps[0])
        assert np.allclose(steps[0] / speed, want)
        # 35-60% of the smaller side over the clip, at most what the frame holds
        travel = speed * (num_frames - 1)
        assert 0.35 * 32 - 1e-9 <= travel <= min(0.6 * 32, 32 - 2 * radius) + 1e-9


@pytest.mark.parametrize("name", ["move_right", "move_up_left"])
def test_rendered_ball_moves_as_its_class_says(name):
    label = DEMO_CLASSES.index(name)
    frames = demo.render_clip(np.random.default_rng(0), label, 18, 32, 32)
    assert frames.shape == (18, 32, 32, 3) and frames.dtype == np.uint8
    background = frames[0, 0, 0].astype(int), frames[-1, -1, -1].astype(int)
    ball = frames.astype(int).sum(axis=-1) > frames.astype(int).sum(axis=-1).min() + 200
    rows = np.array([np.nonzero(b)[0].mean() for b in ball])
    cols = np.array([np.nonzero(b)[1].mean() for b in ball])
    moved = np.array([cols[-1] - cols[0], rows[-1] - rows[0]])
    want = np.array(STEPS[name], dtype=float)
    assert np.linalg.norm(moved) > 0.35 * 32 - 1  # px
    assert np.allclose(moved / np.linalg.norm(moved), want / np.linalg.norm(want), atol=0.05)
    assert background[0].max() <= 80


def test_datamodule_generates_then_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(
        demo_modules, "ensure_demo_dataset", functools.partial(ensure_demo_dataset, **SMALL)
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
    assert dm.num_train_samples == 8  # the unlabelled split
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].shape == (4, 3, 8, 32, 32)
    assert batch["mask"].shape == (4, 4 * 4 * 4) and batch["mask"].sum() == 4 * 4 * 14


@pytest.mark.parametrize("experiment", ["demo_finetune", "demo_pretrain"])
def test_a_list_given_to_a_demo_experiment_says_where_lists_go(experiment, tmp_path):
    """`experiment=demo_finetune +data.train_list=...` stopped on a keyword given twice; it is
    one line naming the key and the experiments that read one's own lists."""
    from test_configs import compose_cfg

    from videomae_ssl.errors import ConfigError
    from videomae_ssl.stages.build import instantiate

    cfg = compose_cfg(
        [f"experiment={experiment}", f"+data.train_list={tmp_path / 'mine.csv'}"], tmp_path
    )
    stage = experiment.removeprefix("demo_")
    with pytest.raises(
        ConfigError,
        match=rf"^data.train_list: the demo's data config reads .* "
        rf"experiment=ucf101_{stage} with data.train_list",
    ):
        instantiate(cfg.data, "data")
