"""Folders of image files read as videos, with PIL: from disk, or as the image files' bytes
in memory (a frame folder packed into shards)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from videomae_ssl.data.readers.base import (
    FRAME_TEMPLATE,
    VideoDecodeError,
    VideoFile,
    describe,
    scaled_size,
)


class FrameFolder(VideoFile):
    """A folder of image files, frame i named `template.format(start + i)`, read with PIL as
    RGB. With `short_side`, JPEGs are decoded at a reduced scale (PIL `draft`) before the
    final resize."""

    def __init__(
        self,
        path: str,
        num_frames: int,
        start: int = 0,
        template: str = FRAME_TEMPLATE,
        short_side: int | None = None,
    ) -> None:
        super().__init__(path)
        if not os.path.isdir(path):
            raise VideoDecodeError(f"{path}: no such frame folder")
        if num_frames <= 0:
            raise VideoDecodeError(f"{path}: frame folder listed with {num_frames} frames")
        self.num_frames = num_frames
        self._start = start
        self._template = template
        self._short_side = short_side

    def frame_path(self, index: int) -> str:
        """The file holding frame `index` (0-based)."""
        return os.path.join(self.path, self._template.format(self._start + index))

    def _read(self, indices: list[int]) -> np.ndarray:
        images = {i: self._load(self.frame_path(i)) for i in dict.fromkeys(indices)}
        return np.stack([images[i] for i in indices])  # (T, H, W, 3)

    def _load(self, file: str) -> np.ndarray:
        if not os.path.isfile(file):
            raise VideoDecodeError(f"{file}: frame file missing (frame folder {self.path})")
        return load_image(file, file, self._short_side)


class FrameImages(VideoFile):
    """A frame folder held in memory: `images[i]` is the encoded file (JPEG, PNG, ...) of frame
    i, read with PIL exactly as `FrameFolder` reads the file on disk, so both give the same
    pixels. `path` names the folder in messages."""

    def __init__(self, path: str, images: Sequence[bytes], short_side: int | None = None) -> None:
        super().__init__(path)
        if not images:
            raise VideoDecodeError(f"{path}: frame folder holds no images")
        self.num_frames = len(images)
        self._images = images
        self._short_side = short_side

    def _read(self, indices: list[int]) -> np.ndarray:
        images = {
            i: load_image(io.BytesIO(self._images[i]), f"{self.path} frame {i}", self._short_side)
            for i in dict.fromkeys(indices)
        }
        return np.stack([images[i] for i in indices])  # (T, H, W, 3)


def load_image(file: str | io.BytesIO, name: str, short_side: int | None) -> np.ndarray:
    """One image as RGB uint8 (H, W, 3), its short side scaled to `short_side` (JPEGs are
    first decoded at a reduced scale, PIL `draft`); `name` is said in the error."""
    try:
        with Image.open(file) as image:
            size = scaled_size(*image.size, short_side)
            if size != image.size:
                image.draft("RGB", size)  # JPEG only: decode at 1/2, 1/4 or 1/8 scale
            image = image.convert("RGB")
            if size != image.size:
                image = image.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(image)  # (H, W, 3)
    except Exception as err:
        raise VideoDecodeError(f"{name}: cannot read frame ({describe(err)})") from err
