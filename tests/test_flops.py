"""The analytic FLOP counts against hand counts, every matrix product written out."""

from videomae_ssl import flops
from videomae_ssl.models import videomae_classifier, videomae_pretrain


def hand_count_tiny_pretrain_step():
    """ViT "tiny" (width 192, 4 blocks, decoder 96 wide with 2 blocks, MLP x4) on a 4x32x32
    clip: 2x2x2 = 8 tokens of 2x16x16x3 = 1536 values; tube mask 0.9 hides 3 of 4 cells per
    slice: 2 visible, 6 masked. Multiply-adds of each product, forward."""
    embed = 2 * 1536 * 192  # the visible tubelets only
    encoder_block = (
        2 * 192 * 576  # qkv
        + 2 * 2 * 192  # q k^T over 3 heads of 64: 2 x 2 scores x 64 x 3
        + 2 * 2 * 192  # attention x v
        + 2 * 192 * 192  # output projection
        + 2 * 192 * 768  # fc1
        + 2 * 768 * 192  # fc2
    )
    to_decoder = 2 * 192 * 96
    decoder_block = (  # 2 visible + 6 mask tokens
        8 * 96 * 288 + 8 * 8 * 96 + 8 * 8 * 96 + 8 * 96 * 96 + 8 * 96 * 384 + 8 * 384 * 96
    )
    head = 6 * 96 * 1536
    forward = 2 * (embed + 4 * encoder_block + to_decoder + 2 * decoder_block + head)
    # Backward: twice the forward, but the embedding needs no gradient for its input (the clip).
    return 3 * forward - 2 * embed


def test_pretrain_step_matches_the_hand_count():
    config = videomae_pretrain("tiny", img_size=32, num_frames=4).config
    assert (
        flops.pretrain_step_flops(config, num_visible=2, num_decoded=6)
        == hand_count_tiny_pretrain_step()
    )
    assert hand_count_tiny_pretrain_step() == 39_923_712


def test_decoder_masking_shrinks_only_the_decoder():
    config = videomae_pretrain("tiny", img_size=32, num_frames=4).config
    full = flops.pretrain_flops(config, 2, 6)
    masked = flops.pretrain_flops(config, 2, 4)  # 0.5: 4 of the 8 tokens decoded
    decoder_block = lambda n: 2 * (n * 96 * 288 + 2 * n * n * 96 + n * 96 * 96 + 2 * n * 96 * 384)  # noqa: E731
    assert full - masked == 2 * (decoder_block(8) - decoder_block(6)) + 2 * 2 * 96 * 1536


def test_classifier_matches_the_hand_count():
    # ViT-S, 16x224x224: 1568 tokens of 1536 values, width 384, 12 blocks, 400 classes.
    net = videomae_classifier(400, "small")
    config = net.config
    n, d = 1568, 384
    block = 2 * (n * d * 3 * d + n * n * d + n * n * d + n * d * d + n * d * 4 * d + n * 4 * d * d)
    expected = 2 * n * 1536 * d + 12 * block + 2 * d * 400
    assert flops.classify_flops(config, net.num_classes) == expected
    assert round(expected / 1e9, 1) == 113.8
