"""The embedded demo dataset: small synthetic H.264 clips whose class is their motion.

Each clip shows one light, soft-edged ball on a dark background, moving in a straight line at
constant speed in one of 8 directions, 45 degrees apart:

    0 move_right  1 move_up_right  2 move_up    3 move_up_left
    4 move_left   5 move_down_left 6 move_down  7 move_down_right

Colours, size, speed and start are random nuisance; the class is the direction alone. Opposite
classes differ only in the direction of time (a move_left clip played backwards is a
move_right clip), so telling them apart needs temporal order, not appearance.

The demo shows the paper's claim in miniature: masked-autoencoder pretraining on many unlabelled
clips makes a classifier fine-tuned on a few labelled ones better than the same classifier
trained from scratch on those. Hence the splits: `unlabelled` (64 clips per class, for
pretraining; its list has labels, which pretraining ignores), `train` (2 labelled clips per
class), `val` (8) and `test` (16). Everything
is a function of the seed, so the dataset is identical on every machine with the same libx264
build.

Layout under the dataset folder:
    videos/<split>/<class>_<k>.mp4                yuv420p H.264
    unlabelled.csv, train.csv, val.csv, test.csv  V1 annotations, '<relative path> <label>'
    probe_train.csv                               the first 16 unlabelled clips of each class
                                                  (the online probe's labelled subset)
    classes.txt                                   line i is the name of label i
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from videomae_ssl.errors import DataError

DEMO_CLASSES = (
    "move_right",
    "move_up_right",
    "move_up",
    "move_up_left",
    "move_left",
    "move_down_left",
    "move_down",
    "move_down_right",
)
SPLITS = ("unlabelled", "train", "val", "test")
MARKER = ".complete"  # written last; holds the generation parameters
FORMAT_VERSION = 6  # bump when the rendering or the lists change, so old caches are regenerated
PROBE_PER_CLASS = 16  # unlabelled clips per class in probe_train.csv


def direction(label: int) -> tuple[float, float]:
    """The unit step (dx, dy) of class `label` on screen (y grows downwards)."""
    angle = label * math.pi / 4  # counter-clockwise from move_right
    return math.cos(angle), -math.sin(angle)


def _motion(
    rng: np.random.Generator, label: int, num_frames: int, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-frame centre x, centre y (px) and the ball's radius.

    The ball travels 35-60% of the frame's smaller side over the clip (less where the frame
    cannot hold that beside the ball), in a straight line at constant speed, and stays wholly
    inside the frame throughout.
    """
    dx, dy = direction(label)
    side = min(height, width)
    radius = float(rng.uniform(0.12, 0.22) * side)
    # At most what the frame holds beside the ball (then it touches both edges).
    travel = min(float(rng.uniform(0.35, 0.6) * side), side - 2 * radius)
    lows, highs = [], []
    for step, extent in ((dx, width), (dy, height)):
        lows.append(radius - min(0.0, step * travel))
        highs.append(extent - radius - max(0.0, step * travel))
    x0 = rng.uniform(lows[0], max(highs[0], lows[0]))
    y0 = rng.uniform(lows[1], max(highs[1], lows[1]))
    f = np.linspace(0.0, 1.0, num_frames)
    return x0 + dx * travel * f, y0 + dy * travel * f, radius


def render_clip(
    rng: np.random.Generator, label: int, num_frames: int, height: int, width: int
) -> np.ndarray:
    """One clip of class `label` -> uint8 (T, H, W, 3): a light ball (each channel in
    [150, 255]) with a 1 px antialiased edge on a flat dark background (each channel in
    [0, 80])."""
    background = rng.uniform(0.0, 80.0, size=3)
    color = rng.uniform(150.0, 255.0, size=3)
    xs, ys, radius = _motion(rng, label, num_frames, height, width)
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5  # pixel centres
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        cover = np.clip(0.5 - (np.hypot(gx - xs[i], gy - ys[i]) - radius), 0.0, 1.0)[..., None]
        frames[i] = np.rint(background * (1 - cover) + color * cover).astype(np.uint8)
    return frames


