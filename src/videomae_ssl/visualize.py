"""Pictures of what the model reconstructs: original, masked input and reconstruction.

    python -m videomae_ssl.visualize CKPT VIDEO --out FILE.png [--gif] [--mask-ratio 0.9] ...

The library part (`reconstruct`, `masked_psnr`, `frame_grid`, `clip_animation`) also serves
the training callback that draws validation clips every epoch. The command reads a pretraining
checkpoint in any supported format, decodes the centre clip of a video, hides tokens with a
seeded tube (or random) mask, and writes a labelled PNG grid (and with `--gif` an animation
beside it), then prints the masked-patch PSNR.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from videomae_ssl.checkpoints import CheckpointError, build_model, load_checkpoint
from videomae_ssl.cli import run_command
from videomae_ssl.data.readers import open_video, resolve_backend
from videomae_ssl.data.sampling import center_indices
from videomae_ssl.data.transforms import center_crop_resize, normalize
from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.loss.targets import tubelets, unnormalize
from videomae_ssl.masking import RandomMaskGenerator, TubeMaskGenerator, check_ratio
from videomae_ssl.predict import resolve_device

PAD = 2  # pixels of white between frames
MIN_FRAME_PX = 96  # smaller frames are drawn enlarged by a whole factor, each pixel a square
GIF_FRAME_MS = 250
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _untubelet(tokens: torch.Tensor, shape: tuple[int, ...], p: int, q: int) -> torch.Tensor:
    """Inverse of `tubelets`: (B, N, q*p*p, C) -> (B, C, T, H, W)."""
    b, c, t, h, w = shape
    x = tokens.reshape(b, t // q, h // p, w // p, q, p, p, c)
    return x.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(b, c, t, h, w)


@torch.no_grad()
def reconstruct(
    video: torch.Tensor,
    mask: torch.Tensor,
    pred: torch.Tensor,
    patch_size: int,
    tubelet_size: int,
    norm_pix: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images in [0, 1] for display, each (B, C, T, H, W): the original clip, the encoder's input
    (hidden tokens greyed out) and the reconstruction (visible tokens pasted from the input).

    With norm_pix the model predicts standardised pixels; they are mapped back with each hidden
    token's own mean and std, as the VideoMAE authors do for their figures.
    """
    original = unnormalize(video.float())  # (B, C, T, H, W)
    tokens = tubelets(original, patch_size, tubelet_size)  # (B, N, P, C)
    b, n, p, c = tokens.shape
    predicted = pred.float().reshape(b, -1, p, c)  # (B, N_mask, P, C)
    if norm_pix:
        hidden = tokens[mask].reshape(b, -1, p, c)
        mu = hidden.mean(dim=-2, keepdim=True)
        sigma = hidden.var(dim=-2, unbiased=True, keepdim=True).sqrt()
        predicted = predicted * (sigma + 1e-6) + mu
    recon = tokens.clone()
    recon[mask] = predicted.reshape(-1, p, c)
    masked = tokens.clone()
    masked[mask] = 0.5
    shape = tuple(video.shape)
    return (
        original.clamp(0, 1),
        _untubelet(masked, shape, patch_size, tubelet_size).clamp(0, 1),
        _untubelet(recon, shape, patch_size, tubelet_size).clamp(0, 1),
    )


