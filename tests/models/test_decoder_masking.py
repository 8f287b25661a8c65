"""The pretraining model with VideoMAE V2's decoder masking, against plainly written references."""

import torch

from videomae_ssl.loss import pixel_targets, reconstruction_loss
from videomae_ssl.masking import running_cell_mask, token_indices, tube_mask
from videomae_ssl.models import videomae_pretrain

NET = dict(
    img_size=32,
    num_frames=8,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=2,
    decoder_embed_dim=16,
    decoder_depth=2,
    decoder_num_heads=2,
)
GRID = (4, 4, 4)


def setup(b=2, seed=0):
    torch.manual_seed(seed)
    net = videomae_pretrain("tiny", **NET).eval()
    video = torch.randn(b, 3, 8, 32, 32)
    mask = torch.stack([tube_mask(GRID, 0.75, torch.Generator().manual_seed(i)) for i in range(b)])
    return net, video, mask


def v2_forward(net, video, mask, decode_mask):
    """VideoMAE V2's `PretrainVisionTransformer.forward` as its code reads, with boolean indexing:
    decoder input = [visible tokens + their positions, mask_token + the positions the decoder
    mask keeps], predictions for the latter."""
    b = video.shape[0]
    enc = net.encoder
    x = enc.patch_embed.proj(video).flatten(2).transpose(1, 2) + enc.pos_embed  # the Conv3d itself
    x = x[~mask].reshape(b, -1, x.shape[-1])
    for block in enc.blocks:
        x = block(x)
    x = net.encoder_to_decoder(enc.norm(x))
    c = x.shape[-1]
    pos = net.decoder_pos_embed.expand(b, -1, -1)
    pos_vis = pos[~mask].reshape(b, -1, c)
    pos_dec = pos[~decode_mask].reshape(b, -1, c)
    x = torch.cat([x + pos_vis, net.mask_token + pos_dec], dim=1)
    for block in net.decoder.blocks:
        x = block(x)
    return net.decoder.head(net.decoder.norm(x[:, -pos_dec.shape[1] :]))


def test_decoder_masked_forward_matches_videomae_v2():
    net, video, mask = setup()
    decode_mask = torch.stack([running_cell_mask(GRID, 0.5, p) for p in (0, 2)])
    with torch.no_grad():
        ours = net(video, token_indices(mask, decode_mask))
        ref = v2_forward(net, video, mask, decode_mask)
    assert ours.shape == (2, 32, 2 * 8 * 8 * 3)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_decoder_mask_that_keeps_exactly_the_masked_tokens_is_the_plain_model():
    # V2 without decoder masking passes decoder_mask = ~mask: VideoMAE exactly.
    net, video, mask = setup()
    ids = token_indices(mask, ~mask)
    assert ids.loss_mask.all()
    with torch.no_grad():
        plain = net(video, mask)
        masked = net(video, ids)
    assert torch.equal(plain, masked)
    plain_loss = reconstruction_loss(
        plain, pixel_targets(video, 8, 2, ids=token_indices(mask).decoded)
    )
    masked_loss = reconstruction_loss(
        masked, pixel_targets(video, 8, 2, ids=ids.decoded), ids.loss_mask
    )
    torch.testing.assert_close(masked_loss, plain_loss, rtol=1e-6, atol=0)


def test_decoder_masked_loss_reaches_every_parameter():
    net, video, mask = setup()
    net.train()
    ids = token_indices(mask, torch.stack([running_cell_mask(GRID, 0.5, p) for p in (1, 3)]))
    pred = net(video, ids)
    loss = reconstruction_loss(pred, pixel_targets(video, 8, 2, ids=ids.decoded), ids.loss_mask)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
