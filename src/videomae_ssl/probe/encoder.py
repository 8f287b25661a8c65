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
from videomae_ssl.models.config import VideoMAEConfig
from videomae_ssl.models.encoder import VideoMAEEncoder
from videomae_ssl.models.layers import LayerNorm
from videomae_ssl.models.pretrain import xavier_init
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
    try:
        load_pretrained_encoder(model, path, log=log)
    except CheckpointError as err:
        if "different model size" not in str(err):
            raise
        raise CheckpointError(f"{err} Set model.net.size to the checkpoint's.") from None
    return model.requires_grad_(False)  # a loaded position table arrives trainable


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
    None keeps the size's). `log` receives the summary of what was loaded. What
    `model.net` of configs/model/videomae_probe.yaml builds."""
    config = size_config(size, **architecture)
    if pretrained:
        norms = _norms_of(load_checkpoint(pretrained))
    else:
        norms = {"final_norm": True, "fc_norm": False}
    model = FrozenEncoder(config, **norms)
    return _load(model, pretrained, log) if pretrained else model


def frozen_encoder_from_checkpoint(
    path: str,
    *,
    num_frames: int | None = None,
    log: Callable[[str], None] | None = print,
) -> FrozenEncoder:
    """The `FrozenEncoder` of the checkpoint at `path` with its own architecture and image
    size, for clips of `num_frames` frames (default: its own; others resize its positions)."""
    loaded = load_checkpoint(path)
    c = loaded.config
    if not c.get("num_heads"):
        raise CheckpointError(f"{path}: num_heads is unknown for width {c['embed_dim']}.")
    config, _ = VideoMAEConfig.split({k: v for k, v in c.items() if v is not None})
    config = config.replace(num_frames=num_frames or config.num_frames)
    return _load(FrozenEncoder(config, **_norms_of(loaded)), path, log)
