"""The model card (README.md) that the Hugging Face export writes, and `--push-to-hub`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from videomae_ssl import __version__
from videomae_ssl.checkpoints import (
    build_model,
    export_hf,
    export_lightning,
    load_checkpoint,
    read_card_facts,
)
from videomae_ssl.convert import main

NAMES = {i: f"class {i}" for i in range(5)}


def fine_tuned_ckpt(tiny, path: Path) -> Path:
    """A classifier checkpoint as our fine-tuning run writes it: weights, our block with its
    test protocol, hyperparameters, epoch and step, and the best-checkpoint callback's score."""
    export_lightning(tiny.ours_classifier(), path, id2label=NAMES)
    state = torch.load(path, weights_only=True)
    state["videomae_ssl"]["eval"] = {
        "num_frames": 4,
        "sampling_rate": 2,
        "sampling": "dense",
        "input_size": 32,
        "test_clips": 5,
        "test_crops": 3,
    }
    state["hyper_parameters"] = {
        "batch_size": 8,
        "base_lr": 0.001,
        "layer_decay": 0.75,
        "ema_decay": None,
        "warmup_epochs": 5,
    }
    state.update(epoch=29, global_step=1200)
    state["callbacks"] = {
        "ModelCheckpoint{'monitor': 'val/top1', 'mode': 'max'}": {
            "monitor": "val/top1",
            "best_model_score": torch.tensor(0.8125),
            "best_model_path": "/home/someone/run/checkpoints/best.ckpt",
        },
        "ModelCheckpoint{'monitor': None}": {"monitor": None, "best_model_score": None},
    }
    torch.save(state, path)
    return path


def front_matter(card: str) -> list[str]:
    match = re.match(r"---\n(.*?)\n---\n", card, re.S)
    assert match, card[:200]
    return match[1].splitlines()


