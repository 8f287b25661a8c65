"""Classifier heads trained on a frozen encoder: the linear probe (MAE) and the attentive
probe (V-JEPA)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from torch import nn


class LinearProbe(nn.Module):
    """MAE's linear probe: a BatchNorm without affine parameters, then a Linear head.

    The BatchNorm only standardises each feature dimension with running statistics (it adds
    nothing a linear layer could not learn, but makes one learning rate suit features of any
    scale). features: (B, D) -> logits (B, num_classes). The head starts from
    trunc_normal(std 0.01) weights and zero bias, as in MAE's `main_linprobe.py`.
    """

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(dim, affine=False, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(features))


class CrossAttention(nn.Module):
    """Multi-head attention of a few queries over many tokens. q: (B, n, D), x: (B, N, D) ->
    (B, n, D)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        b, n, d = q.shape
        heads, head_dim = self.num_heads, d // self.num_heads
        q = self.q(q).view(b, n, heads, head_dim).transpose(1, 2)  # (B, h, n, d_h)
        k, v = self.kv(x).view(b, x.shape[1], 2, heads, head_dim).permute(2, 0, 3, 1, 4)
        # k, v: (B, h, N, d_h); scale head_dim ** -0.5
        out = F.scaled_dot_product_attention(q, k, v)  # (B, h, n, d_h)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))  # (B, n, D)


class AttentiveProbe(nn.Module):
    """V-JEPA's attentive probe: one learnable query token attends over all the frozen patch
    tokens in one cross-attention block (attention + MLP, pre-norm on the tokens), then a
    Linear head reads the query.

    tokens: (B, N, D) -> logits (B, num_classes). As in V-JEPA, the query is not normalised
    before the attention (only the tokens are), LayerNorms use PyTorch's default eps, weights
    start from trunc_normal(std 0.02) with zero biases, and the block's two output
    projections are divided by sqrt(2).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        num_classes: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        init_std: float = 0.02,
    ) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.norm1 = nn.LayerNorm(dim)
        self.attn = CrossAttention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)
        self.head = nn.Linear(dim, num_classes)
        self.reset_parameters(init_std)

    def reset_parameters(self, init_std: float = 0.02) -> None:
        nn.init.trunc_normal_(self.query, std=init_std)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=init_std)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            # The residual branches of the one block ("layer 1"): std / sqrt(2 * 1).
            self.attn.proj.weight.div_(math.sqrt(2.0))
            self.mlp.fc2.weight.div_(math.sqrt(2.0))

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (B, N, D) -> the attended query (B, D)."""
        q = self.query.expand(len(tokens), -1, -1)  # (B, 1, D)
        q = q + self.attn(q, self.norm1(tokens))  # (B, 1, D)
        q = q + self.mlp(self.norm2(q))
        return q[:, 0]  # (B, D)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(tokens))
