"""The loss with VideoMAE V2's decoder masking, against a hand-built case written out plainly."""

import torch

from videomae_ssl.loss import pixel_targets, reconstruction_loss
from videomae_ssl.masking import gather_tokens, token_indices, tube_mask


def test_decoder_masked_loss_on_a_hand_built_case():
    # One clip of 8 tokens, 2 values each. Hidden from the encoder: 1, 2, 5, 6. Not
    # reconstructed (decoder mask): 0, 2, 4, 7. The decoder predicts 1, 3, 5, 6; the loss
    # takes 1, 5 and 6 (3 is visible to the encoder) and averages over them.
    mask = torch.tensor([[0, 1, 1, 0, 0, 1, 1, 0]], dtype=torch.bool)
    decoder_mask = torch.tensor([[1, 0, 1, 0, 1, 0, 0, 1]], dtype=torch.bool)
    targets = torch.arange(16, dtype=torch.float32).view(1, 8, 2)  # token i holds 2i, 2i + 1
    ids = token_indices(mask, decoder_mask)
    assert ids.decoded.tolist() == [[1, 3, 5, 6]]
    assert ids.loss_mask.tolist() == [[True, False, True, True]]
    pred = torch.tensor([[[2.0, 3.0], [100.0, -100.0], [11.0, 13.0], [12.0, 12.0]]])
    # Squared errors per token: 1: (0, 0) -> 0; 5: (1, 2) -> mean 2.5; 6: (0, -1) -> mean 0.5.
    expected = (0.0 + 2.5 + 0.5) / 3
    loss = reconstruction_loss(pred, gather_tokens(targets, ids.decoded), ids.loss_mask)
    assert loss.item() == expected


def reference_loss(pred, targets, mask, decoder_mask):
    """VideoMAE V2's engine, one clip and one token at a time: squared error averaged over the
    values of each decoded token, then over the decoded tokens hidden from the encoder."""
    total, count = 0.0, 0
    for b in range(mask.shape[0]):
        k = 0
        for i in range(mask.shape[1]):
            if decoder_mask[b, i]:
                continue  # not decoded: no prediction
            if mask[b, i]:
                err = [
                    (p - t) ** 2
                    for p, t in zip(pred[b, k].tolist(), targets[b, i].tolist(), strict=True)
                ]
                total += sum(err) / len(err)
                count += 1
            k += 1
    return total / count


def test_decoder_masked_loss_matches_the_reference_on_random_masks():
    grid = (2, 4, 4)
    g = torch.Generator().manual_seed(0)
    mask = torch.stack([tube_mask(grid, 0.75, torch.Generator().manual_seed(i)) for i in range(3)])
    decoder_mask = torch.zeros_like(mask)
    for b in range(3):  # 12 of 32 tokens left out, at random
        decoder_mask[b, torch.randperm(32, generator=g)[:12]] = True
    targets = torch.randn(3, 32, 5, generator=g)
    ids = token_indices(mask, decoder_mask)
    pred = torch.randn(3, 20, 5, generator=g)
    loss = reconstruction_loss(pred, gather_tokens(targets, ids.decoded), ids.loss_mask)
    assert abs(loss.item() - reference_loss(pred, targets, mask, decoder_mask)) < 1e-6


def test_targets_of_chosen_tokens_are_those_of_all_tokens():
    video = torch.randn(2, 3, 4, 16, 24)
    ids = torch.tensor([[0, 3, 5, 11], [2, 4, 7, 9]])
    for norm_pix in (True, False):
        full = pixel_targets(video, 8, 2, norm_pix)  # (B, N, P)
        chosen = pixel_targets(video, 8, 2, norm_pix, ids=ids)
        assert torch.equal(chosen, torch.stack([full[b, ids[b]] for b in range(2)]))
