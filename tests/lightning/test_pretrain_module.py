import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from videomae_ssl.data.datamodules import VideoDataModule
from videomae_ssl.data.transforms import normalize
from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
from videomae_ssl.masking import tube_mask
from videomae_ssl.models import videomae_pretrain
from videomae_ssl.optim.setup import effective_batch

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


def smooth_clip(seed):
    """A learnable clip: smooth ramps moving over time, normalised like real input."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.rand(2, generator=g) * 4
    t = torch.arange(4).view(1, 4, 1, 1)
    y = torch.linspace(0, 1, 32).view(1, 1, 32, 1)
    x = torch.linspace(0, 1, 32).view(1, 1, 1, 32)
    base = torch.sin(a * x + b * y + 0.3 * t)
    return torch.cat([base, base.roll(3, -1), -base]).float()  # (3, 4, 32, 32)


class Clips(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return {
            "video": smooth_clip(i),
            "mask": tube_mask((2, 4, 4), 0.75, torch.Generator().manual_seed(i)),
        }


class DataModule(L.LightningDataModule):
    batch_size = 4

    def train_dataloader(self):
        return DataLoader(Clips(), batch_size=self.batch_size)


def make_trainer(tmp_path, **kw):
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
        **kw,
    )


def test_param_groups_and_scaled_lr(tmp_path):
    module = VideoMAEPretrainModule(
        videomae_pretrain("tiny", **NET),
        batch_size=4,
        base_lr=1.6e-3,
        min_lr=1.6e-4,
        warmup_lr=0.0,
        warmup_epochs=1,
        weight_decay=0.05,
    )
    trainer = make_trainer(tmp_path, max_epochs=3, accumulate_grad_batches=2)
    trainer.fit(module, datamodule=DataModule())
    opt = trainer.optimizers[0]
    assert opt.defaults["betas"] == (0.9, 0.95)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.05 for p in g["params"]}
    names = {id(p): n for n, p in module.net.named_parameters()}
    decayed_names = {names[i] for i in decayed}
    assert "mask_token" not in decayed_names
    assert not any(n.endswith(".bias") or "norm" in n or n.endswith("_bias") for n in decayed_names)
    assert "encoder.blocks.0.attn.qkv.weight" in decayed_names
    assert len(decayed) + sum(
        len(g["params"]) for g in opt.param_groups if g["weight_decay"] == 0
    ) == len(names)
    # Effective batch 4 x 1 device x 2 accumulation = 8: lr = 1.6e-3 * 8 / 256 = 5e-5.
    sched = trainer.lr_scheduler_configs[0].scheduler
    assert sched.base_lrs[0] == pytest.approx(5e-5)
    # 2 batches per epoch / 2 accumulation = 1 step per epoch; 3 steps in all, 1 of warmup.
    assert trainer.global_step == 3


def test_lr_scales_with_the_modules_own_batch_size_without_a_datamodule(tmp_path):
    module = VideoMAEPretrainModule(
        videomae_pretrain("tiny", **NET),
        batch_size=4,
        views_per_video=2,
        base_lr=1.6e-3,
        warmup_epochs=1,
    )
    trainer = make_trainer(tmp_path, max_epochs=1, accumulate_grad_batches=2)
    trainer.fit(module, train_dataloaders=DataLoader(Clips(), batch_size=4))
    # 4 videos per device x 1 device x 2 accumulation = 8, as with a data module: 5e-5. The
    # views per video make more clips per step, not a larger lr.
    assert trainer.lr_scheduler_configs[0].scheduler.base_lrs[0] == pytest.approx(5e-5)
    assert effective_batch(trainer, module.hparams.batch_size) == 8


def test_loss_falls_when_overfitting(tmp_path):
    torch.manual_seed(0)
    module = VideoMAEPretrainModule(
        videomae_pretrain("tiny", **NET),
        base_lr=0.1,
        min_lr=0.01,
        warmup_lr=0.01,
        warmup_epochs=1,
        weight_decay=0.0,
    )
    batch = next(iter(DataModule().train_dataloader()))
    with torch.no_grad():
        before = module.shared_step(batch)[0].item()
    make_trainer(tmp_path, max_epochs=40).fit(module, datamodule=DataModule())
    with torch.no_grad():
        after = module.shared_step(batch)[0].item()
    assert after < 0.7 * before, (before, after)


def test_a_uint8_batch_normalised_on_the_device_gives_the_same_loss():
    module = VideoMAEPretrainModule(videomae_pretrain("tiny", **NET))
    video = torch.randint(
        0, 256, (2, 3, 4, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    mask = torch.stack(
        [tube_mask((2, 4, 4), 0.75, torch.Generator().manual_seed(i)) for i in range(2)]
    )
    worker = {"video": torch.stack([normalize(v.permute(1, 0, 2, 3)) for v in video]), "mask": mask}
    device = VideoDataModule(train_list=None).on_after_batch_transfer(
        {"video": video, "mask": mask}, 0
    )
    assert torch.equal(device["video"], worker["video"])
    assert torch.equal(module.shared_step(device)[0], module.shared_step(worker)[0])
