"""Per-sample random streams, so that data, crops and masks are reproducible across runs,
worker counts and resumes: the stream depends only on (seed, epoch, index, view, purpose)."""

from __future__ import annotations

import numpy as np
import torch

# Purposes get distinct streams, so that changing the crop code never changes the masks.
STREAM_FRAMES = 0
STREAM_CROP = 1
STREAM_MASK = 2
# 3 draws replacements of broken videos (data.clip_dataset).
STREAM_DECODER_MASK = 4


def sample_generator(
    seed: int, epoch: int, index: int, view: int = 0, stream: int = 0
) -> torch.Generator:
    """A CPU torch.Generator seeded from the sample's coordinates.

    SeedSequence hashes the tuple, so nearby coordinates give unrelated streams.
    """
    state = np.random.SeedSequence([seed, epoch, index, view, stream]).generate_state(
        2, dtype=np.uint32
    )
    g = torch.Generator()
    g.manual_seed(int(state[0]) << 32 | int(state[1]))
    return g
