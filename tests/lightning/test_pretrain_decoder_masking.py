"""The pretraining module's decoder masking option (`model.decoder_mask_ratio`)."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from videomae_ssl.errors import ConfigError
from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
from videomae_ssl.loss import pixel_targets, reconstruction_loss
from videomae_ssl.masking import decoder_mask_generator, token_indices, tube_mask
from videomae_ssl.models import videomae_pretrain

NET = dict(
    img_size=32,
    num_frames=4,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=2,
    decoder_embed_dim=16,
    decoder_depth=1,
    decoder_num_heads=2,
)
GRID = (2, 4, 4)


class Clips(torch.utils.data.Dataset):
    """Clips built by hand; with `decoder_ratio`, each carries its running-cell decoder mask,
    drawn from a generator seeded by its index (as the data path draws it from the clip's own
    stream)."""

    def __init__(self, decoder_ratio: float = 0.0):
        self.cells = decoder_mask_generator(decoder_ratio)

    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        item = {
            "video": torch.randn(3, 4, 32, 32, generator=g),
            "mask": tube_mask(GRID, 0.75, torch.Generator().manual_seed(i)),
        }
        if self.cells is not None:
            item["decoder_mask"] = self.cells(GRID, torch.Generator().manual_seed(100 + i))
        return item


def batch(decoder_ratio: float = 0.0):
    return next(iter(DataLoader(Clips(decoder_ratio), batch_size=4)))


def plain_loss(net, b):
    """VideoMAE's step as it reads without any decoder masking."""
    pred = net(b["video"], b["mask"])
    return reconstruction_loss(
        pred, pixel_targets(b["video"], 8, 2, ids=token_indices(b["mask"]).decoded)
    )


def module(ratio, seed=0):
    torch.manual_seed(seed)
    return VideoMAEPretrainModule(videomae_pretrain("tiny", **NET), decoder_mask_ratio=ratio)


def test_ratio_zero_is_the_plain_model():
    m, b = module(0.0).train(), batch()
    with torch.no_grad():
        assert torch.equal(m.shared_step(b)[0], plain_loss(m.net, b))


def test_training_step_decodes_only_the_running_cell():
    m, b = module(0.5).train(), batch(0.5)
    with torch.no_grad():
        loss, pred = m.shared_step(b)
    # The same masks, written out: the running-cell mask each clip carries.
    ids = token_indices(b["mask"], b["decoder_mask"])
    assert pred.shape == (4, 16, 2 * 8 * 8 * 3)  # half of the 32 tokens
    with torch.no_grad():
        expected = reconstruction_loss(
            m.net(b["video"], ids), pixel_targets(b["video"], 8, 2, ids=ids.decoded), ids.loss_mask
        )
    assert torch.equal(loss, expected)


def test_validation_decodes_every_masked_token():
    m, b = module(0.5).eval(), batch()
    with torch.no_grad():
        assert torch.equal(m.shared_step(b)[0], plain_loss(m.net, b))


@pytest.mark.parametrize("ratio", [0.2, 1.0])
def test_impossible_ratio_names_the_key(ratio):
    with pytest.raises(ConfigError, match="model.decoder_mask_ratio"):
        module(ratio)


def test_odd_grid_is_rejected():
    net = videomae_pretrain("tiny", **{**NET, "img_size": 24})  # 3x3 tokens per slice
    with pytest.raises(ConfigError, match="even token grid"):
        VideoMAEPretrainModule(net, decoder_mask_ratio=0.5)


def test_a_training_batch_without_its_decoder_mask_is_a_clear_error():
    m, b = module(0.5).train(), batch()
    with pytest.raises(ValueError, match="must carry its decoder mask.*decoder_mask_generator"):
        m.shared_step(b)


def test_a_hand_built_batch_leaves_the_global_generator_alone():
    """The module draws no mask: a step on a hand-built batch (encoder and decoder masks given,
    no token indices) reads nothing from torch's global generator."""
    m, b = module(0.5).train(), batch(0.5)
    before = torch.get_rng_state()
    with torch.no_grad():
        m.shared_step(b)
    assert torch.equal(torch.get_rng_state(), before)


def test_trains_with_decoder_masking(tmp_path):
    m = module(0.5)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
        max_epochs=1,
    )
    trainer.fit(m, train_dataloaders=DataLoader(Clips(0.5), batch_size=4))
    assert trainer.global_step == 2
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
