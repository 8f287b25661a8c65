"""What a test run leaves behind: a per-video predictions CSV, a confusion-matrix picture and a
one-line summary. Rank-0 utilities on plain tensors; the confusion matrix is drawn with PIL
alone so that evaluation needs no plotting library.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from torchmetrics.functional.classification import multiclass_confusion_matrix

from videomae_ssl.console import count
from videomae_ssl.evaluation.multiview import VideoScores

WHITE = (255, 255, 255)
DARK_BLUE = (8, 48, 107)
MAX_GRID_PX = 2000  # side of the matrix itself; with margins the picture stays under ~2400 px
MAX_CELL_PX = 64
MIN_CELL_PX = 2
MAX_NAMED_CLASSES = 30  # up to this many classes: names on the axes and counts in the cells
MAX_NAME_CHARS = 18
PAD = 10

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _class_token(index: int, class_names: Sequence[str] | None) -> str:
    """A class as one space-free word for the top-k column: its name with spaces as
    underscores (Kinetics names have spaces), or its index."""
    if class_names is None:
        return str(index)
    return class_names[index].replace(" ", "_")


def write_predictions(
    path: str | Path,
    scores: VideoScores,
    video_paths: Sequence[str],
    class_names: Sequence[str] | None = None,
    topk: int = 5,
) -> Path:
    """One CSV row per video in id order: `video_id, path, label, label_name, pred, pred_name,
    correct, prob_pred, top{topk}`. `video_paths[i]` is the file of video id i; the top-k column
    is a space-separated list of `name:prob` (class indices when there are no names)."""
    probs = scores.probs.detach().cpu().to(torch.float64)  # (V, C)
    num_classes = probs.shape[1]
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
    ids = scores.video_ids.detach().cpu().tolist()
    if ids and (min(ids) < 0 or max(ids) >= len(video_paths)):
        raise ValueError(f"video ids must index video_paths (0..{len(video_paths) - 1})")
    top_p, top_i = probs.topk(min(topk, num_classes), dim=1)  # (V, k), (V, k)
    labels = scores.labels.detach().cpu().tolist()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "video_id",
                "path",
                "label",
                "label_name",
                "pred",
                "pred_name",
                "correct",
                "prob_pred",
                f"top{topk}",
            ]
        )
        for row, (video_id, label) in enumerate(zip(ids, labels, strict=True)):
            pred = int(top_i[row, 0])
            top = " ".join(
                f"{_class_token(int(i), class_names)}:{float(p):.4f}"
                for p, i in zip(top_p[row], top_i[row], strict=True)
            )
            writer.writerow(
                [
                    video_id,
                    video_paths[video_id],
                    label,
                    class_names[label] if class_names is not None else "",
                    pred,
                    class_names[pred] if class_names is not None else "",
                    int(pred == label),
                    f"{float(top_p[row, 0]):.4f}",
                    top,
                ]
            )
    return path


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 3] + "..."


def _tick_step(num_classes: int, max_ticks: int = 20) -> int:
    """The smallest round index step (1, 2, 5, 10, 20, 50, ...) giving at most `max_ticks`."""
    magnitude = 1
    while True:
        for mantissa in (1, 2, 5):
            if math.ceil(num_classes / (mantissa * magnitude)) <= max_ticks:
                return mantissa * magnitude
        magnitude *= 10


def _ticks(num_classes: int, class_names: Sequence[str] | None) -> list[tuple[int, str]]:
    """(class index, label) of each axis tick: every class, named, for small matrices; a
    round stride of indices otherwise."""
    if num_classes <= MAX_NAMED_CLASSES:
        names = class_names or [str(i) for i in range(num_classes)]
        return [(i, _short(n)) for i, n in enumerate(names)]
    step = _tick_step(num_classes)
    return [(i, str(i)) for i in range(0, num_classes, step)]


def _text_size(font: Font, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return int(right - left), int(bottom - top)


def _paste_upright(canvas: Image.Image, text: str, font: Font, center: tuple[int, int]) -> None:
    """Draw `text` rotated 90 degrees (read bottom to top) centred at `center`."""
    w, h = _text_size(font, text)
    left, top = font.getbbox(text)[:2]
    mask = Image.new("L", (w + 2, h + 2), 0)
    ImageDraw.Draw(mask).text((1 - left, 1 - top), text, font=font, fill=255)
    mask = mask.rotate(90, expand=True)
    box = (center[0] - mask.width // 2, center[1] - mask.height // 2)
    canvas.paste((0, 0, 0), (*box, box[0] + mask.width, box[1] + mask.height), mask)


def _cell_colors(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, C) counts -> row-normalised values (C, C) in [0, 1] and uint8 RGB (C, C, 3), white
    at 0 and dark blue at 1."""
    counts = matrix.to(torch.float64)
    norm = counts / counts.sum(dim=1, keepdim=True).clamp_min(1)  # (C, C)
    white = torch.tensor(WHITE, dtype=torch.float64)
    blue = torch.tensor(DARK_BLUE, dtype=torch.float64)
    rgb = white + norm.unsqueeze(-1) * (blue - white)  # (C, C, 3)
    return norm, rgb.round().to(torch.uint8)


