"""The pretraining module's target (`target=pixel|hog`): the decoder's width follows it, the
pixel target's loss is the one it always was, and target=hog trains end to end."""

import pytest
import torch
from hydra.utils import instantiate
from test_configs import compose_cfg
from tiny_runs import train_here, weights, write_clips
from tiny_sizes import RUN_NET

from videomae_ssl.errors import ConfigError
from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
from videomae_ssl.loss import PixelTarget, pixel_targets, reconstruction_loss
from videomae_ssl.loss.hog import HOGTarget, hog_dim
from videomae_ssl.masking import mask_to_indices, tube_mask
from videomae_ssl.models import videomae_pretrain
from videomae_ssl.models.build import model_record

NET = RUN_NET


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    video = torch.randn(2, 3, 4, 32, 32, generator=g)
    mask = torch.stack(
        [tube_mask((2, 4, 4), 0.75, torch.Generator().manual_seed(i)) for i in (0, 1)]
    )
    return {"video": video, "mask": mask}


def test_the_pixel_target_gives_the_loss_it_always_did():
    """None (the default), PixelTarget with the same norm_pix: the loss of `pixel_targets`."""
    for norm_pix in (True, False):
        torch.manual_seed(0)
        net = videomae_pretrain("tiny", **NET)
        b = batch()
        ids = mask_to_indices(b["mask"])
        with torch.no_grad():
            pred = net(b["video"], b["mask"])
        want = reconstruction_loss(pred, pixel_targets(b["video"], 8, 2, norm_pix, ids=ids[1]))
        for target in (None, PixelTarget(norm_pix=norm_pix)):
            module = VideoMAEPretrainModule(net, norm_pix_loss=norm_pix, target=target)
            with torch.no_grad():
                loss, _ = module.shared_step(b)
            assert torch.equal(loss, want)
    assert model_record(net)["options"]["decoder_out_dim"] == 384  # the tubelet's pixels


def test_the_hog_decoder_predicts_the_hog_width_and_learns():
    net = videomae_pretrain("tiny", decoder_out_dim=hog_dim(8), **NET)
    module = VideoMAEPretrainModule(net, target=HOGTarget(cell_size=8, bins=9))
    loss, pred = module.shared_step(batch())
    assert pred.shape == (2, 24, 27) and net.decoder.head.out_features == 27
    assert torch.isfinite(loss)
    loss.backward()
    assert net.decoder.head.weight.grad.abs().sum() > 0
    assert model_record(net)["options"]["decoder_out_dim"] == 27  # a checkpoint rebuilds it


def test_a_decoder_of_another_width_is_a_config_error():
    with pytest.raises(ConfigError, match="model.net.decoder_out_dim=384"):
        VideoMAEPretrainModule(videomae_pretrain("tiny", **NET), target=HOGTarget())


@pytest.mark.parametrize(("target", "width"), [("pixel", 384), ("hog", 27)])
def test_the_target_config_sets_the_decoder_width(target, width, tmp_path):
    cfg = compose_cfg(["experiment=demo_pretrain", f"target={target}"], tmp_path)
    module = instantiate(cfg.model)
    assert module.net.decoder.head.out_features == width
    assert module.target.dim(8, 2) == width


def test_a_cell_size_that_does_not_divide_the_patch_names_the_keys(tmp_path):
    from videomae_ssl.stages.checks import check_config

    cfg = compose_cfg(["experiment=demo_pretrain", "target=hog", "target.cell_size=3"], tmp_path)
    with pytest.raises(ConfigError, match=r"target.cell_size=3 must divide model.net.patch_size=8"):
        check_config(cfg)


def test_target_hog_trains_end_to_end(tmp_path):
    data = write_clips(tmp_path / "clips", count=4)
    run = tmp_path / "run"
    train_here(data, run, "target=hog", "trainer.max_steps=3")
    head = weights(run)["net.decoder.head.weight"]
    assert head.shape == (hog_dim(8), 16)
