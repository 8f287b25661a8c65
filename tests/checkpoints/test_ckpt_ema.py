"""Fine-tuning checkpoints: the EMA copy beside the weights, and the recorded test protocol."""

from __future__ import annotations

import pytest
import torch
from timm.utils import ModelEmaV3
from torch import nn

from videomae_ssl.checkpoints import CheckpointError, build_model, load_checkpoint
from videomae_ssl.models.build import model_record

EVAL = {
    "num_frames": 4,
    "sampling_rate": 2,
    "sampling": "dense",
    "input_size": 32,
    "test_clips": 2,
    "test_crops": 3,
}


class Holder(nn.Module):
    """The attribute names of the fine-tuning LightningModule: `net`, and `ema` when it is on."""

    def __init__(self, net: nn.Module, ema: bool) -> None:
        super().__init__()
        self.net = net
        if ema:
            self.ema = ModelEmaV3(net)


def save_finetune(tiny, path, ema: bool, eval_settings: dict | None = EVAL) -> Holder:
    """A fine-tuning checkpoint as Lightning writes it; the EMA copy gets its own values."""
    holder = Holder(tiny.ours_classifier(num_classes=3, seed=1), ema)
    if ema:
        torch.manual_seed(7)
        with torch.no_grad():
            for p in holder.ema.module.parameters():
                p.normal_(0, 0.2)
    ours = {**model_record(holder.net), "id2label": {"0": "a", "1": "b", "2": "c"}}
    if eval_settings is not None:
        ours["eval"] = eval_settings
    torch.save({"state_dict": holder.state_dict(), "videomae_ssl": ours, "epoch": 3}, path)
    return holder


def same_weights(model: nn.Module, reference: nn.Module) -> bool:
    ref = reference.state_dict()
    return all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())


def test_ema_keys_are_left_out_silently_by_default(tiny, tmp_path):
    holder = save_finetune(tiny, tmp_path / "ft.ckpt", ema=True)
    assert any(k.startswith("ema.module.") for k in holder.state_dict())
    loaded = load_checkpoint(tmp_path / "ft.ckpt")
    assert loaded.kind == "classifier" and loaded.unexpected == []
    assert not any("ema" in k for k in loaded.state)
    assert same_weights(build_model(loaded), holder.net)
    assert not same_weights(build_model(loaded), holder.ema.module)


def test_ema_true_loads_the_averaged_weights(tiny, tmp_path):
    holder = save_finetune(tiny, tmp_path / "ft.ckpt", ema=True)
    loaded = load_checkpoint(tmp_path / "ft.ckpt", ema=True)
    assert loaded.unexpected == [] and loaded.id2label == {0: "a", 1: "b", 2: "c"}
    assert any("moving average" in note for note in loaded.notes)
    assert not any("prefix" in note for note in loaded.notes)
    assert same_weights(build_model(loaded), holder.ema.module)


def test_ema_true_without_ema_weights_names_the_file(tiny, tmp_path):
    save_finetune(tiny, tmp_path / "ft.ckpt", ema=False)
    with pytest.raises(CheckpointError, match=r"ft\.ckpt: holds no EMA weights"):
        load_checkpoint(tmp_path / "ft.ckpt", ema=True)


def test_original_model_ema_entry_is_read_with_ema(tiny, tmp_path):
    net, averaged = tiny.ours_classifier(num_classes=3, seed=1), tiny.ours_classifier(3, seed=2)
    torch.save({"module": net.state_dict(), "model_ema": averaged.state_dict()}, tmp_path / "o.pth")
    sizes = dict(num_frames=4, img_size=32, num_heads=4)
    assert same_weights(build_model(load_checkpoint(tmp_path / "o.pth", **sizes)), net)
    ema = load_checkpoint(tmp_path / "o.pth", **sizes, ema=True)
    assert same_weights(build_model(ema), averaged)
    torch.save({"module": net.state_dict()}, tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match="no EMA weights"):
        load_checkpoint(tmp_path / "plain.pth", ema=True)


def test_eval_settings_come_from_the_checkpoint(tiny, tmp_path):
    save_finetune(tiny, tmp_path / "ft.ckpt", ema=False)
    assert load_checkpoint(tmp_path / "ft.ckpt").eval_settings == EVAL
    save_finetune(tiny, tmp_path / "bare.ckpt", ema=False, eval_settings=None)
    assert load_checkpoint(tmp_path / "bare.ckpt").eval_settings is None
    torch.save({"module": tiny.ours_classifier(3).state_dict()}, tmp_path / "o.pth")
    assert load_checkpoint(tmp_path / "o.pth", num_heads=4).eval_settings is None
