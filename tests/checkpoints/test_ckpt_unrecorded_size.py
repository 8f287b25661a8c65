"""`pretrained=` with an original `.pth` that records no input size and holds no position table:
the encoder is loaded on the model's own token grid, not on an assumed 16 frames at 224 px."""

from __future__ import annotations

import pytest
import torch

from videomae_ssl.checkpoints import CheckpointError, load_checkpoint, load_pretrained_encoder
from videomae_ssl.models import VideoMAEConfig, VideoMAEEncoder, videomae_pretrain
from videomae_ssl.models.pos_embed import sinusoid_table
from videomae_ssl.probe.encoder import frozen_encoder

# 8 frames at 64 px, tubelet 2, patch 16: a 4x4x4 token grid (the file says none of it).
GEOMETRY = dict(num_frames=8, img_size=64, tubelet_size=2, patch_size=16)
ARCH = dict(embed_dim=48, depth=2, num_heads=4)


def source_and_file(tmp_path, table: bool = False):
    """A random pretraining model and its original-layout file: V1 key names under 'model',
    no 'args', no pos_embed (or, with `table`, a learned one)."""
    torch.manual_seed(0)
    source = videomae_pretrain("tiny", **GEOMETRY, **ARCH)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_(0, 0.2)
    if table:
        source.encoder.set_pos_embed(torch.randn(64, 48), learnable=True)
    state = source.state_dict()
    assert ("encoder.pos_embed" in state) is table and "encoder.blocks.0.attn.q_bias" in state
    if table:
        state["encoder.pos_embed"] = state["encoder.pos_embed"][None]  # (1, N, D) as the original
    torch.save({"model": state, "epoch": 10}, tmp_path / "checkpoint-9.pth")
    return source.eval(), tmp_path / "checkpoint-9.pth"


def video() -> torch.Tensor:
    return torch.randn(
        2, 3, 8, 64, 64, generator=torch.Generator().manual_seed(1)
    )  # (B, C, T, H, W)


def test_the_model_grid_is_used_when_the_file_records_none(tmp_path):
    source, path = source_and_file(tmp_path)
    target = VideoMAEEncoder(VideoMAEConfig(**GEOMETRY, **ARCH)).eval()
    report = load_pretrained_encoder(target, path, log=None)
    with torch.no_grad():
        torch.testing.assert_close(target(video()), source.encoder(video()), atol=1e-6, rtol=0)
    assert not any("resized" in n for n in report.notes), report.notes
    said = [n for n in report.notes if "assumed" in n]
    assert len(said) == 1 and "8 frames at 64 px" in said[0] and "the model's" in said[0], said
    assert "pass num_frames / img_size" in said[0]


def test_the_frozen_probe_encoder_loads_it_the_same_way(tmp_path):
    source, path = source_and_file(tmp_path)
    probe = frozen_encoder(size="tiny", **GEOMETRY, **ARCH, pretrained=str(path), log=None)
    with torch.no_grad():
        torch.testing.assert_close(
            probe.forward_tokens(video()), source.encoder(video()), atol=1e-6, rtol=0
        )


def test_a_given_input_size_still_wins(tmp_path):
    """num_frames / img_size passed by the caller describe the file: its grid is resized."""
    _, path = source_and_file(tmp_path)
    target = VideoMAEEncoder(VideoMAEConfig(**GEOMETRY, **ARCH))
    report = load_pretrained_encoder(target, path, num_frames=4, img_size=64, log=None)
    assert any("token grid 2x4x4 in the checkpoint, 4x4x4 in the model" in n for n in report.notes)
    assert not torch.equal(target.pos_embed, sinusoid_table(64, 48))


def test_a_file_with_a_position_table_is_read_as_before(tmp_path):
    """The stored table gives the token count, and 64 positions are no 224 px grid: an error
    asking for the size, as before; given the size, it loads with its own table."""
    source, path = source_and_file(tmp_path, table=True)
    with pytest.raises(CheckpointError, match="pos_embed has 64 positions.*pass the checkpoint's"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="pos_embed has 64 positions"):
        load_pretrained_encoder(VideoMAEEncoder(VideoMAEConfig(**GEOMETRY, **ARCH)), path, log=None)
    target = VideoMAEEncoder(VideoMAEConfig(**GEOMETRY, **ARCH)).eval()
    load_pretrained_encoder(target, path, num_frames=8, img_size=64, log=None)
    with torch.no_grad():
        torch.testing.assert_close(target(video()), source.encoder(video()), atol=1e-6, rtol=0)
