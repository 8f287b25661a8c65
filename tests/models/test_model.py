import inspect
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videomae_ssl.masking import tube_mask
from videomae_ssl.models import (
    SIZES,
    VideoMAEClassifier,
    VideoMAEConfig,
    VideoMAEPretrainModel,
    get_size,
    videomae_classifier,
    videomae_pretrain,
)
from videomae_ssl.models.layers import Attention
from videomae_ssl.models.pos_embed import sinusoid_table

TINY = dict(
    img_size=32,
    num_frames=4,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=2,
    decoder_embed_dim=16,
    decoder_depth=1,
    decoder_num_heads=2,
)


def batch_masks(grid, ratio, b):
    return torch.stack([tube_mask(grid, ratio, torch.Generator().manual_seed(i)) for i in range(b)])


def test_sinusoid_table_matches_formula():
    table = sinusoid_table(50, 12)
    for p in (0, 1, 7, 49):
        for j in range(12):
            angle = p / 10000 ** (2 * (j // 2) / 12)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(table[p, j].item() - expected) < 1e-6


def test_position_table_is_not_in_the_state_dict():
    model = videomae_pretrain("tiny", img_size=32, num_frames=4, patch_size=8)
    assert not any("pos_embed" in k for k in model.state_dict())


@pytest.mark.parametrize("ratio", [0.5, 0.75])
def test_pretrain_shapes_and_gradients(ratio):
    torch.manual_seed(0)
    model = videomae_pretrain("tiny", **TINY)
    grid = model.grid
    assert grid == (2, 4, 4)
    mask = batch_masks(grid, ratio, 3)
    video = torch.randn(3, 3, 4, 32, 32)
    out = model(video, mask)
    n_masked = int(mask[0].sum())
    assert out.shape == (3, n_masked, 2 * 8 * 8 * 3)
    assert torch.isfinite(out).all()
    out.pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} got a zero gradient"


def test_encoder_sees_only_visible_tokens():
    torch.manual_seed(0)
    model = videomae_pretrain("tiny", **TINY).eval()
    mask = batch_masks(model.grid, 0.75, 1)
    video = torch.randn(1, 3, 4, 32, 32)
    out = model(video, mask)
    # Change only pixels of masked tokens: the encoder output and so the prediction may not move.
    t, h, w = model.grid
    m = mask.view(t, h, w)
    changed = video.clone()
    for ti, hi, wi in m.nonzero().tolist():
        changed[0, :, 2 * ti : 2 * ti + 2, 8 * hi : 8 * hi + 8, 8 * wi : 8 * wi + 8] = 9.0
    torch.testing.assert_close(model(changed, mask), out)


def test_sdpa_matches_naive_attention():
    torch.manual_seed(0)
    attn = Attention(32, 4).eval()
    torch.nn.init.normal_(attn.q_bias)
    torch.nn.init.normal_(attn.v_bias)
    x = torch.randn(2, 10, 32)
    qkv = F.linear(x, attn.qkv.weight, torch.cat([attn.q_bias, torch.zeros(32), attn.v_bias]))
    q, k, v = qkv.view(2, 10, 3, 4, 8).permute(2, 0, 3, 1, 4)
    weights = ((q * 8**-0.5) @ k.transpose(-2, -1)).softmax(-1)
    naive = attn.proj((weights @ v).transpose(1, 2).reshape(2, 10, 32))
    torch.testing.assert_close(attn(x), naive, atol=1e-6, rtol=1e-5)


def test_k_bias_is_zero_and_not_a_parameter():
    attn = Attention(8, 2)
    assert attn.qkv.bias is None
    assert {n for n, _ in attn.named_parameters()} == {
        "qkv.weight",
        "q_bias",
        "v_bias",
        "proj.weight",
        "proj.bias",
    }


@pytest.mark.parametrize("size", sorted(SIZES))
def test_sizes_build_with_paper_numbers(size):
    s = get_size(size)
    assert s.embed_dim % s.num_heads == 0 and s.decoder_embed_dim % s.decoder_num_heads == 0
    if size == "base":
        assert (
            s.embed_dim,
            s.depth,
            s.num_heads,
            s.decoder_embed_dim,
            s.decoder_num_heads,
            s.decoder_depth,
        ) == (768, 12, 12, 384, 6, 4)


def test_vit_base_parameter_count():
    # ViT-B/16 video: 86.2M encoder parameters + classifier head (the paper reports 87M).
    model = videomae_classifier(num_classes=400, size="base")
    n = sum(p.numel() for p in model.parameters())
    assert 86_000_000 < n < 87_500_000


def test_classifier_shapes_init_and_gradients():
    torch.manual_seed(0)
    kw = {k: v for k, v in TINY.items() if not k.startswith("decoder")}
    model = VideoMAEClassifier(VideoMAEConfig(**kw), num_classes=5)
    assert model.head.weight.abs().max() < 0.01  # init_scale 0.001 on a trunc-normal(0.02)
    logits = model(torch.randn(2, 3, 4, 32, 32))
    assert logits.shape == (2, 5)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    keys = set(model.state_dict())
    assert {
        "patch_embed.proj.weight",
        "blocks.0.attn.q_bias",
        "fc_norm.weight",
        "head.weight",
    } <= keys
    assert not any(k.startswith("norm.") for k in keys)


def test_wrong_input_size_is_a_clear_error():
    model = videomae_pretrain("tiny", **TINY)
    with pytest.raises(ValueError, match="built for 32 "):
        model.encoder(torch.randn(1, 3, 4, 48, 48))


@pytest.mark.parametrize("cls", [VideoMAEPretrainModel, VideoMAEClassifier])
def test_config_names_every_argument_as_plain_values_and_rebuilds_the_model(cls):
    # Numbers from numpy (a computed class count, a sweep) must not reach the checkpoint's
    # model_args or options as numpy objects: a weights-only load refuses them.
    kw = {
        k: v for k, v in TINY.items() if cls is VideoMAEPretrainModel or not k.startswith("decoder")
    }
    kw = {**kw, "img_size": np.int64(32), "mlp_ratio": np.float64(4.0)}
    options = {"drop_path_rate": np.float32(0.1)}
    if cls is VideoMAEClassifier:
        options["num_classes"] = np.int64(5)
    model = cls(VideoMAEConfig(**kw), **options)
    # Every argument but the config and grad_checkpointing, a memory setting that does not
    # change the model.
    arguments = set(inspect.signature(cls).parameters) - {"config", "grad_checkpointing"}
    assert set(model.options) == arguments
    values = [*model.config.as_dict().values(), *model.options.values()]
    # Lists (the extra decoders' widths) hold plain numbers too.
    values = [x for v in values for x in (v if type(v) is list else [v])]
    assert all(type(v) in (int, float, bool) for v in values), (model.config, model.options)
    assert model.config.img_size == 32 and model.options["drop_path_rate"] == pytest.approx(0.1)
    rebuilt = cls(VideoMAEConfig(**model.config.as_dict()), **model.options)
    assert rebuilt.config == model.config and rebuilt.options == model.options
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }


