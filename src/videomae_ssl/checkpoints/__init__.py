"""Checkpoint formats: ours, the original VideoMAE / VideoMAE V2 layout and Hugging Face.

    loaded = load_checkpoint("vit_b_k400_pretrain.pth")   # any format, read safely
    model = build_model(loaded)                            # our pretraining model or classifier
    export_hf(model, "exported/")                          # transformers directory
    load_pretrained_encoder(classifier, "videomae-base/")  # fine-tuning initialisation
"""

from videomae_ssl.checkpoints.encoder_init import LoadReport, load_pretrained_encoder
from videomae_ssl.checkpoints.export import export_hf, export_lightning, export_original
from videomae_ssl.checkpoints.load import (
    FORMAT_NAMES,
    LoadedCheckpoint,
    build_model,
    detect_format,
    load_checkpoint,
)
from videomae_ssl.checkpoints.model_card import (
    CardFacts,
    model_card_text,
    read_card_facts,
    write_model_card,
)
from videomae_ssl.checkpoints.reading import CheckpointError, UnsafeCheckpointError

__all__ = [
    "FORMAT_NAMES",
    "CardFacts",
    "CheckpointError",
    "LoadReport",
    "LoadedCheckpoint",
    "UnsafeCheckpointError",
    "build_model",
    "detect_format",
    "export_hf",
    "export_lightning",
    "export_original",
    "load_checkpoint",
    "load_pretrained_encoder",
    "model_card_text",
    "read_card_facts",
    "write_model_card",
]
