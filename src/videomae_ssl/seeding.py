"""Per-sample random streams, so that data, crops and masks are reproducible across runs,
worker counts and resumes: the stream depends only on (seed, epoch, index, view, purpose).

Libraries that draw from the global generators (timm's RandAugment, RandomErasing and Mixup)
are run inside `preserved_global_rngs`, seeded by `seed_global_rngs` with a seed that
`draw_seed` takes from the sample's own generator. The training forward pass (stochastic depth,
dropout) draws from them too, inside `seeded_global_rngs` with the seed of its batch
(`step_seed`).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch

# The purposes that draw per-sample randomness, each with its own stream, so that changing the
# crop code never changes the masks. The ids are part of what a seed reproduces: never
# renumber one.
STREAM_FRAMES = 0  # which frames a clip reads (data.clip_dataset)
STREAM_CROP = 1  # crops, flips and augmentations (data.pretrain_dataset, data.finetune_dataset)
STREAM_MASK = 2  # the encoder's mask (data.pretrain_dataset)
STREAM_SUBSTITUTE = 3  # the replacement drawn for a broken video (data.clip_dataset)
STREAM_DECODER_MASK = 4  # VideoMAE V2's decoder mask (data.pretrain_dataset)
STREAM_STEP = 5  # a training batch's stochastic depth and dropout (lightning.finetune_module)


def hashed_seed(*entropy: int) -> int:
    """A 64-bit seed from a tuple of integers.

    SeedSequence hashes the tuple, so nearby tuples give unrelated seeds.
    """
    state = np.random.SeedSequence([int(x) for x in entropy]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 32 | int(state[1])


def seeded_generator(*entropy: int) -> torch.Generator:
    """A CPU torch.Generator seeded from a tuple of integers (`hashed_seed`)."""
    g = torch.Generator()
    g.manual_seed(hashed_seed(*entropy))
    return g


def sample_generator(
    seed: int, epoch: int, index: int, view: int = 0, stream: int = 0
) -> torch.Generator:
    """The generator of one sample's view for one purpose (a `STREAM_*` id)."""
    return seeded_generator(seed, epoch, index, view, stream)


def step_seed(seed: int, epoch: int, batch: int, rank: int) -> int:
    """The seed of one training batch's draws in the model on one rank: a function of the
    batch's place in the run, not of what was drawn before it, so a run resumed mid-epoch draws
    what the uninterrupted run drew; each rank draws its own."""
    return hashed_seed(seed, epoch, batch, rank, STREAM_STEP)


def draw_seed(generator: torch.Generator | None) -> int:
    """One seed for a global-RNG library call, drawn from the sample's generator."""
    return int(torch.randint(2**31 - 1, (1,), generator=generator))


@contextlib.contextmanager
def preserved_global_rngs() -> Iterator[None]:
    """Restore Python's, numpy's and torch's CPU global generators on exit."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)


@contextlib.contextmanager
def seeded_global_rngs(seed: int, device: torch.device) -> Iterator[None]:
    """Inside, torch's CPU global generator and, on a GPU, `device`'s are seeded with `seed`;
    both are put back on exit, so what draws outside sees the same streams as without it."""
    on_cuda = device.type == "cuda"
    with torch.random.fork_rng(devices=[device] if on_cuda else []):
        torch.default_generator.manual_seed(seed)
        if on_cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


def seed_global_rngs(seed: int) -> None:
    """Seed Python's, numpy's and torch's CPU global generators (CUDA ones are left alone)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)