def write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """Encode uint8 (T, H, W, 3) frames as yuv420p H.264, the same bytes in every process.

    One x264 thread, so that the bitstream does not depend on the machine's core count, and no
    macroblock-tree rate control: with it, a third of the clips came out differently when
    other processes shared the cores, and two generations of the same dataset decoded to
    pixels up to 28 levels apart."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {
            "crf": "18",
            "preset": "veryfast",
            "threads": "1",
            "x264-params": "no-mbtree=1",
        }
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def _is_complete(root: Path, params: dict) -> bool:
    marker = root / MARKER
    try:
        return json.loads(marker.read_text()) == params
    except (OSError, ValueError):
        return False


def _generate(
    out: Path, params: dict, counts: dict[str, int], frame_range: tuple[int, int], progress: bool
) -> None:
    """Write the whole dataset into the empty folder `out`, marker last."""
    seed, width, height, fps = params["seed"], params["width"], params["height"], params["fps"]
    total = len(DEMO_CLASSES) * sum(counts.values())
    with tqdm(
        total=total, desc="Generating demo dataset", unit="clip", disable=not progress
    ) as bar:
        for split_id, split in enumerate(SPLITS):
            (out / "videos" / split).mkdir(parents=True)
            lines = []
            for label, name in enumerate(DEMO_CLASSES):
                for k in range(counts[split]):
                    # One stream per clip: a clip does not change when the counts do.
                    rng = np.random.default_rng([seed, split_id, label, k])
                    num_frames = int(rng.integers(frame_range[0], frame_range[1] + 1))
                    relative = f"videos/{split}/{name}_{k:03d}.mp4"
                    frames = render_clip(rng, label, num_frames, height, width)
                    write_mp4(out / relative, frames, fps)
                    lines.append(f"{relative} {label}\n")
                    bar.update()
            (out / f"{split}.csv").write_text("".join(lines))
            if split == "unlabelled":
                # The online probe's labelled subset: the first clips of each class.
                per_class = counts[split]
                subset = [line for i, line in enumerate(lines) if i % per_class < PROBE_PER_CLASS]
                (out / "probe_train.csv").write_text("".join(subset))
    (out / "classes.txt").write_text("".join(f"{name}\n" for name in DEMO_CLASSES))
    (out / MARKER).write_text(json.dumps(params, sort_keys=True))


def ensure_demo_dataset(
    root: str | Path,
    seed: int = 0,
    *,
    num_unlabelled: int = 64,
    num_train: int = 2,
    num_val: int = 8,
    num_test: int = 16,
    frame_range: tuple[int, int] = (16, 18),
    width: int = 32,
    height: int = 32,
    fps: int = 8,
    progress: bool = True,
) -> Path:
    """Generate the demo dataset into `root` unless it is already there; return `root`.

    Clips per class: `num_unlabelled` / `num_train` / `num_val` / `num_test`; each clip has a random length in
    `frame_range` (inclusive). The dataset is built in a temporary sibling folder and renamed
    into place once complete, so an interrupted run never leaves a half dataset. A later call
    with the same parameters reuses it; other parameters regenerate it.
    """
    root = Path(root)
    counts = {"unlabelled": num_unlabelled, "train": num_train, "val": num_val, "test": num_test}
    params = {
        "version": FORMAT_VERSION,
        "seed": seed,
        "counts": counts,
        "frame_range": list(frame_range),
        "width": width,
        "height": height,
        "fps": fps,
    }
    if _is_complete(root, params):
        return root
    if root.exists() and not (root / MARKER).exists() and any(root.iterdir()):
        raise DataError(
            f"{root}: exists and is not a demo dataset; choose an empty or new folder "
            f"(data.cache_dir) for the demo dataset."
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        _generate(tmp, params, counts, frame_range, progress)
        if _is_complete(root, params):  # another process finished first: same content
            shutil.rmtree(tmp)
            return root
        if root.exists():
            shutil.rmtree(root)  # an empty folder or a demo made with other parameters
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if _is_complete(root, params):  # lost a rename race to an identical dataset
            return root
        raise
    return root
