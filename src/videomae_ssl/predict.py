"""Classify one video with a fine-tuned VideoMAE, by the paper's test protocol.

    python -m videomae_ssl.predict CKPT VIDEO [--topk 5] [--views multi|single] [--ema] ...

The checkpoint may be in any format `videomae_ssl.checkpoints` reads (ours, original or V2
`.pth`, Hugging Face directory) but must hold a classifier. The video is cut into
`clips x crops` views (5 x 3 by default: clips spread over the video, three crops along its long
side); each view's softmax is computed in fp32 and the scores are averaged over the views, as
the paper evaluates. Settings: flags, else what the checkpoint records of its test protocol,
else the Kinetics defaults (16 frames 4 apart, 224 px); frames and size must be the model's.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from videomae_ssl.checkpoints import (
    CheckpointError,
    LoadedCheckpoint,
    build_model,
    load_checkpoint,
    resolve_checkpoint,
)
from videomae_ssl.cli import resolve_device, run_command
from videomae_ssl.console import count
from videomae_ssl.data.annotations import read_class_names
from videomae_ssl.data.augment import finetune_eval_transform
from videomae_ssl.data.frame_indices import SAMPLINGS, evaluation_clip_indices
from videomae_ssl.data.readers import open_video, resolve_backend
from videomae_ssl.data.transforms import normalize_video
from videomae_ssl.errors import ConfigError, DataError


@dataclass(frozen=True)
class EvalSettings:
    """How test views are cut from a video; the defaults are the Kinetics protocol."""

    num_frames: int = 16
    sampling_rate: int = 4
    sampling: str = "dense"
    input_size: int = 224
    test_clips: int = 5
    test_crops: int = 3

    @property
    def num_views(self) -> int:
        return self.test_clips * self.test_crops

    def describe(self) -> str:
        """E.g. "15 views (5 clips x 3 crops), 16 frames 4 apart at 224 px"."""
        views = f"{count(self.num_views, 'view')} ({count(self.test_clips, 'clip')} x "
        views += f"{count(self.test_crops, 'crop')})"
        if self.sampling == "segment":
            frames = f"{self.num_frames} frames (one per segment)"
        else:
            frames = f"{self.num_frames} frames {self.sampling_rate} apart"
        return f"{views}, {frames} at {self.input_size} px"


# The command-line flag of each setting, for error messages.
FLAGS = {
    "num_frames": "--frames",
    "sampling_rate": "--sampling-rate",
    "sampling": "--sampling",
    "input_size": "--input-size",
    "test_clips": "--clips",
    "test_crops": "--crops",
}


def resolve_settings(
    loaded: LoadedCheckpoint, overrides: dict[str, Any], single_view: bool = False
) -> EvalSettings:
    """Flags (`overrides`, keyed like EvalSettings, None = not given) over the checkpoint's
    recorded test protocol over the defaults. Frames and input size default to the model's and
    must equal them: the position table is built for that token grid. `single_view` is one
    clip and the centre crop."""
    values = asdict(EvalSettings())
    values.update({k: v for k, v in (loaded.eval_settings or {}).items() if k in values})
    model = {"num_frames": loaded.config["num_frames"], "input_size": loaded.config["img_size"]}
    values.update(model)
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key, wanted in model.items():
        if values[key] != wanted:
            flag = FLAGS[key]
            raise ConfigError(
                f"{flag} {values[key]}: the model in {loaded.path} takes {wanted} "
                f"{'frames' if key == 'num_frames' else 'px'}; leave out {flag} or pass "
                f"{flag} {wanted}."
            )
    if single_view:
        given = [FLAGS[k] for k in ("test_clips", "test_crops") if overrides.get(k) is not None]
        if given:
            raise ConfigError(
                f"--views single is 1 clip x 1 crop; leave out {' and '.join(given)} or use "
                "--views multi."
            )
        values.update(test_clips=1, test_crops=1)
    for key, value in values.items():
        positive = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        if key != "sampling" and not positive:
            raise ConfigError(f"{FLAGS[key]} {value}: must be a positive whole number.")
    if values["sampling"] not in SAMPLINGS:
        choices = ", ".join(SAMPLINGS)
        raise ConfigError(f"--sampling {values['sampling']!r}: choose one of {choices}.")
    return EvalSettings(**values)


def read_views(
    video_path: str | Path, settings: EvalSettings, backend: str = "auto"
) -> torch.Tensor:
    """The test views of a video, clip-major (view v is clip v // crops, crop v % crops):
    uint8 (V, 3, T, S, S), normalised on the model's device by `view_probabilities`. Every
    frame any clip needs is decoded once."""
    s = settings
    with open_video(str(video_path), backend) as video:
        clips = evaluation_clip_indices(
            video.num_frames, s.num_frames, s.sampling_rate, s.sampling, s.test_clips
        )
        wanted = sorted({i for clip in clips for i in clip})
        frames = video.read(wanted)  # (U, H, W, 3)
    row = {index: j for j, index in enumerate(wanted)}
    views: list[torch.Tensor] = []
    for clip in clips:
        x = frames[[row[i] for i in clip]].permute(0, 3, 1, 2)  # (T, 3, H, W)
        views += finetune_eval_transform(x, s.input_size, s.test_crops)  # crops x (3, T, S, S)
    return torch.stack(views)  # (V, 3, T, S, S)


@torch.inference_mode()
def view_probabilities(model: nn.Module, views: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """Softmax of each view in fp32: uint8 (or normalised float) (V, 3, T, S, S) ->
    (V, num_classes). Puts `model` in eval mode and runs on its device, `batch_size` views at a
    time, normalising them there."""
    model.eval()
    device = next(model.parameters()).device
    scores = [
        model(normalize_video(chunk.to(device))).float().softmax(dim=-1).cpu()  # (b, classes)
        for chunk in views.split(batch_size)
    ]
    return torch.cat(scores)  # (V, num_classes)


def predict_video(
    model: nn.Module,
    video_path: str | Path,
    settings: EvalSettings,
    backend: str = "auto",
    batch_size: int = 16,
) -> torch.Tensor:
    """Class probabilities of one video, (num_classes,): per-view softmax averaged over the
    views, the paper's protocol."""
    views = read_views(video_path, settings, backend)
    return view_probabilities(model, views, batch_size).mean(dim=0)


def require_classifier(loaded: LoadedCheckpoint) -> None:
    """Predictions need a classification head: pretraining and encoder-only weights have none."""
    if loaded.kind == "classifier":
        return
    pretrain = loaded.kind == "pretrain"
    what = "pretraining weights (encoder + decoder)" if pretrain else "encoder-only weights"
    raise CheckpointError(
        f"{loaded.path}: {what}, with no classification head; fine-tune it first "
        f"(pretrained={loaded.path} initialises a classifier's encoder) and predict with the "
        "fine-tuned checkpoint."
    )


def class_names(loaded: LoadedCheckpoint, labels: Path | None = None) -> list[str]:
    """Name of each class: from the `labels` file (line i names class i) when given, else the
    checkpoint's own names, else the class ids."""
    num_classes = loaded.config["num_classes"]
    if labels is not None:
        names = dict(enumerate(read_class_names(labels, "--labels")))
        if len(names) != num_classes:
            raise ConfigError(
                f"--labels {labels}: {len(names)} class names for a model with {num_classes} "
                "classes; write one name per line, line i naming class i."
            )
    else:
        names = loaded.id2label or {}
    return [names.get(i, str(i)) for i in range(num_classes)]


def format_topk(probs: torch.Tensor, names: list[str], topk: int) -> list[str]:
    """Lines "  1. name   87.31%" for the `topk` most probable classes."""
    values, ids = probs.topk(min(topk, probs.numel()))
    width = max(len(names[i]) for i in ids.tolist())
    rank = len(str(len(ids)))
    return [
        f"  {r:>{rank}}. {names[i]:<{width}}  {100 * p:6.2f}%"
        for r, (p, i) in enumerate(zip(values.tolist(), ids.tolist(), strict=True), start=1)
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m videomae_ssl.predict",
        description="Classify a video with a fine-tuned VideoMAE (scores averaged over views).",
    )
    p.add_argument(
        "ckpt", help="classifier checkpoint: file, Hugging Face directory or Hub id (owner/name)"
    )
    p.add_argument("video", type=Path, help="video file")
    p.add_argument("--topk", type=int, default=5, help="classes to print (default 5)")
    p.add_argument(
        "--views",
        choices=("multi", "single"),
        default="multi",
        help="multi: clips x crops (default); single: the centre clip and crop",
    )
    p.add_argument("--clips", type=int, help="temporal clips (default: checkpoint's, else 5)")
    p.add_argument(
        "--crops", type=int, help="spatial crops per clip (default: checkpoint's, else 3)"
    )
    p.add_argument("--frames", type=int, help="frames per clip (default: the model's)")
    p.add_argument(
        "--sampling-rate",
        type=int,
        help="frame step of dense clips (default: checkpoint's, else 4)",
    )
    p.add_argument(
        "--sampling",
        choices=SAMPLINGS,
        help="dense (K400, UCF101, HMDB51) or segment (SSv2); default: checkpoint's, else dense",
    )
    p.add_argument("--input-size", type=int, help="crop side in px (default: the model's)")
    p.add_argument(
        "--labels",
        type=Path,
        help="class names, one per line in class-id order (default: the checkpoint's, else ids)",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--backend",
        choices=("auto", "decord", "torchcodec", "pyav"),
        default="auto",
        help="video decoder (default: the fastest that works here: TorchCodec, decord, PyAV)",
    )
    p.add_argument("--ema", action="store_true", help="use the EMA weights kept in fine-tuning")
    return p.parse_args(argv)


def predict(args: argparse.Namespace) -> list[str]:
    """Check the inputs, load, predict; returns the lines to print."""
    if not args.video.is_file():
        raise DataError(f"{args.video}: no such video file.")
    if args.topk < 1:
        raise ConfigError(f"--topk {args.topk}: must be at least 1.")
    backend = resolve_backend(args.backend, key="--backend")
    device = resolve_device(args.device)
    loaded = load_checkpoint(resolve_checkpoint(args.ckpt, "CKPT"), ema=args.ema)
    require_classifier(loaded)
    overrides = {
        "num_frames": args.frames,
        "sampling_rate": args.sampling_rate,
        "sampling": args.sampling,
        "input_size": args.input_size,
        "test_clips": args.clips,
        "test_crops": args.crops,
    }
    settings = resolve_settings(loaded, overrides, single_view=args.views == "single")
    names = class_names(loaded, args.labels)
    model = build_model(loaded).to(device)
    probs = predict_video(model, args.video, settings, backend)
    weights = ", EMA weights" if args.ema else ""
    header = f"{args.video}: {settings.describe()}, model {args.ckpt}{weights} ({device.type})"
    return [header, *format_topk(probs, names, args.topk)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: predict(args))


if __name__ == "__main__":
    sys.exit(main())
