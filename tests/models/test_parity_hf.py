"""Parity with transformers' VideoMAE (the reference implementation), random weights, no hub."""

import pytest
import torch
from tiny_sizes import HF_CFG as CFG
from tiny_sizes import OURS

from videomae_ssl.checkpoints.hf_keys import from_hf, to_hf
from videomae_ssl.loss import pixel_targets, reconstruction_loss
from videomae_ssl.masking import token_indices, tube_mask
from videomae_ssl.models import VideoMAEClassifier, VideoMAEConfig, VideoMAEPretrainModel

transformers = pytest.importorskip("transformers")


def randomize(model):
    """Random values everywhere, biases and norms included, so no parameter goes unchecked."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


@pytest.mark.parametrize("norm_pix", [True, False])
def test_pretraining_matches_transformers(norm_pix):
    config = transformers.VideoMAEConfig(**CFG, use_mean_pooling=False, norm_pix_loss=norm_pix)
    hf = randomize(transformers.VideoMAEForPreTraining(config)).eval()
    hf.decoder.norm.eps = 1e-6  # transformers leaves this LayerNorm at torch's default 1e-5
    ours = VideoMAEPretrainModel(VideoMAEConfig(**OURS)).eval()
    result = ours.load_state_dict(from_hf(hf.state_dict(), pretraining=True), strict=True)
    assert not result.missing_keys and not result.unexpected_keys

    mask = torch.stack(
        [tube_mask((2, 4, 4), 0.75, torch.Generator().manual_seed(i)) for i in range(2)]
    )
    video = torch.randn(2, 3, 4, 32, 32)  # (B, C, T, H, W); transformers takes (B, T, C, H, W)
    with torch.no_grad():
        ref = hf(pixel_values=video.transpose(1, 2), bool_masked_pos=mask)
        pred = ours(video, mask)
        target = pixel_targets(video, 8, 2, norm_pix, ids=token_indices(mask).decoded)
        loss = reconstruction_loss(pred, target)
    torch.testing.assert_close(pred, ref.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss, ref.loss, atol=1e-5, rtol=1e-5)


def test_classifier_matches_transformers():
    config = transformers.VideoMAEConfig(**CFG, use_mean_pooling=True, num_labels=7)
    hf = randomize(transformers.VideoMAEForVideoClassification(config)).eval()
    hf.fc_norm.eps = 1e-6
    kw = {k: v for k, v in OURS.items() if not k.startswith("decoder")}
    ours = VideoMAEClassifier(VideoMAEConfig(**kw), num_classes=7).eval()
    ours.load_state_dict(from_hf(hf.state_dict(), pretraining=False), strict=True)
    video = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            ours(video), hf(pixel_values=video.transpose(1, 2)).logits, atol=1e-5, rtol=1e-5
        )


def test_hf_key_mapping_round_trips():
    ours = randomize(VideoMAEPretrainModel(VideoMAEConfig(**OURS)))
    state = ours.state_dict()
    back = from_hf(to_hf(state), pretraining=True)
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)
    config = transformers.VideoMAEConfig(**CFG, use_mean_pooling=False)
    assert set(to_hf(state)) == set(transformers.VideoMAEForPreTraining(config).state_dict())
