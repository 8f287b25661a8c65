"""The VideoMAE encoder: tubelet tokens + fixed sinusoid positions + pre-norm ViT blocks.

During pretraining the encoder sees only the visible tokens; they are picked by index (not by
a boolean-mask reshape) so every shape is static, and before the embedding, so the masked ones
cost nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videomae_ssl.models.config import VideoMAEConfig
from videomae_ssl.models.layers import Block, LayerNorm, TubeletEmbed, run_blocks, stochastic_depth
from videomae_ssl.models.pos_embed import sinusoid_table


class VideoMAEEncoder(nn.Module):
    """Video ViT backbone. Parameter names follow the original VideoMAE checkpoints.

    The architecture is `config` (its decoder fields are not read), kept as `self.config`.
    `grad_checkpointing` recomputes each block's activations in the backward pass instead of
    keeping them (see `run_blocks`): a memory setting, not part of the architecture, so it is
    not in the models' `options` either.
    """

    def __init__(
        self,
        config: VideoMAEConfig | None = None,
        *,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        final_norm: bool = True,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        c = self.config = config or VideoMAEConfig()
        self.grad_checkpointing = grad_checkpointing
        self.img_size = c.img_size
        self.num_frames = c.num_frames
        self.embed_dim = c.embed_dim
        self.grid = c.grid
        self.patch_embed = TubeletEmbed(c.patch_size, c.tubelet_size, c.in_chans, c.embed_dim)
        self.register_buffer(
            "pos_embed", sinusoid_table(c.num_tokens, c.embed_dim), persistent=False
        )
        dpr = stochastic_depth(drop_path_rate, c.depth)
        self.blocks = nn.ModuleList(
            Block(
                c.embed_dim, c.num_heads, c.mlp_ratio, c.qkv_bias, drop_rate, attn_drop_rate, dpr[i]
            )
            for i in range(c.depth)
        )
        self.norm = LayerNorm(c.embed_dim) if final_norm else nn.Identity()

    @property
    def num_tokens(self) -> int:
        return self.pos_embed.shape[0]

    def set_pos_embed(self, table: torch.Tensor, learnable: bool = False) -> None:
        """Replace the default sinusoid positions with `table` (N, D).

        Used when a checkpoint's positions were rebuilt for another token grid or were learned.
        Unlike the default table, this one is saved in the state dict (key `pos_embed`), so the
        model keeps it through its own checkpoints; `learnable` makes it a trained parameter.
        """
        if tuple(table.shape) != (self.num_tokens, self.embed_dim):
            raise ValueError(
                f"position table {tuple(table.shape)} does not fit {self.num_tokens} tokens of "
                f"width {self.embed_dim}"
            )
        table = table.detach().clone().to(self.pos_embed.device, self.pos_embed.dtype)
        del self.pos_embed
        if learnable:
            self.pos_embed = nn.Parameter(table)
        else:
            self.register_buffer("pos_embed", table, persistent=True)

    def embed(self, video: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """video: (B, C, T, H, W) -> tokens with positions added (B, N, D); with `ids` (B, K),
        only those tokens (B, K, D), the others are never computed."""
        grid = self.patch_embed.grid(video)
        if grid != self.grid:
            raise ValueError(
                f"input gives {grid[0] * grid[1] * grid[2]} tokens but the model was built for "
                f"{self.num_tokens} ({self.num_frames} frames at {self.img_size}px); video shape "
                f"{tuple(video.shape)}"
            )
        x = self.patch_embed(video, ids)  # (B, N or K, D)
        pos = self.pos_embed if ids is None else F.embedding(ids, self.pos_embed)  # (B?, N/K, D)
        return x + pos.to(x.dtype)

    def forward(self, video: torch.Tensor, ids_visible: torch.Tensor | None = None) -> torch.Tensor:
        """video: (B, C, T, H, W); ids_visible: (B, N_vis) or None for all tokens.

        Returns the normalised tokens (B, N_vis, D). Only the visible tokens are embedded, each
        with the position of its place in the full grid.
        """
        x = self.embed(video, ids_visible)  # (B, N_vis, D)
        x = run_blocks(self.blocks, x, self.grad_checkpointing)  # (B, N_vis, D)
        return self.norm(x)
