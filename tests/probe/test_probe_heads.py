"""The probes' heads and the frozen encoder: the attentive probe trains only its own
parameters (the encoder stays bit-identical and in eval mode), the linear probe is MAE's,
feature rows are ordered and checked, features are those of the checkpoint."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from videomae_ssl.data.transforms import normalize_video
from videomae_ssl.lightning.probe_modules import AttentiveProbeModule
from videomae_ssl.models import VideoMAEConfig, videomae_classifier, videomae_pretrain
from videomae_ssl.probe.encoder import FrozenEncoder, frozen_encoder, frozen_encoder_from_checkpoint
from videomae_ssl.probe.features import FeatureSet, order_rows
from videomae_ssl.probe.heads import AttentiveProbe, LinearProbe
from videomae_ssl.probe.linear import train_linear_probe

TINY = dict(img_size=32, patch_size=8, num_frames=4, embed_dim=32, depth=2, num_heads=2)


def tiny_encoder(**kw) -> FrozenEncoder:
    torch.manual_seed(0)
    return FrozenEncoder(VideoMAEConfig(**TINY), **{"drop_path_rate": 0.5, **kw})


def clip_batches(n=4, batch=2, classes=3):
    g = torch.Generator().manual_seed(1)
    # Normalised already: without a data module nothing normalises them on the device.
    items = [
        {
            "video": normalize_video(
                torch.randint(0, 256, (3, 4, 32, 32), dtype=torch.uint8, generator=g)
            ),
            "label": int(i % classes),
        }
        for i in range(n)
    ]
    return DataLoader(items, batch_size=batch)


def test_the_attentive_probe_trains_only_its_own_parameters():
    encoder = tiny_encoder()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    module = AttentiveProbeModule(encoder, num_classes=3, lr=1e-2)
    probe_before = {k: v.clone() for k, v in module.probe.state_dict().items()}
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, clip_batches())
    assert trainer.global_step == 4
    after = encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not encoder.training  # drop path never ran: the frozen forward is deterministic
    assert all(not p.requires_grad for p in encoder.parameters())
    changed = [
        k for k, v in module.probe.state_dict().items() if not torch.equal(v, probe_before[k])
    ]
    assert "query" in changed and "head.weight" in changed and "attn.kv.weight" in changed
    # Checkpoints keep the probe, not the frozen encoder.
    assert all(not k.startswith("encoder.") for k in module.state_dict())


def test_the_attentive_probe_is_vjepas_block():
    probe = AttentiveProbe(32, 4, num_classes=5)
    tokens = torch.randn(3, 10, 32)
    assert probe(tokens).shape == (3, 5)
    # The query attends over the normalised tokens; the query itself is not normalised.
    q = probe.query.expand(3, -1, -1)
    x = probe.norm1(tokens)
    heads, d = 4, 8
    qh = probe.attn.q(q).view(3, 1, heads, d).transpose(1, 2)
    k, v = probe.attn.kv(x).view(3, 10, 2, heads, d).permute(2, 0, 3, 1, 4)
    attn = (qh @ k.transpose(-2, -1) / d**0.5).softmax(-1) @ v  # (3, h, 1, d)
    y = q + probe.attn.proj(attn.transpose(1, 2).reshape(3, 1, 32))
    y = y + probe.mlp(probe.norm2(y))
    torch.testing.assert_close(probe(tokens), probe.head(y[:, 0]))


def test_the_linear_probe_normalises_without_affine_parameters():
    probe = LinearProbe(16, 4)
    names = [n for n, _ in probe.named_parameters()]
    assert names == ["head.weight", "head.bias"]
    assert not probe.norm.affine and probe.norm.eps == 1e-6


def test_the_linear_probe_learns_separable_features():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=g) * 3
    labels = torch.arange(200) % 4
    features = centres[labels] + torch.randn(200, 16, generator=g)
    rows = FeatureSet(features, labels, torch.arange(200), torch.zeros(200, dtype=torch.long))
    head = train_linear_probe(rows, 4, seed=0, progress=False)
    assert (head(features).argmax(1) == labels).float().mean() > 0.95
    again = train_linear_probe(rows, 4, seed=0, progress=False)
    assert torch.equal(head.head.weight, again.head.weight)  # deterministic for a seed


def test_rows_are_ordered_and_each_view_counted_once():
    rows = {
        "features": torch.arange(5.0).unsqueeze(1),
        "labels": torch.tensor([0, 1, 0, 1, 1]),
        "video_ids": torch.tensor([1, 0, 1, 0, 2]),
        "view_ids": torch.tensor([1, 0, 0, 1, 0]),
    }
    ordered = order_rows(rows, expected=5)
    assert ordered.video_ids.tolist() == [0, 0, 1, 1, 2]
    assert ordered.view_ids.tolist() == [0, 1, 0, 1, 0]
    assert ordered.features[:, 0].tolist() == [1.0, 3.0, 2.0, 0.0, 4.0]
    assert ordered.first_views().video_ids.tolist() == [0, 1, 2]
    twice = {k: torch.cat([v, v[:1]]) for k, v in rows.items()}
    with pytest.raises(ValueError, match="video 1 view 1 was scored more than once"):
        order_rows(twice)
    with pytest.raises(ValueError, match="gathered 5 views, expected 6"):
        order_rows(rows, expected=6)


def test_feature_sets_survive_the_disk(tmp_path):
    rows = FeatureSet(
        torch.randn(3, 4),
        torch.tensor([0, 1, 2]),
        torch.arange(3),
        torch.zeros(3, dtype=torch.long),
    )
    path = rows.save(tmp_path / "f" / "train.safetensors", {"pretrained": "x"})
    back = FeatureSet.load(path)
    assert all(torch.equal(getattr(rows, k), getattr(back, k)) for k in ("features", "labels"))
    assert not list(tmp_path.glob("f/.*"))  # no temporary file left


def test_features_of_a_pretraining_checkpoint_are_its_encoders_mean_tokens(tmp_path):
    from videomae_ssl.checkpoints import export_original

    torch.manual_seed(0)
    source = videomae_pretrain("tiny", img_size=32, patch_size=8, num_frames=4).eval()
    export_original(source, tmp_path / "pre.pth")
    video = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        want = source.encoder(video).mean(dim=1)  # (B, D), through the final norm
        for encoder in (
            frozen_encoder(
                size="tiny",
                img_size=32,
                num_frames=4,
                patch_size=8,
                pretrained=str(tmp_path / "pre.pth"),
                log=None,
            ),
            frozen_encoder_from_checkpoint(str(tmp_path / "pre.pth"), log=None),
        ):
            torch.testing.assert_close(encoder(video), want)


def test_features_of_a_classifier_are_its_forward_features(tmp_path):
    from videomae_ssl.checkpoints import export_original

    torch.manual_seed(0)
    source = videomae_classifier(5, "tiny", img_size=32, patch_size=8, num_frames=4).eval()
    with torch.no_grad():
        source.fc_norm.weight.uniform_(0.5, 1.5)  # a trained fc_norm, not the identity
    export_original(source, tmp_path / "ft.pth")
    video = torch.randn(2, 3, 4, 32, 32)
    encoder = frozen_encoder_from_checkpoint(str(tmp_path / "ft.pth"), log=None)
    with torch.no_grad():
        torch.testing.assert_close(encoder(video), source.forward_features(video))
