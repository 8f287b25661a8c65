"""The embedded demo dataset: small synthetic H.264 clips whose class is their motion.

Each clip shows one shape (circle, square or triangle, with a contrasting dot that makes its
orientation visible) on a random linear colour ramp. Shape, colours, size and position are
random nuisance; the class is defined by the motion alone:

    0 move_right  1 move_left  2 move_up  3 move_down
    4 rotate_cw   5 rotate_ccw 6 grow     7 shrink

Opposite classes differ only in the direction of time (a move_left clip played backwards is a
move_right clip), so telling them apart needs temporal order, not appearance. Static sizes are
drawn from the same range that grow/shrink sweep, so a single frame's size says little. The
background is a ramp (not noise) so that masked patches can be reconstructed from their
surroundings. Everything is a function of the seed, so the dataset is identical on every
machine with the same libx264 build.

Layout under the dataset folder:
    videos/<split>/<class>_<k>.mp4    yuv420p H.264
    train.csv, val.csv, test.csv      V1 annotations, '<relative path> <label>'
    classes.txt                       line i is the name of label i
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import av
import numpy as np
from tqdm import tqdm

from videomae_ssl.data.datamodule import PretrainDataModule
from videomae_ssl.data.finetune_datamodule import FinetuneDataModule
from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.masking import MaskGenerator

DEMO_CLASSES = (
    "move_right",
    "move_left",
    "move_up",
    "move_down",
    "rotate_cw",
    "rotate_ccw",
    "grow",
    "shrink",
)
SPLITS = ("train", "val", "test")
SHAPES = ("circle", "square", "triangle")
MARKER = ".complete"  # written last; holds the generation parameters
FORMAT_VERSION = 3  # bump when the rendering changes, so old caches are regenerated


def _luminance(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A linear colour ramp: each channel rises from one random level to another along its own
    random direction. Returns float32 (H, W, 3) in [30, 225].

    A ramp is smooth (a masked background patch follows from the visible ones around it)
    and has a level change of at least 60 across the frame in every channel, well above the
    coding noise, so every patch carries some structure to reconstruct.
    """
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.empty((height, width, 3), dtype=np.float32)
    for c in range(3):
        theta = rng.uniform(0.0, 2.0 * math.pi)
        s = xs * math.cos(theta) + ys * math.sin(theta)
        s = (s - s.min()) / (s.max() - s.min())  # (H, W) in [0, 1] along the direction
        low = rng.uniform(30.0, 110.0)
        high = rng.uniform(low + 60.0, 225.0)  # at least 60 levels: well above coding noise
        image[..., c] = low + (high - low) * s
    return image


def _contrasting_color(rng: np.random.Generator, background_luma: float) -> np.ndarray:
    """A random colour whose luma is at least 70 levels from the background's mean luma."""
    color = rng.uniform(0.0, 255.0, size=3)
    if background_luma > 128:
        color = color * min(1.0, (background_luma - 70) / max(_luminance(color), 1.0))
    else:
        light = 255.0 - color
        target = 255.0 - (background_luma + 70)
        color = 255.0 - light * min(1.0, target / max(_luminance(light), 1.0))
    return np.clip(color, 0.0, 255.0)


def _shape_sdf(kind: str, u: np.ndarray, v: np.ndarray, radius: float) -> np.ndarray:
    """Signed distance (px, negative inside) in the shape's own frame; `radius` = circumradius.
    Exact near the edges, which is all the 1 px antialiasing band needs."""
    if kind == "circle":
        return np.hypot(u, v) - radius
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) - radius / math.sqrt(2.0)
    # Triangle with a vertex along +u: edges with outward normals at 60, 180 and 300 degrees.
    d = [u * math.cos(a) + v * math.sin(a) for a in (math.pi / 3, math.pi, -math.pi / 3)]
    return np.maximum(np.maximum(d[0], d[1]), d[2]) - radius / 2.0