def write_run_record(run_dir: Path, experiment: str, model: str) -> None:
    """What Hydra keeps of a run beside its checkpoints/ (only the keys the card reads)."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "hydra.yaml").write_text(
        f"hydra:\n  runtime:\n    choices:\n      experiment: {experiment}\n      data: "
        f"{experiment}\n      model: {model}\n      masking: tube\n      trainer: gpu\n"
    )
    (run_dir / ".hydra" / "config.yaml").write_text(f"name: {experiment}\nmask_ratio: 0.9\n")


def test_the_card_names_the_architecture_and_the_recorded_metrics(tiny, tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    write_run_record(tmp_path / "run", "ucf101_finetune", "videomae_finetune")
    ckpt = fine_tuned_ckpt(tiny, tmp_path / "run" / "checkpoints" / "best.ckpt")
    out = export_hf(
        build_model(load_checkpoint(ckpt)),
        tmp_path / "hf",
        id2label=NAMES,
        card=read_card_facts(ckpt),
    )
    card = (out / "README.md").read_text()
    config = json.loads((out / "config.json").read_text())
    rows = dict(re.findall(r"^\| (.+?) \| (.+?) \|$", card, re.M))
    assert rows["width"] == str(config["hidden_size"]) == "48"
    assert rows["depth"] == str(config["num_hidden_layers"]) == "2"
    assert rows["attention heads"] == str(config["num_attention_heads"])
    assert rows["patch"].startswith(f"{config['patch_size']} px, tubelet {config['tubelet_size']}")
    assert rows["input"].startswith(f"{config['num_frames']} frames at {config['image_size']}x")
    assert rows["classes"] == "5"
    assert rows["best val/top1"] == "0.8125"  # the best-checkpoint callback's score
    assert rows["batch_size"] == "8" and rows["base_lr"] == "0.001" and rows["epoch"] == "29"
    assert rows["test clips"] == "5" and rows["sampling rate"] == "2"
    assert rows["experiment"] == rows["data"] == "ucf101_finetune"  # from the run's record
    assert (
        rows["model"] == "videomae_finetune" and "mask_ratio" not in rows and "trainer" not in rows
    )
    assert rows["videomae_ssl"] == __version__
    assert "ema_decay" not in rows and "/home/someone" not in card
    meta = front_matter(card)
    assert "library_name: transformers" in meta and "pipeline_tag: video-classification" in meta
    assert "- video-classification" in meta and "- videomae" in meta
    assert 'VideoMAEForVideoClassification.from_pretrained("hf")' in card


def test_a_pretraining_run_records_its_mask_ratio(tiny, tmp_path):
    write_run_record(tmp_path / "run", "k400_pretrain", "videomae_pretrain")
    export_lightning(tiny.ours_pretrain(), tmp_path / "run" / "checkpoints" / "last.ckpt")
    facts = read_card_facts(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert facts.run == {
        "experiment": "k400_pretrain",
        "data": "k400_pretrain",
        "model": "videomae_pretrain",
        "masking": "tube",
        "mask_ratio": 0.9,
    }


def test_a_pretraining_card_without_a_record_has_the_architecture_and_usage(tiny, tmp_path):
    out = export_hf(tiny.ours_pretrain(), tmp_path / "pre")
    card = (out / "README.md").read_text()
    meta = front_matter(card)
    assert "- video" in meta and "pipeline_tag: video-classification" not in meta
    assert "| decoder | width 32, depth 2, 2 heads |" in card
    assert 'VideoMAEForPreTraining.from_pretrained("pre")' in card
    assert "## Training" not in card  # nothing recorded, nothing claimed


def test_the_card_usage_snippet_runs(tiny, tmp_path, monkeypatch):
    """The classification snippet, as written in the card, classifies a clip with transformers."""
    pytest.importorskip("transformers")
    out = export_hf(tiny.ours_classifier(), tmp_path / "hf", id2label=NAMES)
    (snippet,) = re.findall(r"```python\n(.*?)```", (out / "README.md").read_text(), re.S)
    monkeypatch.chdir(tmp_path)
    printed = []
    exec(snippet.split("# or: transformers.pipeline")[0], {"print": printed.append})
    assert printed and printed[0] in NAMES.values()


def test_convert_records_its_source_and_command_and_keeps_a_users_readme(tiny, tmp_path, capsys):
    ckpt = fine_tuned_ckpt(tiny, tmp_path / "last.ckpt")
    assert main([str(ckpt), str(tmp_path / "hf"), "--to", "hf"]) == 0
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "| converted from | `last.ckpt` (videomae_ssl Lightning checkpoint) |" in card
    assert "`python -m videomae_ssl.convert last.ckpt hf --to hf`" in card
    assert str(tmp_path) not in card  # no local paths in a card meant for the public
    # Our own card is rewritten with --overwrite; a README.md the user wrote is kept.
    assert main([str(ckpt), str(tmp_path / "hf"), "--to", "hf", "--overwrite"]) == 0
    assert (tmp_path / "hf" / "README.md").read_text() == card
    (tmp_path / "hf" / "README.md").write_text("my notes\n")
    capsys.readouterr()
    assert main([str(ckpt), str(tmp_path / "hf"), "--to", "hf", "--overwrite"]) == 0
    assert (tmp_path / "hf" / "README.md").read_text() == "my notes\n"
    assert f"note: kept the existing {tmp_path / 'hf' / 'README.md'}" in capsys.readouterr().out


class RecordingHfApi:
    """Stands in for huggingface_hub.HfApi: records the calls and what the folder held."""

    calls: list[tuple[str, dict]] = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        files = sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())
        self.calls.append(("upload_folder", {**kwargs, "files": files}))


def test_push_to_hub_creates_the_repo_and_uploads_the_folder(tiny, tmp_path, monkeypatch, capsys):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHfApi)
    RecordingHfApi.calls = []
    export_lightning(tiny.ours_classifier(), tmp_path / "src.ckpt", id2label=NAMES)
    assert (
        main(
            [
                str(tmp_path / "src.ckpt"),
                str(tmp_path / "hf"),
                "--to",
                "hf",
                "--push-to-hub",
                "me/videomae-tiny",
            ]
        )
        == 0
    )
    (create, created), (upload, uploaded) = RecordingHfApi.calls
    assert create == "create_repo" and created["repo_id"] == "me/videomae-tiny"
    assert created["exist_ok"] is True and created["repo_type"] == "model"
    assert upload == "upload_folder" and uploaded["repo_id"] == "me/videomae-tiny"
    assert Path(uploaded["folder_path"]) == tmp_path / "hf"
    assert uploaded["files"] == [
        "README.md",
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    # The card's snippet loads from where the model is going.
    assert 'from_pretrained("me/videomae-tiny")' in (tmp_path / "hf" / "README.md").read_text()
    assert "Uploaded" in capsys.readouterr().out and "me/videomae-tiny" in uploaded["repo_id"]


def test_push_to_hub_needs_the_hf_format(tiny, tmp_path, capsys):
    export_lightning(tiny.ours_pretrain(), tmp_path / "src.ckpt")
    assert (
        main(
            [
                str(tmp_path / "src.ckpt"),
                str(tmp_path / "o.pth"),
                "--to",
                "original",
                "--push-to-hub",
                "me/x",
            ]
        )
        == 2
    )
    assert "--push-to-hub uploads a Hugging Face folder" in capsys.readouterr().err
    assert not (tmp_path / "o.pth").exists()
