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
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from videomae_ssl.checkpoints import (
    CheckpointError,
    LoadedCheckpoint,
    load_checkpoint,
    load_pretrained_encoder,
)
from videomae_ssl.models.encoder import VideoMAEEncoder
from videomae_ssl.models.layers import LayerNorm
from videomae_ssl.models.pretrain import xavier_init
from videomae_ssl.models.sizes import get_size

# Constructor arguments of `VideoMAEEncoder` that a named size decides.
_ARCHITECTURE = ("embed_dim", "depth", "num_heads", "patch_size", "mlp_ratio")


class FrozenEncoder(VideoMAEEncoder):
    """A VideoMAE encoder with frozen weights; `forward` gives the pooled features.

    `final_norm`: a LayerNorm on the output tokens; `fc_norm`: a LayerNorm on their mean (see
    the module docstring). Other keyword arguments are `VideoMAEEncoder`'s.
    """

    def __init__(self, *, final_norm: bool = True, fc_norm: bool = False, **encoder: Any) -> None:
        super().__init__(final_norm=final_norm, **encoder)
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
    img_size: int = 224,
    num_frames: int = 16,
    patch_size: int | None = None,
    tubelet_size: int = 2,
    pretrained: str | None = None,
    log: Callable[[str], None] | None = print,
    **overrides: Any,
) -> FrozenEncoder:
    """A `FrozenEncoder` of a named size for clips of `num_frames` frames at `img_size` px,
    with the weights of `pretrained` (any format the project reads; its position table is
    resized to this grid when it was trained on another) or, without it, the random weights
    pretraining starts from. `overrides` replace the size's numbers (`embed_dim`, `depth`,
    `num_heads`, `mlp_ratio`). `log` receives the summary of what was loaded."""
    arch = {k: v for k, v in asdict(get_size(size)).items() if k in _ARCHITECTURE}
    arch.update({k: v for k, v in overrides.items() if v is not None})
    if patch_size:
        arch["patch_size"] = patch_size
    if pretrained:
        norms = _norms_of(load_checkpoint(pretrained))
    else:
        norms = {"final_norm": True, "fc_norm": False}
    model = FrozenEncoder(
        img_size=img_size, num_frames=num_frames, tubelet_size=tubelet_size, **arch, **norms
    )
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
    arch = {k: c[k] for k in (*_ARCHITECTURE, "tubelet_size", "img_size", "qkv_bias") if k in c}
    model = FrozenEncoder(num_frames=num_frames or c["num_frames"], **arch, **_norms_of(loaded))
    return _load(model, path, log)
