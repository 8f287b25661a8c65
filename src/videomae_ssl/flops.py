"""FLOPs of the VideoMAE models, counted analytically from their shapes (numbers only, no torch).

Only matrix products are counted, 2 FLOPs per multiply-add; norms, activations, softmax and
the optimizer are left out, as in the usual model-FLOPs-utilisation accounting. With width d,
MLP hidden width h and n tokens, one pre-norm ViT block costs

    block(n, d, h) = 2 n (3 d^2 + d^2 + 2 d h)   qkv, output projection, MLP
                   + 2 * 2 n^2 d                  q k^T and attention x v, over all heads

and the models, forward, with tubelets of v = C * q * p^2 values and P = v output values:

    encoder(n)      = 2 n v d  +  depth * block(n, d, h)
    pretrain        = encoder(n_vis) + 2 n_vis d d_dec                (encoder_to_decoder)
                      + dec_depth * block(n_vis + n_dec, d_dec, h_dec) + 2 n_dec d_dec P
    classify        = encoder(N) + 2 d num_classes

n_vis are the encoder's visible tokens (only they are embedded) and n_dec the tokens the
decoder predicts: the masked ones, or with VideoMAE V2's decoder masking the ones its mask
keeps. A training step counts 3 x forward (the backward pass multiplies each weight matrix
twice, once for the input's gradient and once for the weight's), less one forward of the
tubelet embedding, whose input (the video) needs no gradient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from videomae_ssl.models.config import VideoMAEConfig


def block_flops(tokens: int, dim: int, mlp_hidden: int) -> int:
    """One pre-norm ViT block on `tokens` tokens of width `dim`, forward."""
    linear = 2 * tokens * (3 * dim * dim + dim * dim + 2 * dim * mlp_hidden)
    attention = 2 * 2 * tokens * tokens * dim
    return linear + attention


def _mlp_hidden(dim: int, mlp_ratio: float) -> int:
    return int(dim * mlp_ratio)  # as the blocks build it


def encoder_flops(config: VideoMAEConfig, tokens: int) -> int:
    """Tubelet embedding and blocks of the encoder on `tokens` tokens, forward."""
    d = config.embed_dim
    embed = 2 * tokens * config.tubelet_values * d
    blocks = config.depth * block_flops(tokens, d, _mlp_hidden(d, config.mlp_ratio))
    return embed + blocks


def pretrain_flops(config: VideoMAEConfig, num_visible: int, num_decoded: int) -> int:
    """The pretraining model (`VideoMAEPretrainModel.config`), forward, for one clip."""
    d, dd = config.embed_dim, config.decoder_embed_dim
    encoder = encoder_flops(config, num_visible)
    to_decoder = 2 * num_visible * d * dd
    decoder_tokens = num_visible + num_decoded
    decoder = config.decoder_depth * block_flops(
        decoder_tokens, dd, _mlp_hidden(dd, config.mlp_ratio)
    )
    head = 2 * num_decoded * dd * config.tubelet_values
    return encoder + to_decoder + decoder + head


def pretrain_step_flops(config: VideoMAEConfig, num_visible: int, num_decoded: int) -> int:
    """Forward and backward of the pretraining model for one clip (see the module docstring)."""
    embed = 2 * num_visible * config.tubelet_values * config.embed_dim
    return 3 * pretrain_flops(config, num_visible, num_decoded) - embed


def classify_flops(config: VideoMAEConfig, num_classes: int) -> int:
    """The classifier (`VideoMAEClassifier.config`, `num_classes`), forward, for one clip."""
    head = 2 * config.embed_dim * num_classes
    return encoder_flops(config, config.num_tokens) + head
