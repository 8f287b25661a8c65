"""Checkpoint formats: ours, the original VideoMAE / VideoMAE V2 layout and Hugging Face.

    loaded = load_checkpoint("vit_b_k400_pretrain.pth")   # any format, read safely
    model = build_model(loaded)                            # our pretraining model or classifier
    export_hf(model, "exported/")                          # transformers directory
    load_pretrained_encoder(classifier, "videomae-base/")  # fine-tuning initialisation
    resolve_checkpoint("MCG-NJU/videomae-base", "pretrained")  # a Hub id -> its cached folder

The names are imported on first use: `checkpoints.hub` has no torch, and the training
command's input checks (which resolve Hub ids) answer before torch is imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from videomae_ssl.checkpoints.encoder_init import LoadReport, load_pretrained_encoder
    from videomae_ssl.checkpoints.export import export_hf, export_lightning, export_original
    from videomae_ssl.checkpoints.hub import (
        HubError,
        parse_hub_id,
        push_to_hub,
        resolve_checkpoint,
    )
    from videomae_ssl.checkpoints.load import (
        FORMAT_NAMES,
        LoadedCheckpoint,
        build_model,
        load_checkpoint,
    )
    from videomae_ssl.checkpoints.model_card import (
        CardFacts,
        model_card_text,
        read_card_facts,
        write_model_card,
    )
    from videomae_ssl.checkpoints.reading import CheckpointError, UnsafeCheckpointError

# Public name -> the module (under videomae_ssl.checkpoints) that defines it.
_WHERE = {
    "LoadReport": "encoder_init",
    "load_pretrained_encoder": "encoder_init",
    "export_hf": "export",
    "export_lightning": "export",
    "export_original": "export",
    "HubError": "hub",
    "parse_hub_id": "hub",
    "push_to_hub": "hub",
    "resolve_checkpoint": "hub",
    "FORMAT_NAMES": "load",
    "LoadedCheckpoint": "load",
    "build_model": "load",
    "load_checkpoint": "load",
    "CardFacts": "model_card",
    "model_card_text": "model_card",
    "read_card_facts": "model_card",
    "write_model_card": "model_card",
    "CheckpointError": "reading",
    "UnsafeCheckpointError": "reading",
}

__all__ = [
    "FORMAT_NAMES",
    "CardFacts",
    "CheckpointError",
    "HubError",
    "LoadReport",
    "LoadedCheckpoint",
    "UnsafeCheckpointError",
    "build_model",
    "export_hf",
    "export_lightning",
    "export_original",
    "load_checkpoint",
    "load_pretrained_encoder",
    "model_card_text",
    "parse_hub_id",
    "push_to_hub",
    "read_card_facts",
    "resolve_checkpoint",
    "write_model_card",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
