"""Transformer blocks of VideoMAE: pre-norm, qkv without bias plus learnable q and v biases."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from timm.layers import DropPath, Mlp
from torch import nn

from videomae_ssl.masking.indexing import token_coords

LayerNorm = partial(nn.LayerNorm, eps=1e-6)


class Attention(nn.Module):
    """Multi-head self-attention with the VideoMAE bias layout.

    The qkv projection has no bias of its own; `q_bias` and `v_bias` are learned and the k bias is
    fixed at zero (a k bias would cancel in the softmax anyway). Runs through
    `scaled_dot_product_attention`, which picks the flash or memory-efficient kernel when it can.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = self.v_bias = None
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def qkv_bias(self) -> torch.Tensor | None:
        """The full (3 * dim,) qkv bias: q_bias | 0 | v_bias."""
        if self.q_bias is None:
            return None
        return torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, D) -> (B, N, D)."""
        b, n, d = x.shape
        qkv = F.linear(x, self.qkv.weight, self.qkv_bias())  # (B, N, 3D)
        q, k, v = qkv.view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.0
        )  # (B, heads, N, head_dim); default scale head_dim ** -0.5
        x = x.transpose(1, 2).reshape(b, n, d)  # (B, N, D)
        return self.proj_drop(self.proj(x))


class Block(nn.Module):
    """Pre-norm ViT block: x + attn(norm1(x)), then x + mlp(norm2(x)), exact GELU."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_layer: type[nn.Module] | partial = LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, D) -> (B, N, D)."""
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class TubeletEmbed(nn.Module):
    """Video to tokens: a Conv3d with kernel = stride = (tubelet, patch, patch).

    The convolution's weights are applied as one matrix product over the tubelets, which also
    lets the pretraining encoder embed only its visible tokens (the masked ones would be thrown
    away after the embedding). The parameters stay those of the Conv3d (`proj.weight`,
    `proj.bias`) so checkpoints keep their layout.
    """

    def __init__(
        self, patch_size: int = 16, tubelet_size: int = 2, in_chans: int = 3, embed_dim: int = 768
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        kernel = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=kernel, stride=kernel)

    def grid(self, video: torch.Tensor) -> tuple[int, int, int]:
        """(T', H', W') of a (B, C, T, H, W) video; the tubelets must tile it exactly."""
        *_, t, h, w = video.shape
        q, p = self.tubelet_size, self.patch_size
        if t % q or h % p or w % p:
            raise ValueError(
                f"video shape {tuple(video.shape)} is not tiled by {q}x{p}x{p} tubelets"
            )
        return t // q, h // p, w // p

    def forward(self, video: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """video: (B, C, T, H, W) -> tokens (B, T' * H' * W', D) in (t, h, w) order, w fastest;
        with `ids` (B, K), only those tokens (B, K, D)."""
        b, c = video.shape[:2]
        (t, h, w), q, p = self.grid(video), self.tubelet_size, self.patch_size
        x = video.reshape(b, c, t, q, h, p, w, p).permute(0, 2, 4, 6, 1, 3, 5, 7)
        # x: (B, T', H', W', C, q, p, p), a view; each tubelet in the Conv3d weight's order.
        if ids is None:
            x = x.reshape(b, t * h * w, -1)  # (B, N, C*q*p*p)
        else:
            rows = torch.arange(b, device=ids.device).unsqueeze(1)  # (B, 1)
            x = x[(rows, *token_coords(ids, (t, h, w)))].flatten(2)  # (B, K, C*q*p*p)
        return F.linear(x, self.proj.weight.flatten(1), self.proj.bias)  # (B, K, D)


def stochastic_depth(drop_path_rate: float, depth: int) -> list[float]:
    """Drop-path rate of each block, rising linearly from 0 to `drop_path_rate`."""
    # On the CPU whatever the default device, so that models also build on the meta device.
    return torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor, checkpointed: bool = False) -> torch.Tensor:
    """x: (B, N, D) through each block in turn -> (B, N, D).

    With `checkpointed`, while gradients are recorded, each block keeps only its input for the
    backward pass and runs its forward again there (activation checkpointing, non-reentrant):
    activation memory falls from every block's intermediates to one tensor per block, for
    about a third more compute. The random state is replayed, so dropout and drop path draw
    the same values twice and the gradients are those of the plain blocks.
    """
    checkpointed = checkpointed and torch.is_grad_enabled()
    for block in blocks:
        if checkpointed:
            x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
        else:
            x = block(x)
    return x