def confusion_image(matrix: torch.Tensor, class_names: Sequence[str] | None = None) -> Image.Image:
    """Draw a (C, C) confusion matrix (rows true class, columns predicted) as an RGB picture.

    Cells are shaded by the row-normalised value; up to MAX_NAMED_CLASSES classes the counts are
    written in the cells and the class names on both axes. Cells shrink with C down to
    MIN_CELL_PX, so up to 1000 classes the picture stays within about 2400 px.
    """
    c = matrix.shape[0]
    if matrix.shape != (c, c):
        raise ValueError(f"a confusion matrix must be square, got {tuple(matrix.shape)}")
    if class_names is not None and len(class_names) != c:
        raise ValueError(f"{len(class_names)} class names for {c} classes")
    cell = max(MIN_CELL_PX, min(MAX_CELL_PX, MAX_GRID_PX // c))
    grid = c * cell
    title_font = ImageFont.load_default(size=16)
    caption_font = ImageFont.load_default(size=14)
    tick_font = ImageFont.load_default(size=12)

    total = int(matrix.sum())
    accuracy = f"{int(matrix.trace()) / total:.2%}" if total else "n/a"
    title = f"accuracy {accuracy} on {total} videos"
    ticks = _ticks(c, class_names)
    tick_w = max(_text_size(tick_font, label)[0] for _, label in ticks)
    title_w, title_h = _text_size(title_font, title)
    caption_h = _text_size(caption_font, "predicted")[1]

    left = PAD + caption_h + PAD + tick_w + PAD // 2
    top = PAD + title_h + PAD + caption_h + PAD + tick_w + PAD // 2
    width = max(left + grid + PAD, title_w + 2 * PAD)
    canvas = Image.new("RGB", (width, top + grid + PAD), WHITE)
    draw = ImageDraw.Draw(canvas)

    norm, rgb = _cell_colors(matrix)
    cells = Image.fromarray(rgb.numpy(), "RGB").resize((grid, grid), Image.Resampling.NEAREST)
    canvas.paste(cells, (left, top))
    if cell >= 8:
        for i in range(1, c):
            draw.line([(left + i * cell, top), (left + i * cell, top + grid)], fill=(220,) * 3)
            draw.line([(left, top + i * cell), (left + grid, top + i * cell)], fill=(220,) * 3)
    draw.rectangle([left - 1, top - 1, left + grid, top + grid], outline=(120,) * 3)

    if c <= MAX_NAMED_CLASSES and cell >= 16:
        count_font = ImageFont.load_default(size=max(8, min(14, cell // 3)))
        for i in range(c):
            for j in range(c):
                n = int(matrix[i, j])
                color = WHITE if norm[i, j] > 0.5 else ((0, 0, 0) if n else (170,) * 3)
                center = (left + j * cell + cell // 2, top + i * cell + cell // 2)
                draw.text(center, str(n), font=count_font, fill=color, anchor="mm")

    for index, label in ticks:
        mid = index * cell + cell // 2
        draw.text((left - PAD // 2, top + mid), label, font=tick_font, fill=(0, 0, 0), anchor="rm")
        w = _text_size(tick_font, label)[0]
        _paste_upright(canvas, label, tick_font, (left + mid, top - PAD // 2 - w // 2))

    draw.text((PAD, PAD), title, font=title_font, fill=(0, 0, 0), anchor="lt")
    caption_y = PAD + title_h + PAD + caption_h // 2
    draw.text(
        (left + grid // 2, caption_y), "predicted", font=caption_font, fill=(0, 0, 0), anchor="mm"
    )
    _paste_upright(canvas, "true", caption_font, (PAD + caption_h // 2, top + grid // 2))
    return canvas


def confusion_matrix_png(
    path: str | Path,
    labels: torch.Tensor | Sequence[int],
    preds: torch.Tensor | Sequence[int],
    class_names: Sequence[str] | None = None,
    num_classes: int | None = None,
) -> Path:
    """Save the confusion matrix of per-video predictions as a PNG (see `confusion_image`).
    The number of classes is `num_classes`, else the number of names, else the largest index
    seen plus one."""
    target = torch.as_tensor(labels, dtype=torch.long).flatten()  # (V,)
    predicted = torch.as_tensor(preds, dtype=torch.long).flatten()  # (V,)
    if target.shape != predicted.shape:
        raise ValueError(f"{target.numel()} labels but {predicted.numel()} predictions")
    if num_classes is None:
        if class_names is not None:
            num_classes = len(class_names)
        else:
            seen = torch.cat([target, predicted])
            num_classes = max(2, int(seen.max()) + 1 if seen.numel() else 2)
    matrix = multiclass_confusion_matrix(predicted, target, num_classes=num_classes)  # (C, C)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    confusion_image(matrix, class_names).save(path)
    return path


def format_result(
    result: Mapping[str, torch.Tensor | float | int],
    name: str = "test",
    num_clips: int | None = None,
    num_crops: int | None = None,
) -> str:
    """One line for the log, e.g. `test: 120 videos, 1800 views (5 clips x 3 crops each),
    top-1 81.50%, top-5 95.00%`, from `MultiViewAccuracy.compute()`'s dict."""
    views = count(int(result["num_views"]), "view")
    if num_clips is not None and num_crops is not None:
        views += f" ({count(num_clips, 'clip')} x {count(num_crops, 'crop')} each)"
    parts = [count(int(result["num_videos"]), "video"), views]
    tops = sorted(
        (int(m.group(1)), float(value))
        for key, value in result.items()
        if (m := re.fullmatch(r"top(\d+)", key))
    )
    parts += [f"top-{k} {100 * value:.2f}%" for k, value in tops]
    return f"{name}: " + ", ".join(parts)
