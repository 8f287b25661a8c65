"""Where the fine-tuning data module was: it lives in `videomae_ssl.data.datamodules.finetune`."""

from videomae_ssl.data.annotations import read_class_names
from videomae_ssl.data.datamodules.finetune import FinetuneDataModule

__all__ = ["FinetuneDataModule", "read_class_names"]
