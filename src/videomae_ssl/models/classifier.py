"""VideoMAE for classification (fine-tuning): mean-pooled tokens -> fc_norm -> dropout -> head.

Parameter names follow the released fine-tuned checkpoints (`patch_embed`, `blocks`, `fc_norm`,
`head`). The pretrained encoder's final `norm` is not used: `fc_norm` replaces it.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import nn

from videomae_ssl.models.config import VideoMAEConfig
from videomae_ssl.models.encoder import VideoMAEEncoder
from videomae_ssl.models.layers import LayerNorm


class VideoMAEClassifier(VideoMAEEncoder):
    """The encoder with a classification head over `num_classes` classes; the architecture is
    `config` (its decoder fields are not read), `grad_checkpointing` as in `VideoMAEEncoder`.
    `options` holds the other arguments a checkpoint needs to rebuild the model."""

    def __init__(
        self,
        config: VideoMAEConfig | None = None,
        *,
        num_classes: int,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        fc_drop_rate: float = 0.0,
        init_scale: float = 0.001,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__(
            config,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
            final_norm=False,
            grad_checkpointing=grad_checkpointing,
        )
        self.options: dict[str, Any] = {
            "num_classes": operator.index(num_classes),
            "drop_rate": float(drop_rate),
            "attn_drop_rate": float(attn_drop_rate),
            "drop_path_rate": float(drop_path_rate),
            "fc_drop_rate": float(fc_drop_rate),
            "init_scale": float(init_scale),
        }
        self.num_classes = self.options["num_classes"]
        self.fc_norm = LayerNorm(self.embed_dim)
        self.fc_dropout = nn.Dropout(fc_drop_rate)
        self.head = nn.Linear(self.embed_dim, self.num_classes)
        self.reset_parameters(init_scale)

    def reset_parameters(self, init_scale: float = 0.001) -> None:
        """The original fine-tuning initialisation: trunc-normal(0.02) Linear weights, then the
        head scaled by `init_scale` so that training starts from near-uniform predictions."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.head.weight.mul_(init_scale)
            self.head.bias.mul_(init_scale)

    def no_weight_decay(self) -> set[str]:
        """Parameters that skip weight decay besides biases and norms: a learned position table."""
        return {"pos_embed"}

    def group_matcher(self, coarse: bool = False) -> dict[str, str]:
        """Layer ids for layer-wise lr decay (timm's `param_groups_layer_decay`): the tubelet
        embedding is layer 0, block i is layer i + 1, and everything after the blocks (fc_norm,
        head) shares the top layer, as in the original fine-tuning script."""
        return {"stem": r"^pos_embed|^patch_embed", "blocks": r"^blocks\.(\d+)"}

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """video: (B, C, T, H, W) -> pooled features (B, D)."""
        x = super().forward(video)  # (B, N, D); final norm is the identity here
        return self.fc_norm(x.mean(dim=1))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """video: (B, C, T, H, W) -> logits (B, num_classes)."""
        return self.head(self.fc_dropout(self.forward_features(video)))
