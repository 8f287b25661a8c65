"""A distributed-aware sampler that tells the dataset the epoch with every index.

Crops and masks are drawn from (seed, epoch, index) streams (see `videomae_ssl.seeding`), so
the dataset needs the epoch. DataLoader workers are separate processes (persistent across
epochs), so a `dataset.epoch` attribute set in the main process would not reach them; the
sampler runs in the main process, so it sends `(index, epoch)` pairs instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler


class EpochSampler(Sampler[tuple[int, int]]):
    """Like torch's DistributedSampler, but yields `(index, epoch)` tuples.

    Each epoch, every rank takes every `num_replicas`-th index of one shared permutation
    (seeded from (seed, epoch), so all ranks agree without communicating). With `drop_last`
    the tail that does not split evenly is dropped; otherwise the list is padded by repeating
    indices from its start, so every rank gets the same number of samples, unless `pad=False`:
    then every sample is seen exactly once and ranks may get one sample fewer (evaluation,
    where a repeated sample would count twice). Call `set_epoch` before each epoch (Lightning's
    fit loop does) to reshuffle.

    Its position in the epoch is a state: `advance(n)` counts samples the training loop has
    consumed (not those DataLoader workers prefetched), `state_dict()` holds the epoch and that
    count, and after `load_state_dict` the next iteration starts where the saved one stopped,
    so a run restarted mid-epoch sees each of the epoch's samples once, in the same order.
    """

    def __init__(
        self,
        num_samples: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        pad: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank={rank}, {num_replicas=}")
        self.num_samples = num_samples
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.pad = pad
        # Samples of this rank's share to skip at the next iteration, and consumed so far in
        # the current one.
        self.start = 0
        self.consumed = 0
        if drop_last:
            self.per_replica = num_samples // num_replicas
            self.total_size = self.per_replica * num_replicas
        elif pad:
            self.per_replica = math.ceil(num_samples / num_replicas)
            self.total_size = self.per_replica * num_replicas
        else:
            # Every sample exactly once over all ranks; ranks may differ by one sample.
            self.per_replica = len(range(rank, num_samples, num_replicas))
            self.total_size = num_samples

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation (and the epoch sent to the dataset) for the next iteration;
        a new epoch starts from its first sample."""
        if epoch != self.epoch:
            self.start = self.consumed = 0
        self.epoch = epoch

    def advance(self, num_samples: int) -> None:
        """Count `num_samples` of the current iteration as consumed."""
        self.consumed += num_samples

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "consumed": self.consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self.start = self.consumed = int(state["consumed"])

    def order(self) -> list[int]:
        """This epoch's indices over all ranks, padded or truncated to `total_size`."""
        if self.shuffle:
            # Hashing (seed, epoch) keeps epoch e of seed s unrelated to epoch e+1 of seed s-1.
            state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(2, np.uint32)
            g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
            indices = torch.randperm(self.num_samples, generator=g).tolist()
        else:
            indices = list(range(self.num_samples))
        if self.total_size > len(indices):
            repeats = math.ceil(self.total_size / len(indices))
            indices = (indices * repeats)[: self.total_size]
        return indices[: self.total_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        start, self.start = self.start, 0
        self.consumed = start
        share = self.order()[self.rank : self.total_size : self.num_replicas]
        for index in share[start:]:
            yield index, self.epoch

    def __len__(self) -> int:
        return self.per_replica


class ResumableDataLoader(DataLoader):
    """A DataLoader whose `EpochSampler` position is saved in Lightning checkpoints.

    Lightning's fit loop saves the `state_dict()` of a training loader that has one and loads
    it back when it restarts mid-epoch (the data module also restores it, see its
    `load_state_dict`; loading twice is harmless). Whoever consumes the batches calls
    `advance()` once per batch (the data module does, in its main-process batch hook).
    """

    sampler: EpochSampler

    def advance(self) -> None:
        """Count one batch as consumed."""
        self.sampler.advance(self.batch_size)

    def state_dict(self) -> dict[str, Any]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state)
