"""Lightning data modules of videos listed in annotation files.

- `base`: `VideoDataModule`, what they share (the lists, the datasets of each stage, the batch
  hooks before and after the transfer);
- `settings`: the settings in typed groups (lists, clips, loader, broken videos) built from the
  flat config keys, and the checks of those no file can fix;
- `eval_check`: the evaluation videos decoded once before a run (rank 0) and its verdict
  shared with every rank;
- `loaders`: rank-sharded loaders and the training sampler's place in the epoch;
- `pretrain`, `finetune`, `demo`: the data modules themselves.
"""

from videomae_ssl.data.datamodules.base import FEATURE_SPLITS, VideoDataModule
from videomae_ssl.data.datamodules.demo import DemoFinetuneDataModule, DemoPretrainDataModule
from videomae_ssl.data.datamodules.finetune import FinetuneDataModule
from videomae_ssl.data.datamodules.pretrain import PretrainDataModule

__all__ = [
    "FEATURE_SPLITS",
    "DemoFinetuneDataModule",
    "DemoPretrainDataModule",
    "FinetuneDataModule",
    "PretrainDataModule",
    "VideoDataModule",
]
