"""Folders of image files read as videos, with PIL."""

from __future__ import annotations

import os

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
        try:
            with Image.open(file) as image:
                size = scaled_size(*image.size, self._short_side)
                if size != image.size:
                    image.draft("RGB", size)  # JPEG only: decode at 1/2, 1/4 or 1/8 scale
                image = image.convert("RGB")
                if size != image.size:
                    image = image.resize(size, Image.Resampling.BILINEAR)
                return np.asarray(image)  # (H, W, 3)
        except Exception as err:
            raise VideoDecodeError(f"{file}: cannot read frame ({describe(err)})") from err
