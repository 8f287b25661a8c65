"""Which layout a checkpoint's weights are in: one named predicate per layout, one dispatcher.

Each predicate looks at what a file holds, never at its name, and answers for its own layout
only; `detect_layout` asks them in a fixed order and names the file and its keys when none
matches. The layouts:
- `lightning`: our Lightning checkpoints, a `state_dict` holding `net.*` (and `ema.module.*`).
- `hf`: transformers names (`videomae.encoder.layer.*`, `decoder.decoder_layers.*`, ...).
- `videomae_v2`: VideoMAE V2's files, the original key family with V2's marks (ViT-g sizes,
  `_orig_mod.` / `backbone.` wrappers, V2's own command-line arguments).
- `original`: MCG-NJU VideoMAE (`encoder.*` + `decoder.*`, or `patch_embed` + `blocks`), and
  our own exports in that layout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from videomae_ssl.checkpoints.reading import CheckpointError
from videomae_ssl.checkpoints.state_dicts import detect_kind, strip_prefixes
from videomae_ssl.models.sizes import get_size

HF_PREFIXES = ("videomae.", "embeddings.patch_embeddings.", "decoder.decoder_layers.")
V2_WRAPPERS = ("_orig_mod.", "backbone.")  # torch.compile and V2's mmaction-style backbones
V2_ARGS = {"decoder_mask_type", "decoder_mask_ratio", "num_sample", "with_checkpoint"}
_GIANT = get_size("giant")  # V2's own size: width 1408, patch 14


def is_lightning(obj: Mapping[str, Any]) -> bool:
    """A Lightning checkpoint: the weights sit under `state_dict`, beside the loop's state."""
    return isinstance(obj.get("state_dict"), dict)


def is_hf_layout(state: Mapping[str, Any]) -> bool:
    """transformers names: a task model's `videomae.*` or a bare `VideoMAEModel`'s
    `embeddings.*` / `encoder.layer.<i>.*`, or the pretraining decoder's `decoder_layers`."""
    return any(k.startswith(HF_PREFIXES) or re.match(r"encoder\.layer\.\d+\.", k) for k in state)


def _is_original_family(state: Mapping[str, Any]) -> bool:
    """The original key names, once wrappers such as `module.` are removed. Raises KeyError
    when two keys become one without their prefixes."""
    return detect_kind(strip_prefixes(dict(state))[0]) is not None


def _patch_weight_shape(state: Mapping[str, Any]) -> tuple[int, ...]:
    """(D, C, tubelet, patch, patch) of the tubelet embedding, () when there is none."""
    stripped = strip_prefixes(dict(state))[0]
    for key in ("patch_embed.proj.weight", "encoder.patch_embed.proj.weight"):
        if key in stripped:
            return tuple(stripped[key].shape)
    return ()


def is_v2(state: Mapping[str, Any], args: Mapping[str, Any] | None = None) -> bool:
    """VideoMAE V2: the original key family with one of V2's marks (its wrappers, ViT-g's
    width or patch, its command-line arguments)."""
    if is_hf_layout(state) or not _is_original_family(state):
        return False
    if set(V2_WRAPPERS) & set(strip_prefixes(dict(state))[1]):
        return True
    shape = _patch_weight_shape(state)
    if shape and (shape[0] == _GIANT.embed_dim or shape[-1] == _GIANT.patch_size):
        return True
    return bool(V2_ARGS & set(args or {}))


def is_original_v1(state: Mapping[str, Any], args: Mapping[str, Any] | None = None) -> bool:
    """MCG-NJU VideoMAE: the original key family without V2's marks."""
    return not is_hf_layout(state) and _is_original_family(state) and not is_v2(state, args)


def detect_layout(
    path: Path,
    obj: Mapping[str, Any],
    state: Mapping[str, Any],
    args: Mapping[str, Any] | None = None,
    recorded: bool = False,
) -> str:
    """ "lightning", "hf", "videomae_v2" or "original" for the weights `state` read from `obj`
    (the file's top-level dict); `recorded` when the file carries our own metadata block, whose
    original-layout exports are never V2. Raises `CheckpointError` when no layout matches."""
    if is_lightning(obj):
        return "lightning"
    if is_hf_layout(state):
        return "hf"
    if not recorded and is_v2(state, args):
        return "videomae_v2"
    if recorded and _is_original_family(state) or is_original_v1(state, args):
        return "original"
    keys = sorted(map(str, state))
    raise CheckpointError(
        f"{path}: not VideoMAE weights: its keys match no known layout (original VideoMAE, "
        f"VideoMAE V2, Hugging Face, videomae_ssl Lightning); keys seen: "
        f"{', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''} ({len(keys)} in all)."
    )
