"""Labelled pictures of clips: a grid of frames (one row per clip version) and a per-frame
animation, drawn with Pillow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

PAD = 2  # pixels of white between frames
MIN_FRAME_PX = 96  # smaller frames are drawn enlarged by a whole factor, each pixel a square
GIF_FRAME_MS = 250
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


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
    motion: torch.Tensor | None = None,
) -> Image.Image:
    """One labelled RGB picture: per clip three rows (original, masked, reconstruction), and a
    fourth, "motion", when `motion` (B, C, T, H, W) in [0, 1] is given (`motion_overlay`), named
    at their left, each showing `num_frames` frames spread over the clip (None: all), numbered
    on top (by `frame_numbers`, e.g. the frames' indices in the video, else their place in the
    clip). Inputs (B, C, T, H, W) in [0, 1], as `reconstruct` returns; `mask` Bool[B, N] gives
    the hidden share written in each masked row's name. Frames under `MIN_FRAME_PX` high are
    enlarged by the smallest whole factor that reaches it (nearest neighbour: patches stay
    sharp-edged).
    """
    clips = (original, masked, recon) if motion is None else (original, masked, recon, motion)
    scale = math.ceil(MIN_FRAME_PX / original.shape[-2])
    if scale > 1:
        clips = tuple(
            x.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1) for x in clips
        )
    b, _, t, h, w = clips[0].shape
    idx = torch.linspace(0, t - 1, min(num_frames or t, t)).round().long().tolist()
    numbers = [int(frame_numbers[i]) if frame_numbers is not None else i for i in idx]
    labels = row_labels(mask) * (b if mask is None else 1)
    if motion is not None:
        labels = [[*names, "motion"] for names in labels]
    font, size = _font(h)
    margin = size // 2
    label_w = max(_text_size(font, s)[0] for s in ["frame", *sum(labels, [])]) + 2 * margin
    header_h = size + margin
    clip_gap = margin + PAD
    width = label_w + len(idx) * (w + PAD) + PAD
    height = header_h + b * len(clips) * (h + PAD) + (b - 1) * clip_gap + PAD
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    _draw_centred(draw, font, "frame", (margin, 0, label_w, header_h), left=True)
    for j, number in enumerate(numbers):
        x = label_w + j * (w + PAD) + PAD
        _draw_centred(draw, font, str(number), (x, 0, x + w, header_h))
    y = header_h
    for i in range(b):
        for row, clip in enumerate(clips):
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
