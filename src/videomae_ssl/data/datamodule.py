"""The Lightning data module for pretraining on videos listed in V1 annotation files."""

from __future__ import annotations

import os

import lightning as L
from torch.utils.data import DataLoader

from videomae_ssl.data.annotations import VideoRecord, read_annotations
from videomae_ssl.data.pretrain import VideoPretrainDataset
from videomae_ssl.data.readers import resolve_backend
from videomae_ssl.data.sampler import EpochSampler
from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.masking import MaskGenerator

ANNOTATION_HELP = (
    "a V1 annotation file: one clip per line, '<path> <label>', paths relative to data.root"
)


class PretrainDataModule(L.LightningDataModule):
    """Train (and optionally validation) clips with masks for VideoMAE pretraining.

    `batch_size` is per device. The loaders use `EpochSampler` with this process's rank and
    world size from the trainer, so a multi-device trainer must run with
    `use_distributed_sampler=False` (our trainer configs do; others get a ConfigError). Call `validate_inputs()` before
    building the trainer to fail early, with the config key to fix, on missing files.
    """

    def __init__(
        self,
        *,
        train_list: str,
        val_list: str | None = None,
        root: str | None = None,
        num_frames: int = 16,
        sampling_rate: int = 4,
        input_size: int = 224,
        patch_size: int = 16,
        tubelet_size: int = 2,
        mask_generator: MaskGenerator,
        batch_size: int = 8,
        num_workers: int = 8,
        pin_memory: bool = True,
        seed: int = 0,
        backend: str = "auto",
        check_files: bool = False,
    ) -> None:
        super().__init__()
        self.train_list = str(train_list)
        self.val_list = None if val_list is None else str(val_list)
        self.root = None if root is None else str(root)
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.input_size = input_size
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.mask_generator = mask_generator
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.seed = seed
        self.backend = backend
        self.check_files = check_files
        self.grid = (num_frames // tubelet_size, input_size // patch_size, input_size // patch_size)
        self.train_records: list[VideoRecord] | None = None
        self.val_records: list[VideoRecord] | None = None
        self.train_dataset: VideoPretrainDataset | None = None
        self.val_dataset: VideoPretrainDataset | None = None

    def validate_inputs(self) -> None:
        """Check files, annotation lines, mask ratio and backend before any training work.

        Raises DataError naming the file and the config key (`data.train_list`, ...) to set,
        or ConfigError from the mask generator or the backend.
        """
        self.mask_generator.check(self.grid)
        resolve_backend(self.backend, key="data.backend")
        for key, path in (("data.train_list", self.train_list), ("data.val_list", self.val_list)):
            if path is not None and not os.path.isfile(path):
                raise DataError(f"{key}={path}: no such file; set {key} to {ANNOTATION_HELP}.")
        if self.root is not None and not os.path.isdir(self.root):
            raise DataError(
                f"data.root={self.root}: no such folder; set data.root to the folder the "
                f"annotation paths are relative to, or to null."
            )
        self.train_records = self._read(self.train_list)
        if self.val_list is not None:
            self.val_records = self._read(self.val_list)

    def _read(self, path: str) -> list[VideoRecord]:
        records = read_annotations(path, self.root)
        if self.check_files:
            missing = [r.path for r in records if not os.path.isfile(r.path)]
            if missing:
                raise DataError(
                    f"{path}: {len(missing)} of {len(records)} listed videos do not exist, "
                    f"e.g. {missing[0]} (check data.root={self.root})"
                )
        return records

    def setup(self, stage: str | None = None) -> None:
        """Parse the annotation files (once) and build the datasets."""
        if self.train_records is None:
            self.validate_inputs()
        common = dict(
            num_frames=self.num_frames,
            sampling_rate=self.sampling_rate,
            input_size=self.input_size,
            patch_size=self.patch_size,
            tubelet_size=self.tubelet_size,
            mask_generator=self.mask_generator,
            seed=self.seed,
            backend=self.backend,
        )
        self.train_dataset = VideoPretrainDataset(self.train_records, train=True, **common)
        if self.val_records is not None:
            self.val_dataset = VideoPretrainDataset(self.val_records, train=False, **common)

    @property
    def num_train_samples(self) -> int:
        """Clips listed in `train_list` (over all ranks), known after `setup()`."""
        if self.train_records is None:
            raise RuntimeError("num_train_samples is known only after setup()")
        return len(self.train_records)

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        # Lightning would wrap our already sharded sampler in a second distributed sampler,
        # silently training on 1/world of the data. It keeps the flag on a private connector.
        connector = getattr(trainer, "_accelerator_connector", None)
        if trainer.world_size > 1 and getattr(connector, "use_distributed_sampler", False):
            raise ConfigError(
                "trainer.use_distributed_sampler must be false: the data module shards the "
                "clips itself, so that every sample knows its epoch."
            )
        return trainer.global_rank, trainer.world_size

    def _loader(self, dataset: VideoPretrainDataset, sampler: EpochSampler) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=sampler.drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        rank, world = self._rank_and_world()
        sampler = EpochSampler(
            len(self.train_dataset),
            shuffle=True,
            seed=self.seed,
            drop_last=True,
            num_replicas=world,
            rank=rank,
        )
        if len(sampler) < self.batch_size:
            raise DataError(
                f"{self.train_list}: {len(self.train_dataset)} clips give {len(sampler)} per "
                f"device on {world} device(s), fewer than one batch of data.batch_size="
                f"{self.batch_size}; lower data.batch_size or list more clips."
            )
        return self._loader(self.train_dataset, sampler)

    def val_dataloader(self) -> DataLoader | list:
        """The validation loader, or an empty list (Lightning then skips validation)."""
        if self.val_dataset is None and self.val_list is not None:
            self.setup("validate")
        if self.val_dataset is None:
            return []
        rank, world = self._rank_and_world()
        sampler = EpochSampler(
            len(self.val_dataset),
            shuffle=False,
            seed=self.seed,
            drop_last=False,
            num_replicas=world,
            rank=rank,
        )
        return self._loader(self.val_dataset, sampler)
