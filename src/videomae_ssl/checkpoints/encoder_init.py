"""Fine-tuning initialisation: a pretrained encoder from a checkpoint of any supported format.

As the original fine-tuning script does: strip wrapper prefixes, drop the decoder, the mask
token and a head of the wrong shape, load the rest non-strictly, and say what happened. Unlike
it, this stops when no encoder weight matched, and it rebuilds the position table when the
model's token grid differs from the checkpoint's instead of reading positions off a new 1-D
index (which gives old positions new meanings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from videomae_ssl.checkpoints.load import (
    FORMAT_NAMES,
    LoadedCheckpoint,
    compress_keys,
    input_size_note,
    load_checkpoint,
)
from videomae_ssl.checkpoints.reading import CheckpointError
from videomae_ssl.models import VideoMAEConfig, VideoMAEEncoder
from videomae_ssl.models.pos_embed import resize_pos_table, sinusoid_table
from videomae_ssl.models.sizes import SIZES, get_size

_DECODER = ("decoder.", "encoder_to_decoder.", "mask_token")


@dataclass
class LoadReport:
    """What `load_pretrained_encoder` did, for the log."""

    path: Path
    format: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"Pretrained weights: {self.path}, {FORMAT_NAMES[self.format]}",
            f"  loaded: {len(self.loaded)} tensors",
            f"  missing (left at their initialisation): {compress_keys(self.missing)}",
            f"  unexpected (ignored): {compress_keys(self.unexpected)}",
        ]
        lines += [f"  dropped: {d}" for d in self.dropped]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _described(config: dict[str, Any]) -> str:
    return (
        f"width {config['embed_dim']}, depth {config['depth']}, patch "
        f"{config['patch_size']}, tubelet {config['tubelet_size']}"
    )


def _keys_to_set(theirs: dict[str, Any], model: VideoMAEEncoder) -> str:
    """The model config keys that would build the checkpoint's architecture: the named size of
    its width and depth, and its patch and tubelet sizes where they differ."""
    ours = model.config
    keys = []
    if (theirs["embed_dim"], theirs["depth"]) != (ours.embed_dim, ours.depth):
        named = [
            name
            for name in SIZES
            if (get_size(name).embed_dim, get_size(name).depth)
            == (theirs["embed_dim"], theirs["depth"])
        ]
        keys.append(
            f"model.net.size={named[0]}"
            if named
            else f"model.net.embed_dim={theirs['embed_dim']} model.net.depth={theirs['depth']}"
        )
    for name in ("patch_size", "tubelet_size"):
        if theirs.get(name) and theirs[name] != getattr(ours, name):
            keys.append(f"model.net.{name}={theirs[name]}")
    return f"; set {' '.join(keys)} to build the checkpoint's" if keys else ""


def load_pretrained_encoder(
    model: VideoMAEEncoder,
    path: str | Path,
    *,
    num_frames: int | None = None,
    img_size: int | None = None,
    log: Callable[[str], None] | None = print,
) -> LoadReport:
    """Initialise `model` (a classifier, or any VideoMAE encoder) from the checkpoint at `path`.

    `num_frames` / `img_size` describe the checkpoint's training input when the file does not
    record it (original checkpoints without their `args`). Without them such a file is taken
    to be of the model's own input size when it stores no position table, else of 16 frames at
    224 px; the summary says which. Raises
    `CheckpointError` when no encoder weight fits. `log` receives the summary (None: silent).
    """
    ckpt = load_checkpoint(path, num_frames=num_frames, img_size=img_size)
    # Head counts do not matter here: the model is already built.
    notes = [n for n in ckpt.notes if not n.startswith(("num_heads", "decoder_num_heads"))]
    report = LoadReport(ckpt.path, ckpt.format, notes=notes)
    report.unexpected += ckpt.unexpected
    state = dict(ckpt.state)
    if ckpt.kind == "pretrain":
        decoder = [k for k in state if k.startswith(_DECODER)]
        if decoder:
            report.dropped.append(
                f"the decoder ({len(decoder)} tensors: decoder.*, encoder_to_decoder, mask_token)"
            )
        state = {k.removeprefix("encoder."): v for k, v in state.items() if k not in decoder}
    own = model.state_dict()
    if "norm.weight" in state and "norm.weight" not in own:
        report.dropped.append(
            "norm: the pretrained encoder's final LayerNorm (fine-tuning "
            "mean-pools into fc_norm instead)"
        )
        state = {k: v for k, v in state.items() if not k.startswith("norm.")}
    head = state.get("head.weight")
    if head is not None and "head.weight" in own and head.shape != own["head.weight"].shape:
        report.dropped.append(
            f"head: {head.shape[0]} classes in the checkpoint, "
            f"{own['head.weight'].shape[0]} in the model"
        )
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
    stored = state.pop("pos_embed", None)  # (N_src, D) or None
    misfit = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    if misfit:
        raise CheckpointError(
            f"{ckpt.path}: the checkpoint is a different model ({_described(ckpt.config)}) "
            f"from this one ({_described(model.config.as_dict())}){_keys_to_set(ckpt.config, model)}"
            f" ({'; '.join(misfit[:3])}{' ...' if len(misfit) > 3 else ''}: checkpoint first, "
            f"model second)."
        )
    if not any(k.startswith(("blocks.", "patch_embed.")) and k in own for k in state):
        raise CheckpointError(
            f"{ckpt.path}: no encoder weight matched the model (checkpoint keys: "
            f"{compress_keys(sorted(state))}); refusing to train from random weights."
        )
    grid = ckpt.grid if stored is not None else _grid_without_table(ckpt, model, report)
    positions = _set_positions(model, stored, grid, ckpt.learned_pos, report)
    result = model.load_state_dict(state, strict=False)
    report.loaded = sorted(k for k in state if k in own) + positions
    report.missing = sorted(k for k in result.missing_keys if k != "pos_embed")
    report.unexpected += sorted(result.unexpected_keys)
    if log is not None:
        log(report.summary())
    return report


def _grid_without_table(
    ckpt: LoadedCheckpoint, model: VideoMAEEncoder, report: LoadReport
) -> tuple[int, int, int]:
    """The checkpoint's token grid (T', H', W') when it stores no position table.

    Its positions are the fixed sinusoid, so its weights fit any grid and only the input size
    it was trained at says which. Where the file does not record that size, the model's own is
    the likelier guess than 16 frames at 224 px: taking the default would resize the positions
    of a checkpoint trained at the model's size and change every output.
    """
    if not ckpt.assumed_input:
        return ckpt.grid
    c = ckpt.config
    own = {"num_frames": model.num_frames, "img_size": model.img_size}
    taken = {k: own[k] for k in ckpt.assumed_input}
    frames = taken.get("num_frames", c["num_frames"])
    side = taken.get("img_size", c["img_size"])
    try:
        grid = VideoMAEConfig(
            num_frames=frames,
            img_size=side,
            patch_size=c["patch_size"],
            tubelet_size=c["tubelet_size"],
        ).grid
    except ValueError:
        return ckpt.grid  # not the model's geometry: the shape check has said so already
    default = input_size_note(ckpt.assumed_input)
    report.notes = [n for n in report.notes if n != default]
    report.notes.append(
        input_size_note(taken, " (the model's own: the file holds no position table either)")
    )
    return grid


def _set_positions(
    model: VideoMAEEncoder,
    stored: torch.Tensor | None,
    src: tuple[int, int, int],
    learned: bool,
    report: LoadReport,
) -> list[str]:
    """Give `model` the checkpoint's positions on its own token grid; -> ["pos_embed"] if read.

    stored: (N_src, D) table saved in the checkpoint, or None for the fixed sinusoid.
    """
    dst = model.grid
    if stored is None and src == dst:
        return []
    if stored is None:
        table = sinusoid_table(src[0] * src[1] * src[2], model.embed_dim)  # (N_src, D)
        what = "fixed sinusoid"
    else:
        table, what = stored, ("learned" if learned else "stored")
    if table.shape[1] != model.embed_dim:
        raise CheckpointError(
            f"{report.path}: position table width {table.shape[1]}, model width {model.embed_dim}."
        )
    if src != dst:
        table = resize_pos_table(table, src, dst)
        report.notes.append(
            f"token grid {'x'.join(map(str, src))} in the checkpoint, "
            f"{'x'.join(map(str, dst))} in the model: the {what} position table was resized "
            "(space bicubic per frame, time linear) so that positions keep their meaning"
        )
    model.set_pos_embed(table, learnable=stored is not None and learned)
    if stored is None:
        return []
    if learned:
        report.notes.append("learned position embedding: loaded, and trained further")
    return ["pos_embed"]
