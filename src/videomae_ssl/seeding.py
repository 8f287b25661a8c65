"""Per-sample random streams, so that data, crops and masks are reproducible across runs,
worker counts and resumes: the stream depends only on (seed, epoch, index, view, purpose).

Libraries that draw from the global generators (timm's RandAugment, RandomErasing and Mixup)
are run inside `preserved_global_rngs`, seeded by `seed_global_rngs` with a seed that
`draw_seed` takes from the sample's own generator.
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


def seeded_generator(*entropy: int) -> torch.Generator:
    """A CPU torch.Generator seeded from a tuple of integers.

    SeedSequence hashes the tuple, so nearby tuples give unrelated streams.
    """
    state = np.random.SeedSequence([int(x) for x in entropy]).generate_state(2, dtype=np.uint32)
    g = torch.Generator()
    g.manual_seed(int(state[0]) << 32 | int(state[1]))
    return g


def sample_generator(
    seed: int, epoch: int, index: int, view: int = 0, stream: int = 0
) -> torch.Generator:
    """The generator of one sample's view for one purpose (a `STREAM_*` id)."""
    return seeded_generator(seed, epoch, index, view, stream)


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


def seed_global_rngs(seed: int) -> None:
    """Seed Python's, numpy's and torch's CPU global generators (CUDA ones are left alone)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)
