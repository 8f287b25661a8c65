"""Hugging Face directories and state dicts in and out, checked against transformers itself."""

import json
import os
import stat

import pytest
import torch
from clips import needs_ffmpeg_libraries

from videomae_ssl.checkpoints import (
    CheckpointError,
    build_model,
    export_hf,
    load_checkpoint,
    load_pretrained_encoder,
)
from videomae_ssl.models.config import DECODER_FIELDS

transformers = pytest.importorskip("transformers")


def to_v4_names(state):
    """transformers 4 stores the attention biases as q_bias / v_bias (facts file, section 7)."""
    return {
        k.replace("attention.attention.query.bias", "attention.attention.q_bias").replace(
            "attention.attention.value.bias", "attention.attention.v_bias"
        ): v.clone()
        for k, v in state.items()
    }


def save_v4_dir(hf, path):
    """A directory as transformers 4 writes it: config.json + pytorch_model.bin, v4 names."""
    hf.save_pretrained(path)
    (path / "model.safetensors").unlink()
    torch.save(to_v4_names(hf.state_dict()), path / "pytorch_model.bin")


@pytest.mark.parametrize("layout", ["v5_safetensors", "v4_bin"])
@pytest.mark.parametrize("norm_pix", [True, False])
def test_hf_pretraining_directory_matches_transformers(tiny, tmp_path, layout, norm_pix):
    hf = tiny.hf_pretrain(norm_pix_loss=norm_pix)
    if layout == "v4_bin":
        save_v4_dir(hf, tmp_path)
        assert any("q_bias" in k for k in torch.load(tmp_path / "pytorch_model.bin"))
    else:
        hf.save_pretrained(tmp_path)
    loaded = load_checkpoint(tmp_path)
    assert (loaded.format, loaded.kind, loaded.norm_pix_loss) == ("hf", "pretrain", norm_pix)
    assert (loaded.config["num_heads"], loaded.config["decoder_num_heads"]) == (4, 2)
    ours = build_model(loaded)
    video, mask = tiny.clip_and_mask()
    pred, loss = tiny.our_outputs(ours, video, mask, norm_pix)
    ref_pred, ref_loss = tiny.hf_outputs(hf, video, mask)
    torch.testing.assert_close(pred, ref_pred, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss, ref_loss, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", ["v5_safetensors", "v4_bin"])
def test_hf_classifier_directory_matches_transformers(tiny, tmp_path, layout):
    names = {0: "archery", 1: "bowling", 2: "diving", 3: "fencing", 4: "rowing"}
    hf = tiny.hf_classifier(names)
    save_v4_dir(hf, tmp_path) if layout == "v4_bin" else hf.save_pretrained(tmp_path)
    loaded = load_checkpoint(tmp_path)
    assert (loaded.kind, loaded.id2label, loaded.config["num_classes"]) == ("classifier", names, 5)
    video, _ = tiny.clip_and_mask()
    logits, _ = tiny.our_outputs(build_model(loaded), video)
    torch.testing.assert_close(logits, tiny.hf_outputs(hf, video)[0], atol=1e-5, rtol=1e-5)


def test_bare_state_dict_with_v4_names_matches_transformers(tiny, tmp_path):
    hf = tiny.hf_classifier()
    path = tmp_path / "weights.pth"
    torch.save(to_v4_names(hf.state_dict()), path)
    loaded = load_checkpoint(
        path, **{k: v for k, v in tiny.sizes.items() if k != "decoder_num_heads"}
    )
    assert loaded.format == "hf" and loaded.id2label is None
    video, _ = tiny.clip_and_mask()
    logits, _ = tiny.our_outputs(build_model(loaded), video)
    torch.testing.assert_close(logits, tiny.hf_outputs(hf, video)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["pretrain", "classifier"])
def test_export_loads_in_transformers_with_same_outputs(tiny, tmp_path, kind):
    names = {i: f"class {i}" for i in range(5)}
    ours = tiny.ours_pretrain() if kind == "pretrain" else tiny.ours_classifier()
    export_hf(ours, tmp_path, id2label=names if kind == "classifier" else None)
    cls = (
        transformers.VideoMAEForPreTraining
        if kind == "pretrain"
        else transformers.VideoMAEForVideoClassification
    )
    hf, info = cls.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert hf.config.layer_norm_eps == 1e-6  # the blocks' eps, as ours (transformers: 1e-12)
    video, mask = tiny.clip_and_mask()
    mask = mask if kind == "pretrain" else None
    got, loss = tiny.our_outputs(ours, video, mask)
    ref, ref_loss = tiny.hf_outputs(hf.eval(), video, mask)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    if kind == "pretrain":
        torch.testing.assert_close(loss, ref_loss, atol=1e-5, rtol=1e-5)
    else:
        assert hf.config.id2label == names
        assert json.loads((tmp_path / "config.json").read_text())["id2label"]["3"] == "class 3"


@pytest.mark.parametrize("kind", ["pretrain", "classifier"])
def test_round_trip_ours_hf_ours_is_exact(tiny, tmp_path, kind):
    ours = tiny.ours_pretrain() if kind == "pretrain" else tiny.ours_classifier()
    back = build_model(load_checkpoint(export_hf(ours, tmp_path / "hf")))
    state, new = ours.state_dict(), back.state_dict()
    assert type(back) is type(ours) and new.keys() == state.keys()
    assert all(torch.equal(new[k], state[k]) for k in state)
    arguments = {**ours.config.as_dict(), **ours.options}
    if kind == "classifier":  # a classifier has no decoder
        arguments = {k: v for k, v in arguments.items() if k not in DECODER_FIELDS}
    architecture = {
        k: v
        for k, v in arguments.items()
        if k not in ("drop_path_rate", "drop_rate", "attn_drop_rate", "fc_drop_rate", "init_scale")
    }
    back_arguments = {**back.config.as_dict(), **back.options}
    assert {k: back_arguments[k] for k in architecture} == architecture


def test_hf_classifier_without_mean_pooling_is_refused_but_initialises(tiny, tmp_path):
    config = transformers.VideoMAEConfig(
        **{**tiny.hf_classifier().config.to_dict(), "use_mean_pooling": False}
    )
    transformers.VideoMAEForVideoClassification(config).save_pretrained(tmp_path)
    loaded = load_checkpoint(tmp_path)
    assert not loaded.mean_pooling
    with pytest.raises(CheckpointError, match="without mean pooling"):
        build_model(loaded)
    report = load_pretrained_encoder(tiny.ours_classifier(), tmp_path, log=None)
    assert "blocks.1.attn.qkv.weight" in report.loaded
    assert any(d.startswith("norm") for d in report.dropped)


def test_hf_pretraining_saved_with_default_mean_pooling_loads_and_exports_back(tiny, tmp_path):
    # transformers' default config (use_mean_pooling=True) builds no final encoder LayerNorm.
    hf = tiny.hf_pretrain(mean_pooling=True)
    assert not any(k.startswith("videomae.layernorm") for k in hf.state_dict())
    hf.save_pretrained(tmp_path / "hf")
    loaded = load_checkpoint(tmp_path / "hf")
    assert loaded.config["final_norm"] is False
    ours = build_model(loaded)
    assert isinstance(ours.encoder.norm, torch.nn.Identity) and ours.options["final_norm"] is False
    video, mask = tiny.clip_and_mask()
    pred, loss = tiny.our_outputs(ours, video, mask)
    ref_pred, ref_loss = tiny.hf_outputs(hf, video, mask)
    torch.testing.assert_close(pred, ref_pred, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss, ref_loss, atol=1e-5, rtol=1e-5)

    export_hf(ours, tmp_path / "back")
    assert json.loads((tmp_path / "back" / "config.json").read_text())["use_mean_pooling"] is True
    back, info = transformers.VideoMAEForPreTraining.from_pretrained(
        tmp_path / "back", output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert back.config.use_mean_pooling and back.videomae.layernorm is None
    again, _ = tiny.hf_outputs(back.eval(), video, mask)
    torch.testing.assert_close(again, ref_pred, atol=1e-5, rtol=1e-5)


def write_clip(path, frames):
    """A lossless video (PNG frames in a .mov) of `frames` (T, H, W, 3) uint8."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=4)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@pytest.mark.parametrize("kind", ["pretrain", "classifier"])
def test_export_writes_the_processor_config_of_our_inputs(tiny, tmp_path, kind):
    ours = tiny.ours_pretrain() if kind == "pretrain" else tiny.ours_classifier()
    export_hf(ours, tmp_path)
    processor = transformers.AutoImageProcessor.from_pretrained(tmp_path)
    assert type(processor).__name__.startswith("VideoMAEImageProcessor")
    assert processor.size == {"shortest_edge": 32}
    assert processor.crop_size == {"height": 32, "width": 32}
    frames = torch.randint(
        0, 256, (4, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    got = processor(list(frames.numpy()), return_tensors="pt")["pixel_values"]  # (1, T, C, H, W)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    expected = ((frames.float() / 255 - mean) / std).permute(0, 3, 1, 2)[None]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@needs_ffmpeg_libraries
def test_the_video_classification_pipeline_runs_on_an_export(tiny, tmp_path):
    names = {0: "archery", 1: "bowling", 2: "diving", 3: "fencing", 4: "rowing"}
    ours = tiny.ours_classifier()
    export_hf(ours, tmp_path / "hf", id2label=names)
    frames = torch.randint(
        0, 256, (4, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    write_clip(tmp_path / "clip.mov", frames.numpy())
    classify = transformers.pipeline("video-classification", model=str(tmp_path / "hf"))
    scores = {r["label"]: r["score"] for r in classify(str(tmp_path / "clip.mov"), top_k=5)}
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1, 1)
    video = (frames.permute(3, 0, 1, 2).float() / 255 - mean) / std  # (C, T, H, W)
    probs = tiny.our_outputs(ours, video[None])[0].softmax(-1)[0]
    assert scores.keys() == set(names.values())
    torch.testing.assert_close(
        torch.tensor([scores[names[i]] for i in range(5)]), probs, atol=1e-5, rtol=1e-4
    )


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_exported_files_get_the_mode_of_new_files(tiny, tmp_path, umask):
    previous = os.umask(umask)
    try:
        export_hf(tiny.ours_classifier(), tmp_path / "hf")
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "hf").iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= modes.keys()
    assert set(modes.values()) == {0o666 & ~umask}, modes
