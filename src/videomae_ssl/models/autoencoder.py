"""VideoMAE for pretraining: encoder on visible tokens, light decoder, pixel head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from videomae_ssl.masking.indexing import TokenIndices, token_indices
from videomae_ssl.models.config import VideoMAEConfig
from videomae_ssl.models.encoder import VideoMAEEncoder
from videomae_ssl.models.layers import Block, LayerNorm, run_blocks
from videomae_ssl.models.pos_embed import sinusoid_table


def xavier_init(module: nn.Module) -> None:
    """VideoMAE's pretraining initialisation of every Linear (xavier-uniform weights, zero
    biases) and LayerNorm (unit weights, zero biases) in `module`; the tubelet Conv3d keeps
    PyTorch's default, as in the original."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class VideoMAEDecoder(nn.Module):
    """Decoder blocks, LayerNorm and a linear head to the target (tubelet pixels by default)."""

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        out_dim: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.grad_checkpointing = grad_checkpointing
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias) for _ in range(depth)
        )
        self.norm = LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, out_dim)

    def forward(self, x: torch.Tensor, num_predicted: int) -> torch.Tensor:
        """x: (B, N_in, D) -> predictions for the last `num_predicted` tokens (B, K, out_dim)."""
        x = run_blocks(self.blocks, x, self.grad_checkpointing)  # (B, N_in, D)
        return self.head(self.norm(x[:, -num_predicted:]))


