"""Load VideoMAE weights of any supported origin into our layout, and build our model from them.

Formats, told apart by what the file holds (never by its name):
- `original`: MCG-NJU VideoMAE `.pth` (`model` / `module` / bare state dict), pretraining
  (`encoder.*`, `decoder.*`, `encoder_to_decoder`, `mask_token`) or fine-tuned (`patch_embed`,
  `blocks`, `fc_norm`, `head`) keys; also what `export_original` writes.
- `videomae_v2`: the same key family from VideoMAE V2 (ViT-g, `_orig_mod.` / `backbone.`).
- `hf`: a transformers directory (`config.json` + weights) or a bare transformers state dict.
- `lightning`: our Lightning checkpoints (`state_dict` with `net.` keys, `videomae_ssl` block;
  fine-tuning runs with EMA also hold `ema.module.*`, the averaged copy of `net`).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from videomae_ssl.checkpoints.hf_config import HF_FIELDS, config_from_hf
from videomae_ssl.checkpoints.hf_keys import from_hf
from videomae_ssl.checkpoints.hub import parse_hub_id, resolve_checkpoint
from videomae_ssl.checkpoints.layouts import detect_layout, is_lightning
from videomae_ssl.checkpoints.reading import CheckpointError, read_hf_dir, read_weights
from videomae_ssl.checkpoints.state_dicts import (
    SIZE_NAMES,
    STANDARD_DECODER_HEADS,
    STANDARD_HEADS,
    detect_kind,
    infer_decoder,
    infer_encoder,
    split_unexpected,
    stored_pos_table,
    strip_prefixes,
    to_kind_layout,
)
from videomae_ssl.models import VideoMAEClassifier, VideoMAEConfig, VideoMAEPretrainModel
from videomae_ssl.models.config import GRID_FIELDS
from videomae_ssl.models.pos_embed import sinusoid_table

FORMAT_NAMES = {
    "original": "original VideoMAE (MCG-NJU)",
    "videomae_v2": "VideoMAE V2",
    "hf": "Hugging Face transformers",
    "lightning": "videomae_ssl Lightning checkpoint",
}
KIND_NAMES = {
    "pretrain": "pretraining (encoder + decoder)",
    "classifier": "classification",
    "encoder": "encoder only",
}
DEFAULT_FRAMES = 16
DEFAULT_IMG_SIZE = 224
EMA_PREFIX = "ema.module."  # timm's ModelEmaV3 registered as `ema` in our fine-tuning module


@dataclass
class LoadedCheckpoint:
    """Weights in our layout plus what is known about the model they belong to.

    `state` uses our names for `kind`: pretraining (`encoder.*`, `decoder.*`, ...), classifier
    (`patch_embed`, `blocks`, `fc_norm`, `head`) or encoder only (`patch_embed`, `blocks`,
    `norm`). `config` holds what is known of our model's arguments, flat: the `VideoMAEConfig`
    fields (`num_heads` None when unknown) and the model's options (`num_classes`, ...);
    `build_model` splits them.
    `eval_settings` is the test protocol our fine-tuning checkpoints record (frames, sampling
    rate and rule, input size, test clips and crops), None for other files. `assumed_input`
    holds the defaults taken for what the file does not record (`num_frames`, `img_size`).
    """

    path: Path
    format: str
    kind: str
    state: dict[str, torch.Tensor]
    config: dict[str, Any]
    id2label: dict[int, str] | None = None
    norm_pix_loss: bool | None = None
    eval_settings: dict[str, Any] | None = None
    mean_pooling: bool = True
    learned_pos: bool = False
    notes: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    assumed_input: dict[str, int] = field(default_factory=dict)

    @property
    def grid(self) -> tuple[int, int, int]:
        """(T', H', W') token grid the weights were trained on."""
        return VideoMAEConfig(**{k: self.config[k] for k in GRID_FIELDS}).grid

    def summary(self) -> str:
        """What was found, for people: format, size, input, classes, notes, ignored keys."""
        c = self.config
        name = SIZE_NAMES.get((c["embed_dim"], c["depth"]), "custom ViT")
        heads = c.get("num_heads") or "unknown"
        lines = [
            f"{self.path}: {FORMAT_NAMES[self.format]}, {KIND_NAMES[self.kind]} weights",
            f"  model: {name}, width {c['embed_dim']}, depth {c['depth']}, {heads} heads, "
            f"patch {c['patch_size']}, tubelet {c['tubelet_size']}, "
            f"mlp {int(c['embed_dim'] * c['mlp_ratio'])}",
        ]
        if self.kind == "pretrain":
            lines.append(
                f"  decoder: width {c['decoder_embed_dim']}, depth {c['decoder_depth']}, "
                f"{c.get('decoder_num_heads') or 'unknown'} heads"
            )
        t, h, w = self.grid
        lines.append(f"  input: {c['num_frames']} frames at {c['img_size']} px, {t}x{h}x{w} tokens")
        if self.kind == "classifier":
            known = "with class names" if self.id2label else "no class names"
            lines.append(f"  classes: {c['num_classes']} ({known})")
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  unexpected keys (ignored): {compress_keys(self.unexpected)}")
        return "\n".join(lines)


def compress_keys(keys: list[str]) -> str:
    """`blocks.0.x`, `blocks.1.x`, ... -> `blocks.*.x (x2)`: one readable line for many keys."""
    counts: dict[str, int] = {}
    for key in keys:
        pattern = re.sub(r"\.\d+\.", ".*.", key)
        counts[pattern] = counts.get(pattern, 0) + 1
    return ", ".join(p if n == 1 else f"{p} (x{n})" for p, n in counts.items()) or "none"


def _read(path: Path, ema: bool) -> tuple[str, dict[str, torch.Tensor], dict[str, Any]]:
    """-> (format, raw state dict, side information: hf config, args, our metadata, hparams)."""
    if path.is_dir():
        if ema:
            raise _no_ema(path)
        state, hf_config = read_hf_dir(path)
        if hf_config is not None and hf_config.get("model_type", "videomae") != "videomae":
            raise CheckpointError(
                f"{path / 'config.json'}: model_type {hf_config.get('model_type')!r}, not videomae."
            )
        return "hf", state, {"hf_config": hf_config}
    obj = read_weights(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a dict of weights.")
    side = {"ours": obj.get("videomae_ssl"), "hparams": obj.get("hyper_parameters")}
    if isinstance(obj.get("args"), argparse.Namespace):  # the original scripts' arguments
        side["args"] = vars(obj["args"])
    if is_lightning(obj):
        state = _lightning_weights(path, obj["state_dict"], ema)
    elif ema:  # the original fine-tuning script saves its EMA copy under `model_ema`
        if not isinstance(obj.get("model_ema"), dict):
            raise _no_ema(path)
        state = obj["model_ema"]
    else:
        state = next((obj[k] for k in ("model", "module") if isinstance(obj.get(k), dict)), obj)
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"{path}: no state dict found (looked under 'model', 'module', 'state_dict' and at "
            f"the top level); top-level keys: {sorted(map(str, obj))[:10]}."
        )
    recorded = bool(side["ours"]) and isinstance(side["ours"], dict)
    return detect_layout(path, obj, state, side.get("args"), recorded), state, side


def _lightning_weights(
    path: Path, state: dict[str, torch.Tensor], ema: bool
) -> dict[str, torch.Tensor]:
    """The model weights of a Lightning state dict: `net.*`, or with `ema` the EMA copy
    (`ema.module.*`, renamed like `net.*`). The copy not chosen is left out, not reported as
    unexpected: both are complete weights of the same model."""
    if not ema:
        return {k: v for k, v in state.items() if not k.startswith("ema.")}
    averaged = {
        f"net.{k.removeprefix(EMA_PREFIX)}": v for k, v in state.items() if k.startswith(EMA_PREFIX)
    }
    if not averaged:
        raise _no_ema(path)
    return averaged


def _no_ema(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path}: holds no EMA weights (no 'ema.module.*' or 'model_ema' entries: it was trained "
        "without model EMA); load its regular weights instead (leave out --ema / ema=True)."
    )


def _to_our_layout(
    state: dict[str, torch.Tensor], fmt: str, path: Path
) -> tuple[dict[str, torch.Tensor], str, list[str]]:
    """Raw keys -> our names; returns (state, kind, wrapper prefixes removed)."""
    state, prefixes = strip_prefixes(state)
    if fmt == "hf":
        if any(k.startswith(("embeddings.", "encoder.layer.")) for k in state):
            # A bare VideoMAEModel: its keys lack the `videomae.` of the task models.
            heads = ("decoder.", "encoder_to_decoder", "mask_token", "classifier.", "fc_norm.")
            state = {(k if k.startswith(heads) else f"videomae.{k}"): v for k, v in state.items()}
        decoder = ("decoder.decoder_layers.", "encoder_to_decoder")
        state = from_hf(state, pretraining=any(k.startswith(decoder) for k in state))
    kind = detect_kind(state)
    if kind is None:
        raise CheckpointError(
            f"{path}: not VideoMAE weights: no patch_embed.proj.weight (first keys: "
            f"{sorted(state)[:5]})."
        )
    return to_kind_layout(state, kind), kind, prefixes


def load_checkpoint(
    path: str | Path,
    *,
    num_frames: int | None = None,
    img_size: int | None = None,
    num_heads: int | None = None,
    decoder_num_heads: int | None = None,
    ema: bool = False,
    key: str = "checkpoint",
) -> LoadedCheckpoint:
    """Read any supported checkpoint into our layout and work out the model it belongs to.
    `path` may also be a Hugging Face Hub id (`owner/name[@revision]`, read through
    huggingface_hub's cache; `key` names it in errors).

    Sizes come from the tensor shapes and any config stored with the weights. The keyword
    arguments fill in what neither records (head counts of unusual widths; the frame count and
    image size of original checkpoints saved without their `args`) and take precedence.
    `ema=True` takes the exponential moving average of the weights that fine-tuning kept beside
    them (our `ema.module.*`, the original's `model_ema`); a file without one is an error.
    """
    path = Path(path)
    if not path.exists():
        if parse_hub_id(str(path)) is None:
            raise CheckpointError(f"{path}: no such file or directory.")
        path = resolve_checkpoint(str(path), key)
    try:
        fmt, raw, side = _read(path, ema)
        loaded = _interpret(
            path, fmt, raw, side, num_frames, img_size, num_heads, decoder_num_heads
        )
    except KeyError as err:  # malformed keys or shapes, found by the layout helpers
        raise CheckpointError(f"{path}: {err.args[0]}") from None
    except ValueError as err:  # an input size that is no whole number of tokens
        raise CheckpointError(f"{path}: {err}") from None
    if ema:
        loaded.notes.append("weights: the exponential moving average kept during fine-tuning")
    return loaded


def _interpret(
    path: Path,
    fmt: str,
    raw: dict[str, torch.Tensor],
    side: dict[str, Any],
    num_frames: int | None,
    img_size: int | None,
    num_heads: int | None,
    decoder_num_heads: int | None,
) -> LoadedCheckpoint:
    """Raw weights of a known layout -> our names, the model's config, notes and checks."""
    state, kind, prefixes = _to_our_layout(raw, fmt, path)
    notes = [f"removed key prefix {p!r}" for p in prefixes if (fmt, p) != ("lightning", "net.")]
    ours = side.get("ours") if isinstance(side.get("ours"), dict) else None
    kind, config = _model_config(state, kind, ours)
    loaded = LoadedCheckpoint(path, fmt, kind, {}, config, notes=notes)
    if side.get("hf_config"):
        _apply_hf_config(loaded, side["hf_config"])
    if ours:
        _apply_our_metadata(loaded, ours)
    hparams = side.get("hparams")
    if isinstance(hparams, dict) and "norm_pix_loss" in hparams:
        loaded.norm_pix_loss = bool(hparams["norm_pix_loss"])
    _fill_input_size(loaded, state, side.get("args") or {}, num_frames, img_size)
    _fill_heads(loaded, num_heads, decoder_num_heads)
    _note_final_norm(loaded, state)
    _split_weights(loaded, state)
    _check_pos_table(loaded, ours is not None)
    return loaded


def _model_config(
    state: dict[str, torch.Tensor], kind: str, ours: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """(kind, constructor arguments): as our metadata block records them (`model_args`, the
    `VideoMAEConfig`, and `options`; earlier files: one flat `net_config`), else read off the
    shapes (head counts and input size are filled in later)."""
    if ours and isinstance(ours.get("model_args"), dict):
        kind = ours.get("kind", kind) if ours.get("kind") in KIND_NAMES else kind
        return kind, {**ours["model_args"], **(ours.get("options") or {})}
    if ours and isinstance(ours.get("net_config"), dict):
        kind = ours.get("kind", kind) if ours.get("kind") in KIND_NAMES else kind
        return kind, dict(ours["net_config"])
    config = infer_encoder(state, "encoder." if kind == "pretrain" else "")
    if kind == "pretrain":
        config.update(infer_decoder(state))
        config["final_norm"] = "encoder.norm.weight" in state
    if kind == "classifier":
        config["num_classes"] = state["head.weight"].shape[0]
    return kind, config


def _apply_our_metadata(loaded: LoadedCheckpoint, ours: dict[str, Any]) -> None:
    """Class names, position-table kind and test protocol from our `videomae_ssl` block."""
    loaded.id2label = {int(k): v for k, v in (ours.get("id2label") or {}).items()} or None
    loaded.learned_pos = ours.get("pos_embed") == "learned"
    if isinstance(ours.get("eval"), dict):
        loaded.eval_settings = dict(ours["eval"])


def _note_final_norm(loaded: LoadedCheckpoint, state: dict[str, torch.Tensor]) -> None:
    """Say when the encoder ends without its LayerNorm, or a classifier does not mean-pool."""
    if loaded.kind == "pretrain" and not loaded.config.get("final_norm", True):
        loaded.notes.append(
            "no final encoder LayerNorm (transformers' use_mean_pooling=True): "
            "the encoder's last block feeds the decoder directly"
        )
    if loaded.kind == "classifier" and "fc_norm.weight" not in state and "norm.weight" in state:
        loaded.mean_pooling = False
        loaded.notes.append(
            "trained without mean pooling: it has norm.* but no fc_norm.* "
            "(it classifies from the first token)"
        )


def _split_weights(loaded: LoadedCheckpoint, state: dict[str, torch.Tensor]) -> None:
    """Keep the weights our model of this kind has; the rest are reported as unexpected,
    except parameters inside the blocks, which would change what they compute."""
    loaded.state, loaded.unexpected = split_unexpected(state, loaded.kind)
    block = re.compile(r"(encoder\.|decoder\.)?blocks\.\d+\.")
    if in_blocks := [k for k in loaded.unexpected if block.match(k)]:
        # Ignoring them would change what the blocks compute (e.g. layer scale `gamma_1`).
        raise CheckpointError(
            f"{loaded.path}: its transformer blocks have parameters this model does not: "
            f"{compress_keys(in_blocks)} (VideoMAE blocks have no layer scale or other extras)."
        )
    if loaded.kind == "classifier" and loaded.mean_pooling and "norm.weight" in loaded.state:
        loaded.unexpected += [k for k in ("norm.weight", "norm.bias") if k in loaded.state]
        loaded.state = {k: v for k, v in loaded.state.items() if not k.startswith("norm.")}


def _apply_hf_config(loaded: LoadedCheckpoint, hf: dict[str, Any]) -> None:
    values, id2label, notes = config_from_hf(hf, loaded.kind)
    loaded.config.update(values)
    loaded.id2label = id2label
    loaded.notes += notes
    loaded.mean_pooling = bool(hf.get("use_mean_pooling", True))
    if loaded.kind == "pretrain" and loaded.mean_pooling:
        loaded.notes.append(
            "config.json has use_mean_pooling=true: this encoder has no final LayerNorm, which "
            "our pretraining model always applies"
        )
    loaded.norm_pix_loss = hf.get("norm_pix_loss")
    wanted = [f for f in HF_FIELDS if loaded.kind == "pretrain" or not f.startswith("decoder")]
    if missing := [f for f in wanted if f not in hf]:
        loaded.notes.append(
            f"config.json lacks {', '.join(missing)}: taken from the weights or the defaults"
        )


def _fill_input_size(
    loaded: LoadedCheckpoint,
    state: dict[str, torch.Tensor],
    args: dict[str, Any],
    num_frames: int | None,
    img_size: int | None,
) -> None:
    c = loaded.config
    frames = num_frames or c.get("num_frames") or args.get("num_frames")
    size = img_size or c.get("img_size") or args.get("input_size")
    table = stored_pos_table(state, loaded.kind)
    if frames is None and table is not None:  # a stored table gives the token count
        q = c["tubelet_size"]  # one slice of tubelets: its tokens divide the table's count
        one_slice = VideoMAEConfig(
            img_size=size or DEFAULT_IMG_SIZE,
            patch_size=c["patch_size"],
            num_frames=q,
            tubelet_size=q,
        ).num_tokens
        if table.shape[0] % one_slice == 0:
            frames = table.shape[0] // one_slice * q
    if not frames:
        loaded.assumed_input["num_frames"] = DEFAULT_FRAMES
    if not size:
        loaded.assumed_input["img_size"] = DEFAULT_IMG_SIZE
    if loaded.assumed_input:
        loaded.notes.append(input_size_note(loaded.assumed_input))
    c["num_frames"] = frames or DEFAULT_FRAMES
    c["img_size"] = size or DEFAULT_IMG_SIZE


def input_size_note(assumed: dict[str, int], why: str = "") -> str:
    """What a loader took for the input size a file does not record, and how to say otherwise."""
    parts = [f"{assumed['num_frames']} frames"] if "num_frames" in assumed else []
    parts += [f"{assumed['img_size']} px"] if "img_size" in assumed else []
    return (
        f"{' at '.join(parts)} assumed{why}: the file does not record it (pass num_frames / "
        "img_size if it was trained otherwise)"
    )


def _fill_heads(
    loaded: LoadedCheckpoint, num_heads: int | None, decoder_num_heads: int | None
) -> None:
    c = loaded.config
    pairs = [("num_heads", "embed_dim", num_heads, STANDARD_HEADS)]
    if loaded.kind == "pretrain":
        pairs.append(
            ("decoder_num_heads", "decoder_embed_dim", decoder_num_heads, STANDARD_DECODER_HEADS)
        )
    for key, width_key, given, table in pairs:
        width = c[width_key]
        if given:
            c[key] = given
        elif not c.get(key):
            c[key] = table.get(width)
            if c[key]:
                loaded.notes.append(
                    f"{key}={c[key]}: the standard count for width {width} "
                    "(head counts cannot be read from the weights)"
                )
            else:
                loaded.notes.append(f"{key} unknown for width {width}: pass it to build a model")


def _check_pos_table(loaded: LoadedCheckpoint, ours: bool) -> None:
    """Drop a stored copy of the fixed sinusoid; keep (as (N, D)) a learned or rebuilt table."""
    key = "encoder.pos_embed" if loaded.kind == "pretrain" else "pos_embed"
    table = stored_pos_table(loaded.state, loaded.kind)
    if table is None:
        return
    t, h, w = loaded.grid
    if table.shape[0] != t * h * w:
        raise CheckpointError(
            f"{loaded.path}: {key} has {table.shape[0]} positions but "
            f"{loaded.config['num_frames']} frames at {loaded.config['img_size']} px give "
            f"{t * h * w}; pass the checkpoint's num_frames / img_size."
        )
    if torch.allclose(table.float(), sinusoid_table(t * h * w, table.shape[1]), atol=1e-4):
        del loaded.state[key]
        loaded.notes.append(f"{key} is the fixed sinusoid table: rebuilt, not read")
        return
    loaded.state[key] = table
    if not ours:
        loaded.learned_pos = True
    what = "learned" if loaded.learned_pos else "rebuilt for another grid"
    loaded.notes.append(f"{key}: a {what} position table ({t}x{h}x{w} tokens), kept")


def build_model(loaded: LoadedCheckpoint) -> VideoMAEPretrainModel | VideoMAEClassifier:
    """Our pretraining model or classifier with the checkpoint's weights (train mode, as built).

    Every parameter must come from the checkpoint: a missing or misshapen one is an error, not
    a silent random initialisation.
    """
    if loaded.kind == "encoder":
        raise CheckpointError(
            f"{loaded.path}: holds an encoder only (no decoder, no classification head); use it "
            "to initialise fine-tuning: pretrained=<path> or load_pretrained_encoder()."
        )
    if loaded.kind == "classifier" and not loaded.mean_pooling:
        raise CheckpointError(
            f"{loaded.path}: this classifier was trained without mean pooling (it classifies "
            "from the first token); ours mean-pools, so its outputs would differ. Its encoder can "
            "still initialise fine-tuning: pretrained=<path>."
        )
    c = dict(loaded.config)
    for key in ("num_heads", "decoder_num_heads"):
        if key in c and not c[key]:
            raise CheckpointError(f"{loaded.path}: {key} is unknown for this width; pass it.")
    cls = VideoMAEPretrainModel if loaded.kind == "pretrain" else VideoMAEClassifier
    try:
        config, options = VideoMAEConfig.split(c)
        model = cls(config, **options)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{loaded.path}: cannot build {cls.__name__}({c}): {err}") from None
    state = dict(loaded.state)
    encoder = model.encoder if loaded.kind == "pretrain" else model
    key = "encoder.pos_embed" if loaded.kind == "pretrain" else "pos_embed"
    if key in state:
        encoder.set_pos_embed(state[key], learnable=loaded.learned_pos)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise CheckpointError(f"{loaded.path}: weights do not fit the model: {err}") from None
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{loaded.path}: missing keys: {compress_keys(result.missing_keys)}; unexpected "
            f"keys: {compress_keys(result.unexpected_keys)}."
        )
    return model
