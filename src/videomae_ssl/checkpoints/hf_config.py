"""`config.json` of transformers' VideoMAE <-> our constructor arguments, and the
`preprocessor_config.json` of our inputs.

Written by hand (no transformers import) so that reading and exporting work without it.
Field names and defaults follow `transformers.VideoMAEConfig`; `qkv_bias` (version 4) and
`qv_bias` (version 5) are both written so that either version reads the file.
"""

from __future__ import annotations

from typing import Any

from videomae_ssl.checkpoints.reading import CheckpointError
from videomae_ssl.checkpoints.state_dicts import mlp_ratio_for
from videomae_ssl.data.transforms import IMAGENET_MEAN, IMAGENET_STD

# transformers field -> our constructor argument
_ENCODER_FIELDS = {
    "num_frames": "num_frames",
    "tubelet_size": "tubelet_size",
    "num_channels": "in_chans",
    "hidden_size": "embed_dim",
    "num_hidden_layers": "depth",
    "num_attention_heads": "num_heads",
}
_DECODER_FIELDS = {
    "decoder_hidden_size": "decoder_embed_dim",
    "decoder_num_hidden_layers": "decoder_depth",
    "decoder_num_attention_heads": "decoder_num_heads",
}
HF_FIELDS = ("image_size", "patch_size", *_ENCODER_FIELDS, "intermediate_size", *_DECODER_FIELDS)
OUR_LAYER_NORM_EPS = 1e-6


def _square(hf: dict[str, Any], name: str) -> int | None:
    value = hf.get(name)
    if isinstance(value, (list, tuple)):
        if len(set(value)) != 1:
            raise CheckpointError(f"config.json: {name}={value}; only square inputs are supported.")
        value = value[0]
    return value


def _labels(hf: dict[str, Any]) -> dict[int, str] | None:
    """id2label with int keys, or None when it holds only transformers' LABEL_i placeholders."""
    labels = {int(k): str(v) for k, v in (hf.get("id2label") or {}).items()}
    if not labels or all(v == f"LABEL_{k}" for k, v in labels.items()):
        return None
    return labels


def config_from_hf(
    hf: dict[str, Any], kind: str
) -> tuple[dict[str, Any], dict[int, str] | None, list[str]]:
    """config.json -> (our constructor arguments it sets, id2label, notes for the user)."""
    if hf.get("hidden_act", "gelu") != "gelu":
        raise CheckpointError(
            f"config.json: hidden_act={hf['hidden_act']!r}; VideoMAE blocks use exact 'gelu'."
        )
    values: dict[str, Any] = {}
    fields = {**_ENCODER_FIELDS, **(_DECODER_FIELDS if kind == "pretrain" else {})}
    for theirs, ours in fields.items():
        if hf.get(theirs) is not None:
            values[ours] = int(hf[theirs])
    for theirs, ours in (("image_size", "img_size"), ("patch_size", "patch_size")):
        if (value := _square(hf, theirs)) is not None:
            values[ours] = int(value)
    if "qv_bias" in hf or "qkv_bias" in hf:
        values["qkv_bias"] = bool(hf.get("qv_bias", hf.get("qkv_bias")))
    if hf.get("hidden_size") and hf.get("intermediate_size"):
        values["mlp_ratio"] = mlp_ratio_for(hf["hidden_size"], hf["intermediate_size"])
        dec, dec_hidden = hf.get("decoder_hidden_size"), hf.get("decoder_intermediate_size")
        shared = dec and dec_hidden and int(dec * values["mlp_ratio"]) == dec_hidden
        if kind == "pretrain" and dec and dec_hidden and not shared:
            raise CheckpointError(
                f"config.json: decoder_intermediate_size={dec_hidden} is not "
                f"decoder_hidden_size x the encoder's mlp ratio; this project's decoder shares it."
            )
    notes = []
    eps = hf.get("layer_norm_eps")
    if eps is not None and eps != OUR_LAYER_NORM_EPS:
        notes.append(
            f"config.json has layer_norm_eps={eps}; this project uses {OUR_LAYER_NORM_EPS} "
            "(outputs differ by about 1e-6)"
        )
    return values, _labels(hf), notes


def hf_config_for(
    config: dict[str, Any],
    kind: str,
    id2label: dict[int, str] | None = None,
    norm_pix_loss: bool = True,
) -> dict[str, Any]:
    """Our constructor arguments -> a config.json for VideoMAEForPreTraining / ...Classification."""
    dim, ratio = config["embed_dim"], config["mlp_ratio"]
    out: dict[str, Any] = {
        "model_type": "videomae",
        "architectures": [
            "VideoMAEForPreTraining" if kind == "pretrain" else "VideoMAEForVideoClassification"
        ],
        "image_size": config["img_size"],
        "patch_size": config["patch_size"],
        "intermediate_size": int(dim * ratio),
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02,
        "layer_norm_eps": OUR_LAYER_NORM_EPS,
        "qkv_bias": config["qkv_bias"],
        "qv_bias": config["qkv_bias"],
        # transformers ties two things to this flag: without it the encoder ends in a
        # LayerNorm (`videomae.layernorm`), with it classifiers mean-pool into fc_norm. Our
        # classifiers mean-pool; a pretraining model has the norm unless built without it.
        "use_mean_pooling": kind != "pretrain" or not config.get("final_norm", True),
        "norm_pix_loss": norm_pix_loss,
        "torch_dtype": "float32",
    }
    out.update({theirs: config[ours] for theirs, ours in _ENCODER_FIELDS.items()})
    if kind == "pretrain":
        out.update({theirs: config[ours] for theirs, ours in _DECODER_FIELDS.items()})
        out["decoder_intermediate_size"] = int(config["decoder_embed_dim"] * ratio)
    else:
        labels = id2label or {i: f"LABEL_{i}" for i in range(config["num_classes"])}
        if len(labels) != config["num_classes"]:
            raise CheckpointError(
                f"{len(labels)} class names for a head of {config['num_classes']} classes."
            )
        out["id2label"] = {str(k): v for k, v in sorted(labels.items())}
        out["label2id"] = {v: k for k, v in sorted(labels.items())}
    return out


def hf_processor_config(img_size: int) -> dict[str, Any]:
    """preprocessor_config.json for `transformers.VideoMAEImageProcessor`: our evaluation input.

    Frames are resized (bilinear) to short side `img_size`, centre-cropped to a square, scaled
    to [0, 1] and normalised with the ImageNet mean and std, as our test views are (one crop
    instead of three). `AutoImageProcessor` and the `video-classification` pipeline read it;
    the frame count comes from config.json.
    """
    return {
        "image_processor_type": "VideoMAEImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": img_size},
        "resample": 2,  # PIL.Image.BILINEAR
        "do_center_crop": True,
        "crop_size": {"height": img_size, "width": img_size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(IMAGENET_MEAN),
        "image_std": list(IMAGENET_STD),
    }
