"""Pure functions over state dicts in the original VideoMAE layout (which is also ours).

They strip wrapper prefixes, tell pretraining, classification and bare-encoder weights apart,
and read the model size off tensor shapes. Nothing here touches files or builds a model.
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch

from videomae_ssl.models.sizes import paper_names, standard_decoder_heads, standard_heads

# Wrappers the original scripts and their descendants add: DDP / DeepSpeed (`module.`),
# torch.compile (`_orig_mod.`), VideoMAE V2 / mmaction backbones (`backbone.`), Lightning (`net.`).
PREFIXES = ("module.", "_orig_mod.", "backbone.", "net.")

# Head counts by width (not readable from shapes) and the papers' names, from the model sizes.
STANDARD_HEADS = standard_heads()
STANDARD_DECODER_HEADS = standard_decoder_heads()
SIZE_NAMES = paper_names()

_BLOCK = (
    r"blocks\.\d+\.(norm1|norm2|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)"
    r"|blocks\.\d+\.attn\.(qkv\.weight|q_bias|v_bias)"
)
_ENCODER = rf"patch_embed\.proj\.(weight|bias)|{_BLOCK}|norm\.(weight|bias)|pos_embed"
_PATTERNS = {
    "pretrain": re.compile(
        rf"encoder\.({_ENCODER})|encoder_to_decoder\.weight|mask_token|decoder\.({_BLOCK})"
        r"|decoder\.(norm|head)\.(weight|bias)"
    ),
    "classifier": re.compile(rf"{_ENCODER}|(fc_norm|head)\.(weight|bias)"),
    "encoder": re.compile(rf"{_ENCODER}|fc_norm\.(weight|bias)"),
}


def strip_prefixes(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Remove wrapper prefixes (`module.`, `_orig_mod.`, ...) wherever keys start with them.

    Returns the new state dict and the prefixes that were found, in the order first seen.
    """
    out: dict[str, torch.Tensor] = {}
    found: list[str] = []
    for key, value in state.items():
        new = key
        while prefix := next((p for p in PREFIXES if new.startswith(p)), None):
            new = new.removeprefix(prefix)
            if prefix not in found:
                found.append(prefix)
        if new in out:
            raise KeyError(f"{key!r} and another key both become {new!r} without their prefixes")
        out[new] = value
    return out, found


def detect_kind(state: dict[str, torch.Tensor]) -> str | None:
    """ "pretrain" (encoder + decoder), "classifier" (encoder + head), "encoder" or None."""
    if any(k.startswith(("decoder.blocks.", "encoder_to_decoder.")) for k in state):
        return "pretrain"
    if "encoder.patch_embed.proj.weight" in state:
        return "encoder"  # a pretraining encoder whose decoder was dropped
    if "patch_embed.proj.weight" in state:
        return "classifier" if "head.weight" in state else "encoder"
    return None


def to_kind_layout(state: dict[str, torch.Tensor], kind: str) -> dict[str, torch.Tensor]:
    """Encoder-only weights saved under `encoder.` move to the top level, like a classifier's."""
    if kind == "encoder" and "encoder.patch_embed.proj.weight" in state:
        return {k.removeprefix("encoder."): v for k, v in state.items()}
    return state


def split_unexpected(
    state: dict[str, torch.Tensor], kind: str
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Keep the keys a VideoMAE model of `kind` has; return the rest's names, sorted."""
    pattern = _PATTERNS[kind]
    kept = {k: v for k, v in state.items() if pattern.fullmatch(k)}
    return kept, sorted(k for k in state if k not in kept)


def mlp_ratio_for(dim: int, hidden: int) -> float:
    """The float ratio r with int(dim * r) == hidden (plain hidden / dim can round below it)."""
    ratio = hidden / dim
    while int(dim * ratio) < hidden:
        ratio = math.nextafter(ratio, math.inf)
    return ratio


def count_blocks(state: dict[str, torch.Tensor], prefix: str) -> int:
    ids = {int(m[1]) for k in state if (m := re.match(rf"{re.escape(prefix)}blocks\.(\d+)\.", k))}
    if ids != set(range(len(ids))):
        raise KeyError(f"{prefix}blocks are numbered {sorted(ids)}: some are missing")
    return len(ids)


def infer_encoder(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, Any]:
    """Encoder sizes read off the shapes: width, depth, patch, tubelet, channels, mlp ratio."""
    weight = state[f"{prefix}patch_embed.proj.weight"]  # (D, C, tubelet, patch, patch)
    if weight.ndim != 5 or weight.shape[3] != weight.shape[4]:
        raise KeyError(
            f"{prefix}patch_embed.proj.weight has shape {tuple(weight.shape)}, "
            "not (D, C, tubelet, patch, patch)"
        )
    dim, in_chans, tubelet, patch = weight.shape[:4]
    depth = count_blocks(state, prefix)
    if depth == 0:
        raise KeyError(f"no {prefix}blocks.0.* weights")
    hidden = state[f"{prefix}blocks.0.mlp.fc1.weight"].shape[0]
    return {
        "patch_size": patch,
        "tubelet_size": tubelet,
        "in_chans": in_chans,
        "embed_dim": dim,
        "depth": depth,
        "mlp_ratio": mlp_ratio_for(dim, hidden),
        "qkv_bias": f"{prefix}blocks.0.attn.q_bias" in state,
    }


def infer_decoder(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Decoder width and depth of a pretraining state dict."""
    return {
        "decoder_embed_dim": state["encoder_to_decoder.weight"].shape[0],
        "decoder_depth": count_blocks(state, "decoder."),
    }


def stored_pos_table(state: dict[str, torch.Tensor], kind: str) -> torch.Tensor | None:
    """A position table saved in the checkpoint (learned, or a stored copy), as (N, D)."""
    key = "encoder.pos_embed" if kind == "pretrain" else "pos_embed"
    table = state.get(key)
    if table is None:
        return None
    return table.reshape(-1, table.shape[-1])  # (1, N, D) in the original layout -> (N, D)