def _motion(
    rng: np.random.Generator, label: int, num_frames: int, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame centre x, centre y, circumradius and angle (radians, clockwise on screen)."""
    t = np.arange(num_frames, dtype=np.float64)
    name = DEMO_CLASSES[label]
    # Large shapes: they must weigh in the reconstruction loss, or pretraining can ignore them.
    radius = np.full(num_frames, rng.uniform(15.0, 26.0))
    if name == "grow" or name == "shrink":
        small = rng.uniform(10.0, 13.0)
        radius = small * rng.uniform(1.8, 2.2) ** (t / (num_frames - 1))  # constant growth rate
        if name == "shrink":
            radius = radius[::-1].copy()
    r_max = float(radius.max()) + 1.0
    x = np.full(num_frames, rng.uniform(r_max, width - r_max))
    y = np.full(num_frames, rng.uniform(r_max, height - r_max))
    angle = np.full(num_frames, rng.uniform(0.0, 2 * math.pi))
    if name.startswith("move_"):
        horizontal = name in ("move_right", "move_left")
        extent = width if horizontal else height
        # As fast as 2.5 px/frame, but slow enough that the whole path stays inside the frame.
        speed = min(rng.uniform(1.5, 2.5), (extent - 2 * r_max) / (num_frames - 1))
        # max(): when the speed is at its limit, rounding may put the upper end a hair below.
        start = rng.uniform(r_max, max(extent - r_max - speed * (num_frames - 1), r_max))
        path = start + speed * t
        if name in ("move_left", "move_up"):
            path = path[::-1].copy()
        if horizontal:
            x = path
        else:
            y = path
    elif name.startswith("rotate_"):
        step = math.radians(rng.uniform(5.0, 8.0))  # far below the square's 90 degree symmetry
        angle = angle[0] + (step if name == "rotate_cw" else -step) * t
    return x, y, radius, angle


def render_clip(
    rng: np.random.Generator, label: int, num_frames: int, height: int, width: int
) -> np.ndarray:
    """One clip of class `label` -> uint8 (T, H, W, 3)."""
    background = _background(rng, height, width)  # (H, W, 3)
    luma = _luminance(background.reshape(-1, 3).mean(axis=0))
    color = _contrasting_color(rng, luma)
    dot_color = np.full(3, 255.0 if _luminance(color) < 128 else 0.0)
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    xs, ys, radii, angles = _motion(rng, label, num_frames, height, width)

    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    frames[:] = np.rint(background).astype(np.uint8)
    for i in range(num_frames):
        # Only the shape's bounding box (plus the antialiasing margin) changes.
        reach = radii[i] + 2.0
        x0, x1 = max(int(xs[i] - reach), 0), min(int(xs[i] + reach) + 1, width)
        y0, y1 = max(int(ys[i] - reach), 0), min(int(ys[i] + reach) + 1, height)
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5  # pixel centres, (h, w)
        cos, sin = math.cos(angles[i]), math.sin(angles[i])
        dx, dy = gx - xs[i], gy - ys[i]
        u, v = dx * cos + dy * sin, -dx * sin + dy * cos  # rotated into the shape's frame
        shape = np.clip(0.5 - _shape_sdf(kind, u, v, radii[i]), 0.0, 1.0)[..., None]
        dot = np.clip(0.5 - (np.hypot(u - 0.5 * radii[i], v) - 0.2 * radii[i]), 0.0, 1.0)
        dot = dot[..., None]
        patch = background[y0:y1, x0:x1] * (1 - shape) + color * shape  # (h, w, 3)
        patch = patch * (1 - dot) + dot_color * dot
        frames[i, y0:y1, x0:x1] = np.rint(patch).astype(np.uint8)
    return frames


def write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """Encode uint8 (T, H, W, 3) frames as yuv420p H.264. One x264 thread: the bitstream then
    does not depend on the machine's core count."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "threads": "1"}
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
    (out / "classes.txt").write_text("".join(f"{name}\n" for name in DEMO_CLASSES))
    (out / MARKER).write_text(json.dumps(params, sort_keys=True))


def ensure_demo_dataset(
    root: str | Path,
    seed: int = 0,
    *,
    num_train: int = 24,
    num_val: int = 6,
    num_test: int = 6,
    frame_range: tuple[int, int] = (34, 40),
    width: int = 160,
    height: int = 128,
    fps: int = 16,
    progress: bool = True,
) -> Path:
    """Generate the demo dataset into `root` unless it is already there; return `root`.

    Clips per class: `num_train` / `num_val` / `num_test`; each clip has a random length in
    `frame_range` (inclusive). The dataset is built in a temporary sibling folder and renamed
    into place once complete, so an interrupted run never leaves a half dataset. A later call
    with the same parameters reuses it; other parameters regenerate it.
    """
    root = Path(root)
    counts = {"train": num_train, "val": num_val, "test": num_test}
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


class DemoPretrainDataModule(PretrainDataModule):
    """`PretrainDataModule` on the demo dataset in `<cache_dir>/seed_<demo_seed>`, generated
    on first use. Defaults suit the demo: 16 frames 2 apart, 112 px, CPU-sized loaders.
    `options` are the other `PretrainDataModule` arguments (backend, num_sample,
    quarantine_file, eval_broken, ...); the lists and their format are the demo's own."""

    def __init__(
        self,
        *,
        cache_dir: str,
        demo_seed: int = 0,
        num_frames: int = 16,
        sampling_rate: int = 2,
        input_size: int = 112,
        patch_size: int = 16,
        tubelet_size: int = 2,
        mask_generator: MaskGenerator,
        batch_size: int = 8,
        num_workers: int = 2,
        pin_memory: bool = False,
        seed: int = 0,
        **options: Any,
    ) -> None:
        self.dataset_dir = Path(cache_dir) / f"seed_{demo_seed}"
        self.demo_seed = demo_seed
        super().__init__(
            train_list=str(self.dataset_dir / "train.csv"),
            val_list=str(self.dataset_dir / "val.csv"),
            root=str(self.dataset_dir),
            num_frames=num_frames,
            sampling_rate=sampling_rate,
            input_size=input_size,
            patch_size=patch_size,
            tubelet_size=tubelet_size,
            mask_generator=mask_generator,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            seed=seed,
            **options,
        )

    def prepare_data(self) -> None:
        """Generate the dataset once (Lightning calls this on one process per node)."""
        ensure_demo_dataset(self.dataset_dir, seed=self.demo_seed)

    def validate_inputs(self, stage: str = "fit") -> None:
        """Generate the dataset if needed, then check it like any other."""
        self.prepare_data()
        super().validate_inputs(stage)


class DemoFinetuneDataModule(FinetuneDataModule):
    """`FinetuneDataModule` on the demo dataset (generated on first use): its train, val and
    test lists and class names, 8 motion classes. `options` are the other
    `FinetuneDataModule` arguments (sampling, augmentation, test views, batch size, ...)."""

    def __init__(
        self,
        *,
        cache_dir: str,
        demo_seed: int = 0,
        num_classes: int = len(DEMO_CLASSES),
        **options: Any,
    ) -> None:
        if num_classes != len(DEMO_CLASSES):
            raise ConfigError(
                f"data.num_classes={num_classes}: the demo dataset has {len(DEMO_CLASSES)} classes."
            )
        self.dataset_dir = Path(cache_dir) / f"seed_{demo_seed}"
        self.demo_seed = demo_seed
        super().__init__(
            train_list=str(self.dataset_dir / "train.csv"),
            val_list=str(self.dataset_dir / "val.csv"),
            test_list=str(self.dataset_dir / "test.csv"),
            class_names=str(self.dataset_dir / "classes.txt"),
            root=str(self.dataset_dir),
            num_classes=len(DEMO_CLASSES),
            **options,
        )

    def prepare_data(self) -> None:
        ensure_demo_dataset(self.dataset_dir, seed=self.demo_seed)

    def validate_inputs(self, stage: str = "fit") -> None:
        self.prepare_data()
        super().validate_inputs(stage)