def loss_and_grads(model, video, target):
    """One seeded forward and backward: (loss, {name: grad})."""
    torch.manual_seed(1)  # the same drop-path draws for both models
    model.zero_grad()
    out = model(*video) if isinstance(video, tuple) else model(video)
    loss = F.mse_loss(out, target)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("kind", ["pretrain", "classifier"])
def test_grad_checkpointing_gives_the_plain_loss_and_gradients(kind, monkeypatch):
    calls = []
    checkpoint = torch.utils.checkpoint.checkpoint
    monkeypatch.setattr(
        torch.utils.checkpoint,
        "checkpoint",
        lambda *a, **kw: calls.append(kw) or checkpoint(*a, **kw),
    )
    video = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    if kind == "pretrain":
        build = lambda **kw: videomae_pretrain("tiny", **TINY, drop_path_rate=0.2, **kw)  # noqa: E731
        inputs, target = (video, batch_masks((2, 4, 4), 0.75, 2)), torch.randn(2, 24, 384)
    else:
        net = {k: v for k, v in TINY.items() if not k.startswith("decoder")}
        build = lambda **kw: videomae_classifier(3, "tiny", **net, drop_path_rate=0.2, **kw)  # noqa: E731
        inputs, target = video, torch.randn(2, 3)
    plain, checkpointed = build(), build(grad_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    loss, grads = loss_and_grads(plain, inputs, target)
    loss_ckpt, grads_ckpt = loss_and_grads(checkpointed, inputs, target)
    blocks = 3 if kind == "pretrain" else 2  # encoder depth 2 (+ decoder depth 1)
    assert calls == [{"use_reentrant": False}] * blocks
    assert torch.equal(loss, loss_ckpt)
    for name, grad in grads.items():
        torch.testing.assert_close(grads_ckpt[name], grad, rtol=1e-6, atol=1e-7, msg=name)
    # A memory setting, not architecture, and not stored.
    assert "grad_checkpointing" not in {**checkpointed.config.as_dict(), **checkpointed.options}