def _psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB for pixels in [0, 1]: 10 log10(1 / mse)."""
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


@torch.no_grad()
def masked_psnr(
    video: torch.Tensor,
    mask: torch.Tensor,
    pred: torch.Tensor,
    patch_size: int,
    tubelet_size: int,
    norm_pix: bool = True,
) -> tuple[float, float]:
    """(PSNR of the reconstruction, PSNR of each clip's mean colour) over the hidden tokens, dB.

    Pixels are compared in [0, 1] after undoing the input normalisation, the reconstruction
    clipped to that range as it is displayed; the MSE is averaged over every hidden pixel and
    channel of the batch. The baseline predicts each hidden pixel by its clip's mean colour (per
    channel, over the whole clip): a reconstruction must beat it to have learnt more than colour.
    video: normalised (B, C, T, H, W); mask: Bool[B, N], True = hidden; pred: (B, N_mask, P*C).
    """
    original, _, recon = reconstruct(video, mask, pred, patch_size, tubelet_size, norm_pix)
    target = tubelets(original, patch_size, tubelet_size)  # (B, N, P, C)
    hidden = target[mask]  # (M, P, C)
    predicted = tubelets(recon, patch_size, tubelet_size)[mask]  # (M, P, C)
    mean_colour = original.mean(dim=(2, 3, 4))[:, None, None, :]  # (B, 1, 1, C)
    baseline = mean_colour.expand_as(target)[mask]  # (M, P, C)
    return (
        _psnr(float(F.mse_loss(predicted, hidden))),
        _psnr(float(F.mse_loss(baseline, hidden))),
    )


def psnr_line(masked: float, mean_colour: float) -> str:
    """The sentence the command and the run summary print."""
    return (
        f"masked-patch PSNR: {masked:.1f} dB (predicting each clip's mean colour: "
        f"{mean_colour:.1f} dB)"
    )


# With the normalised-pixel target, pixels are recovered with each hidden patch's own mean and
# std (ground truth the model never saw), so even an untrained model beats the colour baseline.
NORM_PIX_NOTE = (
    "normalised-pixel target: the reconstruction takes each hidden patch's true mean and std, "
    "so compare this PSNR across checkpoints rather than with the baseline"
)


def _font(frame_height: int) -> tuple[Font, int]:
    """Pillow's bundled font sized to the frames (10 to 20 px), and that size."""
    size = max(10, min(20, frame_height // 5))
    return ImageFont.load_default(size=size), size


def _text_size(font: Font, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return int(math.ceil(right - left)), int(math.ceil(bottom - top))


def _draw_centred(
    draw: ImageDraw.ImageDraw,
    font: Font,
    text: str,
    box: tuple[int, int, int, int],
    left: bool = False,
) -> None:
    """Write `text` in black inside box (x0, y0, x1, y1): centred, or left-aligned if `left`."""
    x0, y0, x1, y1 = box
    bl, bt, br, bb = font.getbbox(text)
    x = x0 if left else x0 + (x1 - x0 - (br - bl)) / 2 - bl
    y = y0 + (y1 - y0 - (bb - bt)) / 2 - bt
    draw.text((x, y), text, fill=(0, 0, 0), font=font)


def _to_pil(frame: torch.Tensor) -> Image.Image:
    """(C, H, W) in [0, 1] -> an RGB image."""
    pixels = (frame.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)  # (H, W, C)
    return Image.fromarray(pixels.cpu().numpy()).convert("RGB")


def row_labels(mask: torch.Tensor | None) -> list[list[str]]:
    """Per clip, the names of its three rows; the masked row says how much was hidden."""
    if mask is None:
        return [["original", "masked", "reconstruction"]]
    return [
        ["original", f"masked ({100 * float(m.float().mean()):.0f}%)", "reconstruction"]
        for m in mask
    ]


def frame_grid(
    original: torch.Tensor,
    masked: torch.Tensor,
    recon: torch.Tensor,
    num_frames: int | None = 4,
    mask: torch.Tensor | None = None,
    frame_numbers: Sequence[int] | None = None,
) -> Image.Image:
    """One labelled RGB picture: per clip three rows (original, masked, reconstruction), named
    at their left, each showing `num_frames` frames spread over the clip (None: all), numbered
    on top (by `frame_numbers`, e.g. the frames' indices in the video, else their place in the
    clip). Inputs (B, C, T, H, W) in [0, 1], as `reconstruct` returns; `mask` Bool[B, N] gives
    the hidden share written in each masked row's name. Frames under `MIN_FRAME_PX` high are
    enlarged by the smallest whole factor that reaches it (nearest neighbour: patches stay
    sharp-edged).
    """
    scale = math.ceil(MIN_FRAME_PX / original.shape[-2])
    if scale > 1:
        original, masked, recon = (
            x.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
            for x in (original, masked, recon)
        )
    b, _, t, h, w = original.shape
    idx = torch.linspace(0, t - 1, min(num_frames or t, t)).round().long().tolist()
    numbers = [int(frame_numbers[i]) if frame_numbers is not None else i for i in idx]
    labels = row_labels(mask) * (b if mask is None else 1)
    font, size = _font(h)
    margin = size // 2
    label_w = max(_text_size(font, s)[0] for s in ["frame", *sum(labels, [])]) + 2 * margin
    header_h = size + margin
    clip_gap = margin + PAD
    width = label_w + len(idx) * (w + PAD) + PAD
    height = header_h + b * 3 * (h + PAD) + (b - 1) * clip_gap + PAD
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    _draw_centred(draw, font, "frame", (margin, 0, label_w, header_h), left=True)
    for j, number in enumerate(numbers):
        x = label_w + j * (w + PAD) + PAD
        _draw_centred(draw, font, str(number), (x, 0, x + w, header_h))
    y = header_h
    for i in range(b):
        for row, clip in enumerate((original, masked, recon)):
            _draw_centred(draw, font, labels[i][row], (margin, y, label_w, y + h), left=True)
            for j, frame in enumerate(idx):
                image.paste(_to_pil(clip[i, :, frame]), (label_w + j * (w + PAD) + PAD, y))
            y += h + PAD
        y += clip_gap
    return image


def clip_animation(
    original: torch.Tensor,
    masked: torch.Tensor,
    recon: torch.Tensor,
    labels: Sequence[str] = ("original", "masked", "reconstruction"),
    frame_numbers: Sequence[int] | None = None,
) -> list[Image.Image]:
    """One picture per frame of one clip: the three panels side by side, named on top, the frame
    number below. Inputs (C, T, H, W) in [0, 1]."""
    _, t, h, w = original.shape
    font, size = _font(h)
    margin = size // 2
    column = max(w, *(_text_size(font, s)[0] + 2 * margin for s in labels))
    text_h = size + margin
    width, height = 3 * column + 4 * PAD, 2 * text_h + h
    pictures = []
    for k in range(t):
        image = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        for panel, (clip, label) in enumerate(zip((original, masked, recon), labels, strict=True)):
            x = PAD + panel * (column + PAD)
            _draw_centred(draw, font, label, (x, 0, x + column, text_h))
            image.paste(_to_pil(clip[:, k]), (x + (column - w) // 2, text_h))
        number = frame_numbers[k] if frame_numbers is not None else k
        _draw_centred(draw, font, f"frame {number}", (0, text_h + h, width, height))
        pictures.append(image)
    return pictures


def save_gif(pictures: list[Image.Image], path: Path, frame_ms: int = GIF_FRAME_MS) -> None:
    """An endlessly looping GIF, `frame_ms` per picture."""
    pictures[0].save(
        path, save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0, disposal=1
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m videomae_ssl.visualize",
        description="Draw what a pretrained VideoMAE reconstructs of a video's centre clip.",
    )
    p.add_argument("ckpt", type=Path, help="pretraining checkpoint: file or Hugging Face folder")
    p.add_argument("video", type=Path, help="video file")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    p.add_argument("--gif", action="store_true", help="also write an animation (same stem, .gif)")
    p.add_argument("--mask-ratio", type=float, default=0.9, help="share of tokens hidden (0.9)")
    p.add_argument("--masking", choices=("tube", "random"), default="tube")
    p.add_argument("--seed", type=int, default=0, help="seed of the mask (default 0)")
    p.add_argument("--frames", type=int, help="frames per clip (default: the model's)")
    p.add_argument("--sampling-rate", type=int, default=4, help="frame step (default 4)")
    p.add_argument("--input-size", type=int, help="crop side in px (default: the model's)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--backend",
        choices=("auto", "decord", "torchcodec", "pyav"),
        default="auto",
        help="video decoder (default: decord where installed, else PyAV)",
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
    loaded = load_checkpoint(args.ckpt)
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
    tube = args.masking == "tube"
    check_ratio(args.mask_ratio, grid, tube=tube, key="--mask-ratio")
    generator = (TubeMaskGenerator if tube else RandomMaskGenerator)(args.mask_ratio)
    mask = generator(grid, torch.Generator().manual_seed(args.seed))[None].to(device)  # (1, N)
    with open_video(str(args.video), backend) as video:
        indices = center_indices(video.num_frames, num_frames, args.sampling_rate)
        frames = video.read(indices).permute(0, 3, 1, 2)  # (T, 3, H, W)
    clip = normalize(center_crop_resize(frames, size))[None].to(device)  # (1, 3, T, S, S)
    with torch.no_grad():
        pred = model(clip, mask)  # (1, N_mask, P)
    norm_pix = True if loaded.norm_pix_loss is None else loaded.norm_pix_loss
    p, q = model.patch_size, model.tubelet_size
    images = [x.cpu() for x in reconstruct(clip, mask, pred, p, q, norm_pix)]
    psnr = masked_psnr(clip, mask, pred, p, q, norm_pix)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame_grid(*images, num_frames=None, mask=mask.cpu(), frame_numbers=indices).save(args.out)
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
