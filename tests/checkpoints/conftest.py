"""Tiny VideoMAE models on both sides (ours and transformers, the reference), random weights."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from tiny_sizes import HF_CFG, OURS

from videomae_ssl.loss import pixel_targets, reconstruction_loss
from videomae_ssl.masking import token_indices, tube_mask
from videomae_ssl.models import VideoMAEClassifier, VideoMAEConfig, VideoMAEPretrainModel

ENCODER = {k: v for k, v in OURS.items() if not k.startswith("decoder")}
# What the tiny models are built with, for formats that do not record it.
SIZES = dict(num_frames=4, img_size=32, num_heads=4, decoder_num_heads=2)


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values everywhere, biases and norms included, so no parameter goes unchecked."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model.eval()


def clip_and_mask(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """video (2, 3, 4, 32, 32) and a tube mask Bool[2, 32] (True = hidden)."""
    video = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(seed))
    mask = torch.stack(
        [tube_mask((2, 4, 4), 0.75, torch.Generator().manual_seed(i)) for i in range(2)]
    )
    return video, mask


def our_outputs(
    model: torch.nn.Module,
    video: torch.Tensor,
    mask: torch.Tensor | None = None,
    norm_pix: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits or predicted pixels, pretraining loss or None), computed without gradient."""
    model.eval()
    with torch.no_grad():
        if mask is None:
            return model(video), None
        pred = model(video, mask)
        target = pixel_targets(video, 8, 2, norm_pix, ids=token_indices(mask).decoded)
        return pred, reconstruction_loss(pred, target)


def hf_outputs(hf: torch.nn.Module, video: torch.Tensor, mask: torch.Tensor | None = None):
    """The reference's logits (and loss); transformers takes (B, T, C, H, W)."""
    # transformers hardcodes eps 1e-5 in fc_norm / decoder.norm; ours is the original's 1e-6.
    for name in ("fc_norm", "decoder"):
        module = getattr(hf, name, None)
        if module is not None:
            getattr(module, "norm", module).eps = 1e-6
    with torch.no_grad():
        if mask is None:
            return hf(pixel_values=video.transpose(1, 2)).logits, None
        out = hf(pixel_values=video.transpose(1, 2), bool_masked_pos=mask)
        return out.logits, out.loss


@pytest.fixture
def tiny() -> SimpleNamespace:
    """Builders for tiny random models (ours and transformers'), inputs and outputs."""

    def hf_pretrain(norm_pix_loss: bool = True, seed: int = 0, mean_pooling: bool = False):
        """`mean_pooling=True` (transformers' default) drops the encoder's final LayerNorm."""
        transformers = pytest.importorskip("transformers")
        config = transformers.VideoMAEConfig(
            **HF_CFG, use_mean_pooling=mean_pooling, norm_pix_loss=norm_pix_loss
        )
        return randomize(transformers.VideoMAEForPreTraining(config), seed)

    def hf_classifier(id2label: dict[int, str] | None = None, num_labels: int = 5, seed: int = 0):
        transformers = pytest.importorskip("transformers")
        labels = id2label or {i: f"LABEL_{i}" for i in range(num_labels)}
        config = transformers.VideoMAEConfig(
            **HF_CFG,
            use_mean_pooling=True,
            id2label=labels,
            label2id={v: k for k, v in labels.items()},
        )
        return randomize(transformers.VideoMAEForVideoClassification(config), seed)

    def ours_pretrain(seed: int = 0, **overrides):
        config, options = VideoMAEConfig.split({**OURS, **overrides})
        return randomize(VideoMAEPretrainModel(config, **options), seed)

    def ours_classifier(num_classes: int = 5, seed: int = 0, **overrides):
        config, options = VideoMAEConfig.split({**ENCODER, **overrides})
        return randomize(VideoMAEClassifier(config, num_classes=num_classes, **options), seed)

    return SimpleNamespace(
        hf_pretrain=hf_pretrain,
        hf_classifier=hf_classifier,
        ours_pretrain=ours_pretrain,
        ours_classifier=ours_classifier,
        clip_and_mask=clip_and_mask,
        our_outputs=our_outputs,
        hf_outputs=hf_outputs,
        sizes=SIZES,
        ours=OURS,
        encoder=ENCODER,
    )
