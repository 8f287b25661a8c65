"""Each layout's predicate, one by one, on tiny hand-built state dicts, and the dispatcher."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from videomae_ssl.checkpoints import CheckpointError, load_checkpoint
from videomae_ssl.checkpoints.layouts import (
    detect_layout,
    is_hf_layout,
    is_lightning,
    is_original_v1,
    is_v2,
)


def w(*shape: int) -> torch.Tensor:
    return torch.zeros(*shape)


def original_pretrain(prefix: str = "", width: int = 8, patch: int = 4) -> dict[str, torch.Tensor]:
    """The original pretraining keys (encoder, decoder, encoder_to_decoder, mask_token)."""
    return {
        f"{prefix}{k}": v
        for k, v in {
            "encoder.patch_embed.proj.weight": w(width, 3, 2, patch, patch),
            "encoder.blocks.0.attn.qkv.weight": w(3 * width, width),
            "encoder.blocks.0.attn.q_bias": w(width),
            "encoder_to_decoder.weight": w(4, width),
            "mask_token": w(1, 1, 4),
            "decoder.blocks.0.norm1.weight": w(4),
            "decoder.head.weight": w(96, 4),
        }.items()
    }


ORIGINAL_FINETUNED = {
    "patch_embed.proj.weight": w(8, 3, 2, 4, 4),
    "blocks.0.attn.qkv.weight": w(24, 8),
    "fc_norm.weight": w(8),
    "head.weight": w(5, 8),
}
HF_TASK = {
    "videomae.embeddings.patch_embeddings.projection.weight": w(8, 3, 2, 4, 4),
    "videomae.encoder.layer.0.attention.attention.query.weight": w(8, 8),
    "classifier.weight": w(5, 8),
}
HF_BARE = {
    "embeddings.patch_embeddings.projection.weight": w(8, 3, 2, 4, 4),
    "encoder.layer.0.attention.attention.query.bias": w(8),
}
STRANGER = {"conv1.weight": w(4, 3, 7, 7), "fc.weight": w(10, 4), "fc.bias": w(10)}

SAMPLES = {
    "original": [
        ("pretrain", original_pretrain(), None),
        ("finetuned", ORIGINAL_FINETUNED, None),
        ("ddp", original_pretrain("module."), None),
    ],
    "videomae_v2": [
        ("backbone", original_pretrain("backbone."), None),
        ("compiled", original_pretrain("module._orig_mod."), None),
        ("vit_g", original_pretrain(width=1408, patch=14), None),
        ("v2_args", original_pretrain(), {"decoder_mask_type": "run_cell"}),
    ],
    "hf": [("task", HF_TASK, None), ("bare", HF_BARE, None)],
    "lightning": [
        (
            "ckpt",
            {"state_dict": {f"net.{k}": v for k, v in original_pretrain().items()}, "epoch": 3},
            None,
        )
    ],
    "stranger": [("resnet", STRANGER, None)],
}
CASES = [
    pytest.param(layout, obj, args, id=f"{layout}-{name}")
    for layout, samples in SAMPLES.items()
    for name, obj, args in samples
]
PREDICATES = {
    "lightning": lambda obj, args: is_lightning(obj),
    "hf": lambda obj, args: is_hf_layout(obj),
    "videomae_v2": is_v2,
    "original": is_original_v1,
}


@pytest.mark.parametrize("predicate", sorted(PREDICATES))
@pytest.mark.parametrize(("layout", "obj", "args"), CASES)
def test_each_predicate_answers_for_its_own_layout_only(predicate, layout, obj, args):
    assert PREDICATES[predicate](obj, args) is (predicate == layout)


@pytest.mark.parametrize(("layout", "obj", "args"), [c for c in CASES if c.values[0] != "stranger"])
def test_the_dispatcher_names_the_layout(layout, obj, args):
    state = obj["state_dict"] if layout == "lightning" else obj
    assert detect_layout(Path("x.pth"), obj, state, args) == layout


def test_our_own_original_layout_export_is_never_taken_for_v2():
    state = original_pretrain(width=1408, patch=14)
    assert detect_layout(Path("x.pth"), state, state, None, recorded=True) == "original"


def test_a_strangers_dict_is_an_error_naming_the_file_and_its_keys(tmp_path):
    with pytest.raises(CheckpointError) as err:
        detect_layout(tmp_path / "resnet.pth", STRANGER, STRANGER)
    message = str(err.value)
    assert "resnet.pth" in message and "not VideoMAE weights" in message
    assert all(k in message for k in STRANGER)
    torch.save({"model": STRANGER}, tmp_path / "resnet.pth")
    with pytest.raises(CheckpointError, match=r"resnet\.pth: not VideoMAE weights.*conv1\.weight"):
        load_checkpoint(tmp_path / "resnet.pth")
