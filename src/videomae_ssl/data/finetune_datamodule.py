"""Where the fine-tuning data module was: it lives in `videomae_ssl.data.datamodules.finetune`."""

from videomae_ssl.data.datamodules.finetune import FinetuneDataModule, read_class_names

__all__ = ["FinetuneDataModule", "read_class_names"]
