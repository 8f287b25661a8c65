"""The probe's frozen encoder is the checkpoint's own architecture, whatever model.net says."""

import torch

from videomae_ssl.checkpoints import export_original
from videomae_ssl.models.build import videomae_pretrain
from videomae_ssl.probe.encoder import frozen_encoder


def test_a_checkpoint_is_probed_with_its_own_architecture(tmp_path):
    """A ViT-tiny, patch-8 pretraining checkpoint under the probe config's defaults (ViT-B,
    patch 16): its own encoder is built at the data's frames and size, and the log says what
    model.net described instead."""
    source = videomae_pretrain("tiny", patch_size=8, img_size=32, num_frames=4)
    export_original(source, tmp_path / "tiny.pth")
    lines = []
    encoder = frozen_encoder(
        size="base",
        pretrained=str(tmp_path / "tiny.pth"),
        img_size=32,
        num_frames=8,
        log=lines.append,
    )
    assert (encoder.config.embed_dim, encoder.config.depth, encoder.config.patch_size) == (
        192,
        4,
        8,
    )
    assert encoder.grid == (4, 4, 4)  # 8 frames of the data, tubelet 2; 32 px, patch 8
    assert lines[0] == (
        "model.net describes another encoder (patch_size 16, embed_dim 768, depth "
        "12, num_heads 12); probing the checkpoint's own (patch_size 8, embed_dim "
        "192, depth 4, num_heads 3)."
    )
    block = "blocks.0.attn.qkv.weight"
    assert torch.equal(encoder.state_dict()[block], source.encoder.state_dict()[block])
