"""`load_pretrained_encoder`: the `pretrained=<path>` initialisation of fine-tuning."""

import pytest
import torch

from videomae_ssl.checkpoints import CheckpointError, export_original, load_pretrained_encoder
from videomae_ssl.models.pos_embed import sinusoid_table

pytest.importorskip("transformers")


def test_hf_pretraining_weights_initialise_a_classifier(tiny, tmp_path):
    hf = tiny.hf_pretrain()
    hf.save_pretrained(tmp_path)
    model = tiny.ours_classifier(num_classes=7, seed=1)
    messages = []
    report = load_pretrained_encoder(model, tmp_path, log=messages.append)
    layer = hf.videomae.encoder.layer[1].attention.attention
    expected_qkv = torch.cat([layer.query.weight, layer.key.weight, layer.value.weight])
    assert torch.equal(model.blocks[1].attn.qkv.weight, expected_qkv)
    assert torch.equal(model.blocks[1].attn.v_bias, layer.value.bias)
    assert report.missing == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]
    assert report.unexpected == []
    summary = messages[0]
    assert "the decoder" in summary and "norm: the pretrained encoder's final LayerNorm" in summary
    assert "pos_embed" not in model.state_dict()  # same token grid: the built-in table stays


def test_finetuned_weights_with_the_same_classes_give_the_same_logits(tiny, tmp_path):
    hf = tiny.hf_classifier()
    hf.save_pretrained(tmp_path)
    model = tiny.ours_classifier(num_classes=5, seed=1)
    report = load_pretrained_encoder(model, tmp_path, log=None)
    assert report.missing == [] and report.dropped == []
    video, _ = tiny.clip_and_mask()
    logits, _ = tiny.our_outputs(model, video)
    torch.testing.assert_close(logits, tiny.hf_outputs(hf, video)[0], atol=1e-5, rtol=1e-5)


def test_a_head_of_another_shape_is_dropped(tiny, tmp_path):
    tiny.hf_classifier(num_labels=400).save_pretrained(tmp_path)
    model = tiny.ours_classifier(num_classes=101, seed=1)
    head = model.head.weight.clone()
    report = load_pretrained_encoder(model, tmp_path, log=None)
    assert torch.equal(model.head.weight, head)
    assert report.dropped == ["head: 400 classes in the checkpoint, 101 in the model"]
    assert report.missing == ["head.bias", "head.weight"]


def test_another_model_size_stops_with_an_error(tiny, tmp_path):
    export_original(tiny.ours_pretrain(), tmp_path / "ckpt.pth")
    wider = tiny.ours_classifier(embed_dim=64)
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    with pytest.raises(
        CheckpointError,
        match=r"the checkpoint is a different model \(width 48, "
        r"depth 2, patch 8, tubelet 2\) from this one \(width 64, depth 2, patch 8, "
        r"tubelet 2\); set model.net.embed_dim=48 model.net.depth=2 to build",
    ):
        load_pretrained_encoder(wider, tmp_path / "ckpt.pth", log=None)
    assert all(torch.equal(before[k], v) for k, v in wider.state_dict().items())


def test_another_patch_size_names_the_keys_to_set(tmp_path):
    """A ViT-tiny checkpoint of patch 8 into the same size at patch 16: the message names the
    key that differs (the patch), not the size."""
    from videomae_ssl.models.build import videomae_classifier, videomae_pretrain

    export_original(
        videomae_pretrain("tiny", patch_size=8, img_size=32, num_frames=4), tmp_path / "ckpt.pth"
    )
    model = videomae_classifier(2, "tiny", img_size=32, num_frames=4)
    with pytest.raises(
        CheckpointError,
        match=r"; set model.net.patch_size=8 to build the "
        r"checkpoint's \(patch_embed.proj.weight",
    ):
        load_pretrained_encoder(model, tmp_path / "ckpt.pth", log=None)
    small = videomae_classifier(2, "small", img_size=32, num_frames=4, patch_size=8)
    with pytest.raises(CheckpointError, match=r"; set model.net.size=tiny to build"):
        load_pretrained_encoder(small, tmp_path / "ckpt.pth", log=None)


def test_no_matching_encoder_weight_stops_with_an_error(tiny, tmp_path):
    state = {f"backbone_v3.{k}": v for k, v in tiny.ours_classifier().state_dict().items()}
    torch.save({"model": state}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not VideoMAE weights"):
        load_pretrained_encoder(tiny.ours_classifier(), tmp_path / "other.pth", log=None)


def test_more_frames_rebuild_the_fixed_table_on_the_new_grid(tiny, tmp_path):
    export_original(tiny.ours_pretrain(), tmp_path / "ckpt.pth")  # 4 frames: 2x4x4 tokens
    model = tiny.ours_classifier(num_frames=8)  # 4x4x4 tokens
    report = load_pretrained_encoder(model, tmp_path / "ckpt.pth", log=None)
    assert any("2x4x4 in the checkpoint, 4x4x4 in the model" in n for n in report.notes)
    table = model.pos_embed.reshape(4, 4, 4, 48)  # (T', H', W', D)
    src = sinusoid_table(32, 48).reshape(2, 4, 4, 48)
    # Frame 0 of the new grid lies at old time -0.25, clamped to 0: the same spatial meaning.
    torch.testing.assert_close(table[0], src[0])
    torch.testing.assert_close(table[1], 0.75 * src[0] + 0.25 * src[1])
    assert not table.requires_grad and "pos_embed" in model.state_dict()
    assert model(torch.randn(1, 3, 8, 32, 32)).shape == (1, 5)


def test_learned_positions_are_interpolated_and_stay_learnable(tiny, tmp_path):
    state = tiny.ours_classifier().state_dict()
    learned = torch.randn(1, 32, 48)  # (1, N, D) as the original code stores learnable ones
    torch.save({"module": {**state, "pos_embed": learned}}, tmp_path / "learned.pth")
    model = tiny.ours_classifier(img_size=96)  # 2x12x12 tokens
    report = load_pretrained_encoder(
        model, tmp_path / "learned.pth", num_frames=4, img_size=32, log=None
    )
    assert "pos_embed" in report.loaded
    assert isinstance(model.pos_embed, torch.nn.Parameter) and model.pos_embed.requires_grad
    table = model.pos_embed.detach().reshape(2, 12, 12, 48)  # (T', H', W', D)
    # 4 -> 12 per side: new index 1 + 3k sits exactly on old index k (bicubic weight 1 there).
    torch.testing.assert_close(table[:, 1::3, 1::3], learned.reshape(2, 4, 4, 48))


def test_the_encoder_of_a_pretraining_model_keeps_its_final_norm(tiny, tmp_path):
    source = tiny.ours_pretrain(seed=1)
    export_original(source, tmp_path / "ckpt.pth")
    target = tiny.ours_pretrain(seed=2)
    report = load_pretrained_encoder(target.encoder, tmp_path / "ckpt.pth", log=None)
    assert report.missing == [] and torch.equal(
        target.encoder.norm.weight, source.encoder.norm.weight
    )
