"""Rank-sharded DataLoaders of a data module: every rank reads its own share of each epoch
through an `EpochSampler`, which sends the epoch with every index; the training sampler's place
in its epoch is kept for checkpoints, so a run restarted mid-epoch continues it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import DataLoader

from videomae_ssl.data.clip_dataset import collate_views
from videomae_ssl.data.epoch_sampler import EpochSampler, ResumableDataLoader
from videomae_ssl.data.workers import worker_init
from videomae_ssl.errors import ConfigError, DataError

Collate = Callable[[list[dict[str, Any]]], dict[str, Any]]


def rank_and_world(trainer: Any) -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 without a trainer)."""
    if trainer is None:
        return 0, 1
    return trainer.global_rank, trainer.world_size


def _loaders(trainer: Any) -> list[Any]:
    """The DataLoaders the trainer iterates now (Lightning's public properties)."""
    found = []
    for name in ("train_dataloader", "val_dataloaders", "test_dataloaders", "predict_dataloaders"):
        value = getattr(trainer, name, None)
        found += value if isinstance(value, list | tuple) else [value]
    return [loader for loader in found if isinstance(loader, DataLoader)]


def _draws_from_ours(loader: DataLoader) -> bool:
    """Whether the loader's indices come from an EpochSampler: its sampler, or the sampler of
    its batch sampler (Lightning's predict loop wraps that to record the indices)."""
    batches = loader.batch_sampler
    batches = getattr(batches, "_batch_sampler", batches)
    candidates = (loader.sampler, getattr(batches, "sampler", None))
    return any(isinstance(sampler, EpochSampler) for sampler in candidates)


def check_own_samplers(trainer: Any) -> None:
    """Under DDP with `trainer.use_distributed_sampler=true`, Lightning wraps the loaders'
    sampler, already sharded by rank, in a second distributed sampler: every rank would read
    1/world of its share. Seen from the loaders the trainer iterates, so it is a ConfigError at
    the first batch, before any step."""
    if trainer is None or trainer.world_size == 1:
        return
    if any(not _draws_from_ours(loader) for loader in _loaders(trainer)):
        raise ConfigError(
            "trainer.use_distributed_sampler must be false: the data module shards the clips "
            "itself, so that every sample knows its epoch."
        )


class ShardedLoaders:
    """Builds the loaders of a data module (`batch_size` per device, `num_workers` processes)
    and keeps the training sampler's state."""

    def __init__(
        self,
        *,
        batch_size: int,
        num_workers: int,
        pin_memory: bool,
        seed: int,
        on_gpu: bool = False,
    ) -> None:
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.seed = seed
        self.on_gpu = on_gpu
        self.train_loader: ResumableDataLoader | None = None
        self._pending_state: dict[str, int] | None = None

    def _loader(
        self,
        dataset: Any,
        sampler: EpochSampler,
        collate: Collate = collate_views,
        kind: type[DataLoader] = DataLoader,
        batch_size: int | None = None,
        num_workers: int | None = None,
    ) -> DataLoader:
        workers = self.num_workers if num_workers is None else num_workers
        return kind(
            dataset,
            batch_size=self.batch_size if batch_size is None else batch_size,
            sampler=sampler,
            drop_last=sampler.drop_last,
            num_workers=workers,
            # Clips decoded on the GPU are there already; CUDA cannot start in a forked worker.
            pin_memory=self.pin_memory and not self.on_gpu,
            multiprocessing_context="spawn" if self.on_gpu and workers > 0 else None,
            persistent_workers=workers > 0,
            collate_fn=collate,
            worker_init_fn=worker_init,
        )

    def train(
        self, dataset: Any, trainer: Any, collate: Collate, list_name: str | None
    ) -> DataLoader:
        """Shuffled by (seed, epoch), whole batches only, continuing a restored epoch."""
        rank, world = rank_and_world(trainer)
        sampler = EpochSampler(
            len(dataset),
            shuffle=True,
            seed=self.seed,
            drop_last=True,
            num_replicas=world,
            rank=rank,
        )
        if self._pending_state is not None:
            # A run restarted mid-epoch continues the epoch instead of replaying its start.
            sampler.load_state_dict(self._pending_state)
            self._pending_state = None
        if len(sampler) < self.batch_size:
            raise DataError(
                f"{list_name}: {len(dataset)} clips give {len(sampler)} per device on {world} "
                f"device(s), fewer than one batch of data.batch_size={self.batch_size}; lower "
                f"data.batch_size or list more clips."
            )
        self.train_loader = self._loader(dataset, sampler, collate, kind=ResumableDataLoader)
        return self.train_loader

    def evaluation(
        self,
        dataset: Any,
        trainer: Any,
        *,
        batch_size: int | None = None,
        num_workers: int | None = None,
    ) -> DataLoader:
        """In list order, each item once over all ranks (no padding: nothing counted twice);
        `batch_size` and `num_workers` replace the data module's own."""
        rank, world = rank_and_world(trainer)
        sampler = EpochSampler(
            len(dataset),
            shuffle=False,
            seed=self.seed,
            drop_last=False,
            pad=False,
            num_replicas=world,
            rank=rank,
        )
        return self._loader(dataset, sampler, batch_size=batch_size, num_workers=num_workers)

    def advance(self) -> None:
        """Count one training batch as consumed (its place is saved in checkpoints)."""
        if self.train_loader is not None:
            self.train_loader.advance()

    def state_dict(self) -> dict[str, Any]:
        if self.train_loader is None:
            return {}
        return {"train_sampler": self.train_loader.sampler.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Applied when the training loader is built. Lightning also restores a stateful loader
        # itself, but only one built after its loops are restored, and configure_optimizers
        # (reading trainer.estimated_stepping_batches) builds it before.
        self._pending_state = state_dict.get("train_sampler")
