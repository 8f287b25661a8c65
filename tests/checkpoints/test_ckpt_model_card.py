"""The model card (README.md) that the Hugging Face export writes."""

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

NAMES = {i: f"class {i}" for i in range(5)}


def fine_tuned_ckpt(tiny, path: Path) -> Path:
    """A classifier checkpoint as our fine-tuning run writes it: weights, our block with its
    test protocol, hyperparameters, epoch and step, and the best-checkpoint callback's score."""
    export_lightning(tiny.ours_classifier(), path, id2label=NAMES)
    state = torch.load(path, weights_only=True)
    state["videomae_ssl"]["eval"] = {"num_frames": 4, "sampling_rate": 2, "sampling": "dense",
                                     "input_size": 32, "test_clips": 5, "test_crops": 3}  # fmt: skip
    state["hyper_parameters"] = {"batch_size": 8, "base_lr": 0.001, "layer_decay": 0.75,
                                 "ema_decay": None, "warmup_epochs": 5}  # fmt: skip
    state.update(epoch=29, global_step=1200)
    state["callbacks"] = {
        "ModelCheckpoint{'monitor': 'val/top1', 'mode': 'max'}": {
            "monitor": "val/top1", "best_model_score": torch.tensor(0.8125),
            "best_model_path": "/home/someone/run/checkpoints/best.ckpt",
        },
        "ModelCheckpoint{'monitor': None}": {"monitor": None, "best_model_score": None},
    }  # fmt: skip
    torch.save(state, path)
    return path


def front_matter(card: str) -> list[str]:
    match = re.match(r"---\n(.*?)\n---\n", card, re.S)
    assert match, card[:200]
    return match[1].splitlines()


def test_the_card_names_the_architecture_and_the_recorded_metrics(tiny, tmp_path):
    ckpt = fine_tuned_ckpt(tiny, tmp_path / "best.ckpt")
    out = export_hf(build_model(load_checkpoint(ckpt)), tmp_path / "hf", id2label=NAMES,
                    card=read_card_facts(ckpt))  # fmt: skip
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
    assert rows["videomae_ssl"] == __version__
    assert "ema_decay" not in rows and "/home/someone" not in card
    meta = front_matter(card)
    assert "library_name: transformers" in meta and "pipeline_tag: video-classification" in meta
    assert "- video-classification" in meta and "- videomae" in meta
    assert "VideoMAEForVideoClassification.from_pretrained(\"hf\")" in card


def test_a_pretraining_card_without_a_record_has_the_architecture_and_usage(tiny, tmp_path):
    out = export_hf(tiny.ours_pretrain(), tmp_path / "pre")
    card = (out / "README.md").read_text()
    meta = front_matter(card)
    assert "- video" in meta and "pipeline_tag: video-classification" not in meta
    assert "| decoder | width 32, depth 2, 2 heads |" in card
    assert "VideoMAEForPreTraining.from_pretrained(\"pre\")" in card
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
