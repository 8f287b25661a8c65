"""Original MCG-NJU / VideoMAE V2 layouts, written by hand from the facts file (section 7) out
of a transformers model, which also gives the expected outputs."""

import argparse
import re

import numpy as np
import pytest
import torch

from videomae_ssl.checkpoints import (
    CheckpointError,
    build_model,
    export_original,
    load_checkpoint,
    load_pretrained_encoder,
)
from videomae_ssl.models import VideoMAEClassifier, VideoMAEConfig
from videomae_ssl.models.pos_embed import sinusoid_table

BLOCK = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.output.dense": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
}


def original_layout(hf_state, encoder_prefix):
    """transformers keys -> the original ones: fused qkv (rows q | k | v), q_bias / v_bias."""
    out, qkv = {}, {}
    for key, value in hf_state.items():
        m = re.fullmatch(
            r"(videomae\.encoder\.layer|decoder\.decoder_layers)\.(\d+)\.(.+)\.(weight|bias)", key
        )
        if m:
            block = (
                f"{encoder_prefix}blocks.{m[2]}"
                if m[1].startswith("videomae")
                else f"decoder.blocks.{m[2]}"
            )
            attn = re.fullmatch(r"attention\.attention\.(query|key|value)", m[3])
            if attn and m[4] == "weight":
                qkv.setdefault(block, {})[attn[1]] = value
            elif attn:
                out[f"{block}.attn.{attn[1][0]}_bias"] = value
            else:
                out[f"{block}.{BLOCK[m[3]]}.{m[4]}"] = value
            continue
        key = key.replace(
            "videomae.embeddings.patch_embeddings.projection", f"{encoder_prefix}patch_embed.proj"
        )
        key = key.replace("videomae.layernorm", f"{encoder_prefix}norm").replace(
            "classifier.", "head."
        )
        out[key] = value
    for block, parts in qkv.items():
        out[f"{block}.attn.qkv.weight"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    return out


def pretrain_file(tiny, path, prefix="", args=True, extra=None):
    """An original pretraining checkpoint: {'model', 'optimizer', 'epoch', 'scaler', 'args'}."""
    hf = tiny.hf_pretrain()
    state = {prefix + k: v for k, v in original_layout(hf.state_dict(), "encoder.").items()}
    state.update(extra or {})
    ckpt = {
        "model": state,
        "optimizer": {"state": {}, "param_groups": []},
        "epoch": 799,
        "scaler": {"scale": 65536.0},
    }
    if args:
        ckpt["args"] = argparse.Namespace(
            model="pretrain_videomae_small_patch16_224",
            num_frames=4,
            input_size=32,
            tubelet_size=2,
            mask_ratio=0.9,
            lr=1.5e-4,
        )
    torch.save(ckpt, path)
    return hf


def assert_pretraining_matches(tiny, loaded, hf):
    video, mask = tiny.clip_and_mask()
    pred, loss = tiny.our_outputs(build_model(loaded), video, mask)
    ref, ref_loss = tiny.hf_outputs(hf, video, mask)
    torch.testing.assert_close(pred, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss, ref_loss, atol=1e-5, rtol=1e-5)


def test_original_pretraining_checkpoint_matches(tiny, tmp_path):
    hf = pretrain_file(tiny, tmp_path / "checkpoint-799.pth")
    loaded = load_checkpoint(tmp_path / "checkpoint-799.pth", num_heads=4, decoder_num_heads=2)
    assert (loaded.format, loaded.kind) == ("original", "pretrain")
    assert (loaded.config["num_frames"], loaded.config["img_size"]) == (4, 32)  # from 'args'
    assert loaded.unexpected == []
    assert_pretraining_matches(tiny, loaded, hf)


def test_videomae_v2_prefixes_and_stored_sinusoid(tiny, tmp_path):
    fixed = {"encoder.pos_embed": sinusoid_table(32, 48)[None]}  # (1, N, D), a stored copy
    hf = pretrain_file(tiny, tmp_path / "vit_g_hybrid_pt_1200e.pth", "_orig_mod.", extra=fixed)
    loaded = load_checkpoint(
        tmp_path / "vit_g_hybrid_pt_1200e.pth", num_heads=4, decoder_num_heads=2
    )
    assert loaded.format == "videomae_v2"
    assert "encoder.pos_embed" not in loaded.state
    assert any("_orig_mod." in n for n in loaded.notes)
    assert_pretraining_matches(tiny, loaded, hf)


@pytest.mark.parametrize("prefix", ["", "module.", "backbone."])
def test_original_finetuned_checkpoint_matches(tiny, tmp_path, prefix):
    hf = tiny.hf_classifier()
    state = {prefix + k: v for k, v in original_layout(hf.state_dict(), "").items()}
    assert {"fc_norm.weight", "head.weight", "blocks.1.attn.q_bias"} <= {
        k.removeprefix(prefix) for k in state
    }
    torch.save({"module": state}, tmp_path / "ucf101_finetuned.pth")
    loaded = load_checkpoint(
        tmp_path / "ucf101_finetuned.pth", num_frames=4, img_size=32, num_heads=4
    )
    assert (loaded.kind, loaded.config["num_classes"]) == ("classifier", 5)
    video, _ = tiny.clip_and_mask()
    logits, _ = tiny.our_outputs(build_model(loaded), video)
    torch.testing.assert_close(logits, tiny.hf_outputs(hf, video)[0], atol=1e-5, rtol=1e-5)


def test_missing_input_size_is_assumed_and_said(tiny, tmp_path):
    pretrain_file(tiny, tmp_path / "a.pth", args=False)
    loaded = load_checkpoint(tmp_path / "a.pth")
    assert (loaded.config["num_frames"], loaded.config["img_size"]) == (16, 224)
    assert "16 frames at 224 px assumed" in loaded.summary()
    assert "num_heads unknown for width 48" in loaded.summary()
    with pytest.raises(CheckpointError, match="num_heads"):
        build_model(loaded)


def test_standard_widths_give_standard_head_counts(tmp_path):
    small = VideoMAEClassifier(
        VideoMAEConfig(
            img_size=32, patch_size=8, num_frames=4, embed_dim=384, depth=1, num_heads=6
        ),
        num_classes=3,
    )
    torch.save({"module": small.state_dict()}, tmp_path / "s.pth")
    loaded = load_checkpoint(tmp_path / "s.pth", num_frames=4, img_size=32)
    assert loaded.config["num_heads"] == 6
    assert "num_heads=6: the standard count for width 384" in loaded.summary()


def test_finetuned_without_mean_pooling_is_reported(tiny, tmp_path):
    state = tiny.ours_classifier().state_dict()
    state["norm.weight"], state["norm.bias"] = (
        state.pop("fc_norm.weight"),
        state.pop("fc_norm.bias"),
    )
    torch.save({"module": state}, tmp_path / "cls_token.pth")
    loaded = load_checkpoint(tmp_path / "cls_token.pth", **tiny.sizes)
    assert "without mean pooling" in loaded.summary()
    with pytest.raises(CheckpointError, match="without mean pooling"):
        build_model(loaded)


def test_extra_block_parameters_are_refused_not_ignored(tiny, tmp_path):
    state = tiny.ours_classifier().state_dict()
    state["blocks.0.gamma_1"] = torch.ones(48)  # layer scale: ignoring it changes the outputs
    torch.save({"module": state}, tmp_path / "layer_scale.pth")
    with pytest.raises(CheckpointError, match="gamma_1"):
        load_checkpoint(tmp_path / "layer_scale.pth", **tiny.sizes)


@pytest.mark.parametrize("kind", ["pretrain", "classifier", "learned_positions"])
def test_round_trip_ours_original_ours_is_exact(tiny, tmp_path, kind):
    ours = tiny.ours_pretrain() if kind == "pretrain" else tiny.ours_classifier()
    if kind == "learned_positions":
        ours.set_pos_embed(torch.randn(32, 48), learnable=True)
    path = export_original(ours, tmp_path / "exported.pth")
    raw = torch.load(path, weights_only=True)
    assert "model" in raw and all(not k.startswith("net.") for k in raw["model"])
    back = build_model(load_checkpoint(path))
    state, new = ours.state_dict(), back.state_dict()
    assert (
        type(back) is type(ours)
        and (back.config, back.options) == (ours.config, ours.options)
        and new.keys() == state.keys()
    )
    assert all(torch.equal(new[k], state[k]) for k in state)
    assert type(back.pos_embed if kind != "pretrain" else back.encoder.pos_embed) is type(
        ours.pos_embed if kind != "pretrain" else ours.encoder.pos_embed
    )


def test_a_model_built_from_numpy_numbers_writes_a_checkpoint_that_loads(tiny, tmp_path):
    ours = tiny.ours_classifier(num_classes=np.int64(5), img_size=np.int64(32))
    back = build_model(load_checkpoint(export_original(ours, tmp_path / "numpy.pth")))
    assert (back.config, back.options) == (ours.config, ours.options)


# net_config exactly as checkpoints stored it when the model captured its arguments.
OLD_ENCODER = dict(
    img_size=32,
    patch_size=8,
    num_frames=4,
    tubelet_size=2,
    in_chans=3,
    embed_dim=48,
    depth=2,
    num_heads=4,
    mlp_ratio=4.0,
    qkv_bias=True,
)
OLD_NET_CONFIGS = {
    "pretrain": {
        **OLD_ENCODER,
        "decoder_embed_dim": 32,
        "decoder_depth": 2,
        "decoder_num_heads": 2,
        "drop_path_rate": 0.0,
    },
    "classifier": {
        "num_classes": 5,
        **OLD_ENCODER,
        "drop_rate": 0.0,
        "attn_drop_rate": 0.0,
        "drop_path_rate": 0.1,
        "fc_drop_rate": 0.0,
        "init_scale": 0.001,
    },
}


@pytest.mark.parametrize("kind", ["pretrain", "classifier"])
def test_net_config_of_earlier_checkpoints_still_rebuilds_the_model(tiny, tmp_path, kind):
    ours = tiny.ours_pretrain() if kind == "pretrain" else tiny.ours_classifier()
    meta = {"kind": kind, "net_config": OLD_NET_CONFIGS[kind]}
    torch.save({"model": ours.state_dict(), "videomae_ssl": meta}, tmp_path / "old.pth")
    back = build_model(load_checkpoint(tmp_path / "old.pth"))
    assert (back.config, back.options) == (ours.config, ours.options)
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in ours.state_dict().items())


def test_original_checkpoint_initialises_finetuning(tiny, tmp_path):
    hf = pretrain_file(tiny, tmp_path / "checkpoint.pth")
    model = tiny.ours_classifier(num_classes=7, seed=3)
    head_before = model.head.weight.clone()
    report = load_pretrained_encoder(model, tmp_path / "checkpoint.pth", log=None)
    expected = original_layout(hf.state_dict(), "encoder.")
    for key in ("patch_embed.proj.weight", "blocks.1.attn.qkv.weight", "blocks.0.attn.v_bias"):
        assert torch.equal(model.state_dict()[key], expected[f"encoder.{key}"])
    assert torch.equal(model.head.weight, head_before)
    assert sorted(report.missing) == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]
    assert any(d.startswith("the decoder") for d in report.dropped)
