"""The frozen encoder that frozen evaluation and feature extraction read.

What a checkpoint's features are depends on what it was trained with, and is kept as it is:

- tokens: the encoder's output tokens (B, N, D), through its final LayerNorm when it has one
  (pretraining checkpoints, ours and the original's; not transformers' `use_mean_pooling`
  ones, nor fine-tuned classifiers, whose `fc_norm` replaced it);
- pooled: the mean of those tokens (B, D), then `fc_norm` when the checkpoint has one (a
  fine-tuned classifier: VideoMAE V2's `forward_features`, what its TAD features are).

The weights never train: every parameter has `requires_grad=False` and the module stays in
eval mode (no drop path, no dropout) whatever `train()` asks, so a frozen forward is the same
in every epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from videomae_ssl.checkpoints import (
    CheckpointError,
    LoadedCheckpoint,
    load_checkpoint,
    load_pretrained_encoder,
)
from videomae_ssl.models.autoencoder import xavier_init
from videomae_ssl.models.config import DECODER_FIELDS, VideoMAEConfig
from videomae_ssl.models.encoder import VideoMAEEncoder
from videomae_ssl.models.layers import LayerNorm
from videomae_ssl.models.sizes import size_config


class FrozenEncoder(VideoMAEEncoder):
    """A VideoMAE encoder with frozen weights; `forward` gives the pooled features.

    `config` is the architecture; `final_norm`: a LayerNorm on the output tokens; `fc_norm`: a
    LayerNorm on their mean (see the module docstring). Other keyword arguments are
    `VideoMAEEncoder`'s.
    """

    def __init__(
        self,
        config: VideoMAEConfig | None = None,
        *,
        final_norm: bool = True,
        fc_norm: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(config, final_norm=final_norm, **options)
        self.fc_norm = LayerNorm(self.embed_dim) if fc_norm else nn.Identity()
        xavier_init(self)  # the weights pretraining starts from, for a random-weight baseline
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FrozenEncoder:
        """Stays in eval mode: frozen evaluation never trains it."""
        return super().train(False)

    def forward_tokens(self, video: torch.Tensor) -> torch.Tensor:
        """video: (B, C, T, H, W) normalised -> tokens (B, N, D)."""
        return super().forward(video)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """video: (B, C, T, H, W) normalised -> pooled features (B, D)."""
        return self.fc_norm(self.forward_tokens(video).mean(dim=1))


def _norms_of(loaded: LoadedCheckpoint) -> dict[str, bool]:
    """Which LayerNorms the checkpoint's features go through (see the module docstring)."""
    prefix = "encoder." if loaded.kind == "pretrain" else ""
    return {
        "final_norm": f"{prefix}norm.weight" in loaded.state,
        "fc_norm": loaded.kind == "classifier" and "fc_norm.weight" in loaded.state,
    }


def _load(model: FrozenEncoder, path: str, log: Callable[[str], None] | None) -> FrozenEncoder:
    load_pretrained_encoder(model, path, log=log)
    return model.requires_grad_(False)  # a loaded position table arrives trainable


def _recorded(loaded: LoadedCheckpoint) -> VideoMAEConfig:
    """The checkpoint's architecture: what it records, else what its tensors' shapes say."""
    config, _ = VideoMAEConfig.split({k: v for k, v in loaded.config.items() if v is not None})
    return config


def frozen_encoder(
    *,
    size: str = "base",
    pretrained: str | None = None,
    log: Callable[[str], None] | None = print,
    **architecture: Any,
) -> FrozenEncoder:
    """A `FrozenEncoder` of a named size with the weights of `pretrained` (any format the
    project reads; its position table is resized to this grid when it was trained on another)
    or, without it, the random weights pretraining starts from. `architecture` replaces the
    size's fields (`VideoMAEConfig`: `img_size`, `num_frames`, `patch_size`, `embed_dim`, ...;
    None keeps the size's). With `pretrained`, the checkpoint's own architecture (recorded, or
    read off its tensors) is probed at the given frames and image size, and `log` hears where
    it differs from the size's. `log` receives the summary of what was loaded. What
    `model.net` of configs/model/videomae_probe.yaml builds."""
    config = size_config(size, **architecture)
    if not pretrained:
        return FrozenEncoder(config, final_norm=True, fc_norm=False)
    # The checkpoint's own architecture (width, depth, heads, patch, tubelet), at the data's
    # frames and image size: model.net's size and patch only describe random weights.
    loaded = load_checkpoint(pretrained)
    if not loaded.config.get("num_heads"):
        # A width no named size has: the head count is the config's, when it is of that width.
        width = loaded.config["embed_dim"]
        if width != config.embed_dim:
            raise CheckpointError(
                f"{pretrained}: num_heads is unknown for width {width}; set "
                f"model.net.embed_dim={width} and model.net.num_heads."
            )
        loaded = load_checkpoint(pretrained, num_heads=config.num_heads)
    recorded = _recorded(loaded)
    own = recorded.replace(img_size=config.img_size, num_frames=config.num_frames)
    # The encoder's fields that differ (the decoder's are not built, the input is the data's).
    differ = [
        f
        for f in own.field_names()
        if f not in DECODER_FIELDS and getattr(own, f) != getattr(config, f)
    ]
    if differ and log is not None:
        log(
            f"model.net describes another encoder ({', '.join(f'{f} {getattr(config, f)}' for f in differ)}); "
            f"probing the checkpoint's own ({', '.join(f'{f} {getattr(own, f)}' for f in differ)})."
        )
    return _load(FrozenEncoder(own, **_norms_of(loaded)), pretrained, log)


def frozen_encoder_from_checkpoint(
    path: str,
    *,
    num_frames: int | None = None,
    log: Callable[[str], None] | None = print,
) -> FrozenEncoder:
    """The `FrozenEncoder` of the checkpoint at `path` with its own architecture and image
    size, for clips of `num_frames` frames (default: its own; others resize its positions)."""
    loaded = load_checkpoint(path)
    if not loaded.config.get("num_heads"):
        raise CheckpointError(
            f"{path}: num_heads is unknown for width {loaded.config['embed_dim']}."
        )
    config = _recorded(loaded)
    config = config.replace(num_frames=num_frames or config.num_frames)
    return _load(FrozenEncoder(config, **_norms_of(loaded)), path, log)
