"""Pictures of what the model reconstructs: original, masked input and reconstruction.

    python -m videomae_ssl.visualize CKPT VIDEO --out FILE.png [--gif] [--mask-ratio 0.9] ...

The pictures themselves come from `videomae_ssl.viz` (`reconstruct`, `masked_psnr`,
`frame_grid`, `clip_animation`), which the training callback also uses. The command reads a pretraining
checkpoint in any supported format, decodes the centre clip of a video, hides tokens with a
seeded tube, random or motion-guided mask (`--masking motion`: from the video's motion
vectors, with a row showing the motion map), and writes a labelled PNG grid (and with `--gif` an animation
beside it), then prints the masked-patch PSNR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from videomae_ssl.checkpoints import (
    CheckpointError,
    build_model,
    load_checkpoint,
    resolve_checkpoint,
)
from videomae_ssl.cli import resolve_device, run_command
from videomae_ssl.data.frame_indices import center_indices
from videomae_ssl.data.motion import motion_field, token_motion
from videomae_ssl.data.readers import open_video, resolve_backend
from videomae_ssl.data.transforms import center_box, center_crop_resize, normalize
from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.masking import (
    MotionMaskGenerator,
    RandomMaskGenerator,
    TubeMaskGenerator,
    check_ratio,
)
from videomae_ssl.viz.frames import clip_animation, frame_grid, row_labels, save_gif
from videomae_ssl.viz.reconstruction import (
    NORM_PIX_NOTE,
    masked_psnr,
    motion_overlay,
    psnr_line,
    reconstruct,
)

__all__ = [
    "NORM_PIX_NOTE",
    "clip_animation",
    "frame_grid",
    "main",
    "masked_psnr",
    "psnr_line",
    "reconstruct",
    "row_labels",
    "save_gif",
    "visualize",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m videomae_ssl.visualize",
        description="Draw what a pretrained VideoMAE reconstructs of a video's centre clip.",
    )
    p.add_argument(
        "ckpt", help="pretraining checkpoint: file, Hugging Face folder or Hub id (owner/name)"
    )
    p.add_argument("video", type=Path, help="video file")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    p.add_argument("--gif", action="store_true", help="also write an animation (same stem, .gif)")
    p.add_argument("--mask-ratio", type=float, default=0.9, help="share of tokens hidden (0.9)")
    p.add_argument(
        "--masking",
        choices=("tube", "random", "motion"),
        default="tube",
        help="tube (default), random, or motion: guided by the video's motion vectors (read "
        "with PyAV), with a row showing the motion map",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the mask (default 0)")
    p.add_argument("--frames", type=int, help="frames per clip (default: the model's)")
    p.add_argument("--sampling-rate", type=int, default=4, help="frame step (default 4)")
    p.add_argument("--input-size", type=int, help="crop side in px (default: the model's)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--backend",
        choices=("auto", "decord", "torchcodec", "pyav"),
        default="auto",
        help="video decoder (default: the fastest that works here: TorchCodec, decord, PyAV)",
    )
    return p.parse_args(argv)


def _check_args(args: argparse.Namespace, config: dict) -> tuple[int, int]:
    """(frames, input size): the model's, which flags may repeat but not change."""
    model = {"--frames": config["num_frames"], "--input-size": config["img_size"]}
    for flag, given in (("--frames", args.frames), ("--input-size", args.input_size)):
        if given is not None and given != model[flag]:
            raise ConfigError(
                f"{flag} {given}: the model in {args.ckpt} takes {model[flag]}; leave out {flag} "
                f"or pass {flag} {model[flag]}."
            )
    if args.sampling_rate < 1:
        raise ConfigError(f"--sampling-rate {args.sampling_rate}: must be at least 1.")
    return model["--frames"], model["--input-size"]


def visualize(args: argparse.Namespace) -> list[str]:
    """Load, mask, reconstruct, draw; returns the lines to print."""
    if not args.video.is_file():
        raise DataError(f"{args.video}: no such video file.")
    if args.out.suffix.lower() != ".png":
        raise ConfigError(
            f"--out {args.out}: the picture is written as PNG; give a path ending in .png "
            "(with --gif the animation goes beside it)."
        )
    backend = resolve_backend(args.backend, key="--backend")
    device = resolve_device(args.device)
    loaded = load_checkpoint(resolve_checkpoint(args.ckpt, "CKPT"))
    if loaded.kind != "pretrain":
        what = "classifier" if loaded.kind == "classifier" else "encoder-only"
        raise CheckpointError(
            f"{args.ckpt}: {what} weights, with no decoder to reconstruct pixels; use a "
            "pretraining checkpoint (ours, an original pretraining .pth or a Hugging Face "
            "VideoMAEForPreTraining folder)."
        )
    num_frames, size = _check_args(args, loaded.config)
    model = build_model(loaded).to(device).eval()
    grid = model.grid
    tube = args.masking != "random"
    check_ratio(args.mask_ratio, grid, tube=tube, key="--mask-ratio")
    maskings = {
        "tube": TubeMaskGenerator,
        "random": RandomMaskGenerator,
        "motion": MotionMaskGenerator,
    }
    generator = maskings[args.masking](args.mask_ratio)
    motion_vectors = args.masking == "motion"
    with open_video(str(args.video), backend, motion_vectors=motion_vectors) as video:
        indices = center_indices(video.num_frames, num_frames, args.sampling_rate)
        frames, vectors = video.read_with_vectors(indices)  # (T, H, W, 3), T entries
    motion = None
    if motion_vectors:
        field = motion_field(vectors, frames.shape[1], frames.shape[2])  # (T, rows, cols)
        box = center_box(frames.shape[2], frames.shape[1], size)
        motion = token_motion(field, box, grid)  # (T', H', W'), the centre crop's tokens
    seeded = torch.Generator().manual_seed(args.seed)
    mask = generator(grid, seeded, motion)[None].to(device)  # (1, N)
    frames = frames.permute(0, 3, 1, 2)  # (T, 3, H, W)
    clip = normalize(center_crop_resize(frames, size))[None].to(device)  # (1, 3, T, S, S)
    with torch.no_grad():
        pred = model(clip, mask)  # (1, N_mask, P)
    norm_pix = True if loaded.norm_pix_loss is None else loaded.norm_pix_loss
    p, q = model.patch_size, model.tubelet_size
    images = [x.cpu() for x in reconstruct(clip, mask, pred, p, q, norm_pix)]
    psnr = masked_psnr(clip, mask, pred, p, q, norm_pix)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    overlay = None if motion is None else motion_overlay(images[0], motion[None], mask.cpu())
    frame_grid(
        *images, num_frames=None, mask=mask.cpu(), frame_numbers=indices, motion=overlay
    ).save(args.out)
    target = "normalised pixels" if norm_pix else "raw pixels"
    lines = [
        f"{args.video}: centre clip, frames {indices[0]}-{indices[-1]} ({num_frames} frames "
        f"{args.sampling_rate} apart) at {size} px, {args.masking} mask "
        f"{100 * float(mask.float().mean()):.0f}% (seed {args.seed}), model {args.ckpt} "
        f"({device.type}, target {target})",
        f"wrote {args.out}",
    ]
    if args.gif:
        gif = args.out.with_suffix(".gif")
        labels = row_labels(mask.cpu())[0]
        save_gif(clip_animation(*(x[0] for x in images), labels, indices), gif)
        lines.append(f"wrote {gif}")
    lines.append(psnr_line(*psnr))
    return [*lines, f"note: {NORM_PIX_NOTE}"] if norm_pix else lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: visualize(args))


if __name__ == "__main__":
    sys.exit(main())
