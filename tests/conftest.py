"""Shared test fixtures: small real video files written with PyAV (see clips.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from clips import write_clip


@pytest.fixture(scope="session")
def make_clip() -> Callable[..., np.ndarray]:
    """`make_clip(path, num_frames=16, size=(64, 48), codec="libx264", fps=25)` writes a video
    and returns its source frames (see `write_clip`)."""
    return write_clip