class DecoderBranch(nn.Module):
    """A second (third, ...) decoder beside the model's own: its own projection from the
    encoder, mask token and `VideoMAEDecoder`, as MVD's student has one per teacher."""

    def __init__(
        self,
        encoder_dim: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        out_dim: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.encoder_to_decoder = nn.Linear(encoder_dim, embed_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.decoder = VideoMAEDecoder(
            embed_dim, depth, num_heads, out_dim, mlp_ratio, qkv_bias, grad_checkpointing
        )


class VideoMAEPretrainModel(nn.Module):
    """Masked video autoencoder (Tong et al. 2022).

    `forward(video, mask)` returns the predicted pixels of the masked tokens, in ascending token
    order, as (B, N_masked, tubelet * patch**2 * C). The caller draws the mask; the model never
    does. With VideoMAE V2's decoder masking (a `TokenIndices` built with a decoder mask) the
    decoder gets mask tokens only at the positions the decoder mask keeps and predicts those.
    The architecture, encoder and decoder, is `config` (kept as `self.config`); `options` holds
    the other arguments a checkpoint needs to rebuild the model. `final_norm=False` leaves out
    the encoder's last LayerNorm, as transformers' pretraining model does with its default
    `use_mean_pooling=True`. `grad_checkpointing` recomputes every encoder and decoder block in
    the backward pass instead of keeping its activations (a memory setting, left out of
    `options`). `decoder_out_dim` is the width of a token's target when it is not the tubelet's
    pixels (e.g. MaskFeat's HOG, `videomae_ssl.loss.hog`); None: `config.tubelet_values`.
    `extra_decoder_dims` adds one decoder per width (`DecoderBranch`, the same architecture as
    the first, each with its own head), which `forward_decoders` runs on the same encoded
    tokens: MVD's student, one decoder per teacher (`videomae_ssl.loss.feature_targets`).
    """

    def __init__(
        self,
        config: VideoMAEConfig | None = None,
        *,
        decoder_out_dim: int | None = None,
        drop_path_rate: float = 0.0,
        final_norm: bool = True,
        grad_checkpointing: bool = False,
        extra_decoder_dims: Sequence[int] = (),
    ) -> None:
        super().__init__()
        c = self.config = config or VideoMAEConfig()
        self.options: dict[str, Any] = {
            "drop_path_rate": float(drop_path_rate),
            "final_norm": bool(final_norm),
        }
        self.decoder_out_dim = c.tubelet_values if decoder_out_dim is None else int(decoder_out_dim)
        self.options["decoder_out_dim"] = self.decoder_out_dim
        self.extra_decoder_dims = tuple(int(d) for d in extra_decoder_dims)
        self.options["extra_decoder_dims"] = list(self.extra_decoder_dims)
        self.patch_size = c.patch_size
        self.tubelet_size = c.tubelet_size
        self.encoder = VideoMAEEncoder(
            c,
            drop_path_rate=drop_path_rate,
            final_norm=final_norm,
            grad_checkpointing=grad_checkpointing,
        )
        self.encoder_to_decoder = nn.Linear(c.embed_dim, c.decoder_embed_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_embed_dim))
        self.register_buffer(
            "decoder_pos_embed",
            sinusoid_table(c.num_tokens, c.decoder_embed_dim),
            persistent=False,
        )
        self.decoder = VideoMAEDecoder(
            c.decoder_embed_dim,
            c.decoder_depth,
            c.decoder_num_heads,
            self.decoder_out_dim,
            c.mlp_ratio,
            c.qkv_bias,
            grad_checkpointing=grad_checkpointing,
        )
        self.extra_decoders = nn.ModuleList(
            DecoderBranch(
                c.embed_dim,
                c.decoder_embed_dim,
                c.decoder_depth,
                c.decoder_num_heads,
                width,
                c.mlp_ratio,
                c.qkv_bias,
                grad_checkpointing,
            )
            for width in self.extra_decoder_dims
        )
        self.reset_parameters()

    @property
    def grid(self) -> tuple[int, int, int]:
        return self.encoder.grid

    def reset_parameters(self) -> None:
        """The original initialisation: xavier-uniform Linear weights, zero biases, unit norms."""
        xavier_init(self)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        for branch in self.extra_decoders:
            nn.init.trunc_normal_(branch.mask_token, std=0.02)

    @property
    def decoder_dims(self) -> tuple[int, ...]:
        """The output width of every decoder, the first (`decoder`) first."""
        return (self.decoder_out_dim, *self.extra_decoder_dims)

    def no_weight_decay(self) -> set[str]:
        """Parameters that skip weight decay besides biases and norms (timm's convention)."""
        extra = {f"extra_decoders.{i}.mask_token" for i in range(len(self.extra_decoders))}
        return {"mask_token", *extra}

    def forward(self, video: torch.Tensor, mask: torch.Tensor | TokenIndices) -> torch.Tensor:
        """video: (B, C, T, H, W); mask: Bool[B, N] (True = hidden) or its `TokenIndices`
        -> predictions for the decoded tokens (B, K, P), K = N_masked without decoder masking.

        Pass `TokenIndices` (from `token_indices`, computed once per step on the host) for the
        path without host syncs, which `torch.compile` traces as one graph; a boolean mask is
        turned into indices here, reading its token count back from the device.
        """
        return self.forward_decoders(video, mask)[0]

    def forward_decoders(
        self, video: torch.Tensor, mask: torch.Tensor | TokenIndices
    ) -> list[torch.Tensor]:
        """As `forward`, with every decoder's predictions: [(B, K, P_0), (B, K, P_1), ...], the
        encoder run once."""
        ids = token_indices(mask) if isinstance(mask, torch.Tensor) else mask
        x = self.encoder(video, ids.visible)  # (B, N_vis, D_enc)
        pos_visible = F.embedding(ids.visible, self.decoder_pos_embed)  # (B, N_vis, D_dec)
        pos_decoded = F.embedding(ids.decoded, self.decoder_pos_embed)  # (B, K, D_dec)
        branches = [(self.encoder_to_decoder, self.mask_token, self.decoder)]
        branches += [(b.encoder_to_decoder, b.mask_token, b.decoder) for b in self.extra_decoders]
        return [
            self._decode(x, pos_visible, pos_decoded, *branch) for branch in branches
        ]  # [(B, K, P_i)]

    @staticmethod
    def _decode(
        x: torch.Tensor,
        pos_visible: torch.Tensor,
        pos_decoded: torch.Tensor,
        project: nn.Module,
        mask_token: torch.Tensor,
        decoder: VideoMAEDecoder,
    ) -> torch.Tensor:
        """Encoded visible tokens (B, N_vis, D_enc) -> one decoder's predictions (B, K, P)."""
        x = project(x)  # (B, N_vis, D_dec)
        x = torch.cat(
            [x + pos_visible.to(x.dtype), mask_token.to(x.dtype) + pos_decoded.to(x.dtype)],
            dim=1,
        )  # (B, N_vis + K, D_dec)
        return decoder(x, num_predicted=pos_decoded.shape[1])  # (B, K, P)
