"""The tiny VideoMAE the checkpoint and parity tests build: 4 frames of 32 px, patch 8, width 48,
2 blocks, in transformers' names (HF_CFG) and in ours (OURS); and the one-block network of
tiny_runs.overrides (RUN_NET: width 32, 4 frames of 32 px, patch 8), videomae_pretrain's
arguments."""

HF_CFG = dict(
    image_size=32,
    patch_size=8,
    num_frames=4,
    tubelet_size=2,
    hidden_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=192,
    decoder_hidden_size=32,
    decoder_num_hidden_layers=2,
    decoder_num_attention_heads=2,
    decoder_intermediate_size=128,
    layer_norm_eps=1e-6,
    hidden_act="gelu",
    qkv_bias=True,
)
OURS = dict(
    img_size=32,
    patch_size=8,
    num_frames=4,
    tubelet_size=2,
    embed_dim=48,
    depth=2,
    num_heads=4,
    decoder_embed_dim=32,
    decoder_depth=2,
    decoder_num_heads=2,
)


# The network tiny_runs.overrides trains, as videomae_pretrain("tiny", **RUN_NET) builds it.
RUN_NET = dict(
    img_size=32,
    num_frames=4,
    patch_size=8,
    embed_dim=32,
    depth=1,
    num_heads=2,
    decoder_embed_dim=16,
    decoder_depth=1,
    decoder_num_heads=2,
)
