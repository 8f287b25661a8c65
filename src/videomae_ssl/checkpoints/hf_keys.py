"""Key mapping between our state dicts and Hugging Face `transformers` VideoMAE ones.

Our names follow the original VideoMAE checkpoints: one fused `qkv.weight` plus `q_bias` and
`v_bias`. transformers splits q, k and v into separate Linear layers; version 4 stores the
biases as `q_bias` / `v_bias`, version 5 as `query.bias` / `value.bias`.
"""

from __future__ import annotations

import re

import torch

# Per-block names: ours -> transformers (shared by encoder and decoder blocks).
_BLOCK = {
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "attn.proj": "attention.output.dense",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
}
_HF_ATTN = "attention.attention"


def _block_to_hf(
    rest: str, value: torch.Tensor, prefix: str, out: dict[str, torch.Tensor], legacy: bool
) -> None:
    if rest == "attn.qkv.weight":
        q, k, v = value.chunk(3, dim=0)  # rows are q | k | v
        out[f"{prefix}.{_HF_ATTN}.query.weight"] = q
        out[f"{prefix}.{_HF_ATTN}.key.weight"] = k
        out[f"{prefix}.{_HF_ATTN}.value.weight"] = v
        return
    if rest in ("attn.q_bias", "attn.v_bias"):
        if legacy:
            out[f"{prefix}.{_HF_ATTN}.{rest.removeprefix('attn.')}"] = value
        else:
            name = "query" if rest == "attn.q_bias" else "value"
            out[f"{prefix}.{_HF_ATTN}.{name}.bias"] = value
        return
    module, param = rest.rsplit(".", 1)
    if module not in _BLOCK:
        raise KeyError(f"no transformers name for block parameter {rest!r}")
    out[f"{prefix}.{_BLOCK[module]}.{param}"] = value


def to_hf(
    state: dict[str, torch.Tensor], legacy_bias_names: bool = False
) -> dict[str, torch.Tensor]:
    """Our pretraining or classifier state dict -> transformers (version 5 names).

    `legacy_bias_names` writes the version 4 names (`q_bias` / `v_bias`) instead, which both
    versions load: version 5 renames them on load, version 4 knows no other.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.removeprefix("encoder.") if not key.startswith("encoder_to_decoder") else key
        if m := re.fullmatch(r"blocks\.(\d+)\.(.+)", key):
            _block_to_hf(m[2], value, f"videomae.encoder.layer.{m[1]}", out, legacy_bias_names)
        elif m := re.fullmatch(r"decoder\.blocks\.(\d+)\.(.+)", key):
            _block_to_hf(m[2], value, f"decoder.decoder_layers.{m[1]}", out, legacy_bias_names)
        elif key.startswith("patch_embed.proj."):
            out["videomae.embeddings.patch_embeddings.projection." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("norm."):
            out["videomae.layernorm." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("head."):
            out["classifier." + key.rsplit(".", 1)[1]] = value
        else:  # fc_norm, encoder_to_decoder, mask_token, decoder.norm, decoder.head
            out[key] = value
    return out


def from_hf(state: dict[str, torch.Tensor], pretraining: bool) -> dict[str, torch.Tensor]:
    """A transformers VideoMAE state dict (version 4 or 5 names) -> ours.

    `pretraining` selects the layout: encoder under `encoder.` (with the decoder) or at the top
    level (classifier).
    """
    enc = "encoder." if pretraining else ""
    inverse = {v: k for k, v in _BLOCK.items()}
    out: dict[str, torch.Tensor] = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if m := re.fullmatch(
            r"(videomae\.encoder\.layer|decoder\.decoder_layers)\.(\d+)\.(.+)", key
        ):
            ours = (
                f"{enc}blocks.{m[2]}" if m[1].startswith("videomae") else f"decoder.blocks.{m[2]}"
            )
            rest = m[3]
            if a := re.fullmatch(rf"{_HF_ATTN}\.(query|key|value)\.weight", rest):
                qkv.setdefault(ours, {})[a[1]] = value
            elif rest in (f"{_HF_ATTN}.q_bias", f"{_HF_ATTN}.query.bias"):
                out[f"{ours}.attn.q_bias"] = value
            elif rest in (f"{_HF_ATTN}.v_bias", f"{_HF_ATTN}.value.bias"):
                out[f"{ours}.attn.v_bias"] = value
            else:
                module, param = rest.rsplit(".", 1)
                if module not in inverse:
                    raise KeyError(f"unknown transformers VideoMAE parameter {key!r}")
                out[f"{ours}.{inverse[module]}.{param}"] = value
        elif key.startswith("videomae.embeddings.patch_embeddings.projection."):
            out[f"{enc}patch_embed.proj.{key.rsplit('.', 1)[1]}"] = value
        elif key.startswith("videomae.layernorm."):
            out[f"{enc}norm.{key.rsplit('.', 1)[1]}"] = value
        elif key.startswith("classifier."):
            out[f"head.{key.rsplit('.', 1)[1]}"] = value
        else:
            out[key] = value
    for ours, parts in qkv.items():
        missing = {"query", "key", "value"} - parts.keys()
        if missing:
            raise KeyError(
                f"{ours}: transformers checkpoint lacks attention {sorted(missing)} weights"
            )
        out[f"{ours}.attn.qkv.weight"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    return out
