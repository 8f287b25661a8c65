"""Steps with a non-finite loss are skipped and counted; too many in a row stop the run with a
clear error and leave the last good checkpoint as it was."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from test_pretrain_module import NET, Clips
from torch.utils.data import DataLoader

from videomae_ssl.errors import TrainingError
from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
from videomae_ssl.models import videomae_pretrain


class SomeNaN(Clips):
    """The clips of test_pretrain_module, NaN in the batches (of 2) listed in `bad`."""

    def __init__(self, bad):
        self.bad = set(bad)

    def __getitem__(self, i):
        item = super().__getitem__(i)
        if i // 2 in self.bad:
            item["video"] = torch.full_like(item["video"], float("nan"))
        return item


def fit(tmp_path, bad, **kwargs):
    torch.manual_seed(0)
    module = VideoMAEPretrainModule(videomae_pretrain("tiny", **NET), warmup_epochs=0, **kwargs)
    checkpoint = ModelCheckpoint(
        tmp_path / "ckpt", save_last=True, save_top_k=0, every_n_train_steps=1
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        callbacks=[checkpoint],
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=1,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, DataLoader(SomeNaN(bad), batch_size=2))
    return module, trainer


def test_a_non_finite_step_is_skipped_and_counted(tmp_path):
    module, trainer = fit(tmp_path, bad=[1])
    # 4 batches, 3 updates: without gradients the optimizer leaves the weights and its state.
    state = trainer.optimizers[0].state[module.net.encoder.blocks[0].attn.qkv.weight]
    assert int(state["step"]) == 3
    assert module.non_finite.skipped == 1
    assert trainer.callback_metrics["train/non_finite_steps"] == 1
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_too_many_in_a_row_stop_and_keep_the_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match=r"not finite \(NaN or inf\) for 2 steps in a row"):
        fit(tmp_path, bad=[1, 2], max_non_finite_steps=2)
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=True)
    # One good update: the skipped steps changed neither the weights nor the optimizer state.
    assert {int(v["step"]) for v in state["optimizer_states"][0]["state"].values()} == {1}
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values())
