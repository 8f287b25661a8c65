"""`python -m videomae_ssl.convert`, format detection from contents, our Lightning checkpoints."""

import json

import lightning as L
import pytest
import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader

from videomae_ssl.checkpoints import (
    build_model,
    export_hf,
    export_lightning,
    load_checkpoint,
    load_pretrained_encoder,
)
from videomae_ssl.convert import main
from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule


def test_convert_prints_what_it_found_and_writes_hf(tiny, tmp_path, capsys):
    state = tiny.ours_classifier().state_dict()
    state["head_dist.weight"] = torch.zeros(5, 48)  # a key no VideoMAE model has
    torch.save({"module": state}, tmp_path / "finetuned.pth")
    (tmp_path / "classes.txt").write_text("".join(f"class {i}\n" for i in range(5)))
    code = main(
        [
            str(tmp_path / "finetuned.pth"),
            str(tmp_path / "hf"),
            "--to",
            "hf",
            "--num-frames",
            "4",
            "--img-size",
            "32",
            "--num-heads",
            "4",
            "--labels",
            str(tmp_path / "classes.txt"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    for expected in (
        "original VideoMAE (MCG-NJU), classification weights",
        "width 48, depth 2, 4 heads",
        "patch 8, tubelet 2",
        "input: 4 frames at 32 px, 2x4x4 tokens",
        "classes: 5",
        "unexpected keys (ignored): head_dist.weight",
        "missing keys: none",
        f"Wrote {tmp_path / 'hf'} (Hugging Face transformers)",
    ):
        assert expected in out, out
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["id2label"]["4"] == "class 4" and config["num_frames"] == 4


@pytest.mark.parametrize("to", ["original", "lightning", "hf"])
def test_convert_round_trips_through_every_format(tiny, tmp_path, to):
    source = tiny.ours_pretrain()
    export_lightning(source, tmp_path / "src.ckpt")
    dst = tmp_path / f"out.{to}"
    assert main([str(tmp_path / "src.ckpt"), str(dst), "--to", to]) == 0
    back = build_model(load_checkpoint(dst))
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in source.state_dict().items())


def test_convert_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main([str(tmp_path / "missing.pth"), str(tmp_path / "out"), "--to", "hf"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing.pth" in err and "Traceback" not in err


def test_an_existing_output_is_not_replaced(tiny, tmp_path, capsys):
    export_lightning(tiny.ours_pretrain(), tmp_path / "src.ckpt")
    (tmp_path / "out.pth").write_text("keep me")
    assert main([str(tmp_path / "src.ckpt"), str(tmp_path / "out.pth"), "--to", "original"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "out.pth").read_text() == "keep me"


def test_format_comes_from_contents_not_names(tiny, tmp_path):
    model = tiny.ours_pretrain()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "hf_model.bin")
    export_lightning(model, tmp_path / "model.safetensors")
    export_hf(model, tmp_path / "checkpoint.pth")  # a directory with a file-like name
    assert load_checkpoint(tmp_path / "hf_model.bin").format == "original"
    assert load_checkpoint(tmp_path / "model.safetensors").format == "lightning"
    assert load_checkpoint(tmp_path / "checkpoint.pth").format == "hf"


class Clips(torch.utils.data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        mask = torch.zeros(32, dtype=torch.bool)
        mask[:24] = True
        return {"video": torch.randn(3, 4, 32, 32), "mask": mask[torch.randperm(32)]}


class Data(L.LightningDataModule):
    batch_size = 2

    def train_dataloader(self):
        return DataLoader(Clips(), batch_size=self.batch_size)


def test_a_real_lightning_checkpoint_loads_safely(tiny, tmp_path):
    module = VideoMAEPretrainModule(
        tiny.ours_pretrain().train(), warmup_epochs=0, norm_pix_loss=False
    )
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=Data())
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    loaded = load_checkpoint(tmp_path / "last.ckpt")
    assert (loaded.format, loaded.kind, loaded.norm_pix_loss) == ("lightning", "pretrain", False)
    net = build_model(loaded)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in module.net.state_dict().items())
    report = load_pretrained_encoder(tiny.ours_classifier(seed=4), tmp_path / "last.ckpt", log=None)
    assert "blocks.0.attn.qkv.weight" in report.loaded


def test_class_names_must_match_the_head(tiny, tmp_path, capsys):
    export_lightning(tiny.ours_classifier(num_classes=5), tmp_path / "cls.ckpt")
    (tmp_path / "classes.txt").write_text("a\nb\nc\n")
    args = [
        str(tmp_path / "cls.ckpt"),
        str(tmp_path / "hf"),
        "--to",
        "hf",
        "--labels",
        str(tmp_path / "classes.txt"),
    ]
    assert main(args) == 2
    assert "3 class names for a head of 5 classes" in capsys.readouterr().err
