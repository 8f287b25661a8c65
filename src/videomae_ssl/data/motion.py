"""The codec's motion vectors as a motion map over the token grid of a cropped clip.

H.264 (and the MPEG family) store, for each predicted block of a P or B frame, where its
content came from in a reference frame. FFmpeg exports them when the decoder's `flags2`
option includes `+export_mvs` (PyAV: frame side data MOTION_VECTORS); decoding produces them,
so they cost no extra pass. I-frames, intra-only codecs (MJPEG) and VP9 carry none.

Three steps, each a pure function:
  `frame_vectors`  one frame's side data -> blocks (K, 6): x0, y0, x1, y1 in the decoded
                   frame's pixels and the block's velocity vx, vy in pixels per reference step;
  `motion_field`   the blocks of each clip frame -> mean speed per cell of a fine grid
                   (T, H / cell, W / cell), NaN for a frame without vectors;
  `token_motion`   the field under a crop box (the crop the clip was given) pooled to the
                   token grid and averaged over each tubelet -> (T', H', W').
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from videomae_ssl.masking.functional import Grid

# Column order of `frame_vectors`' rows.
X0, Y0, X1, Y1, VX, VY = range(6)
# Side length in pixels of the field's cells: H.264's smallest block is 4x4.
FIELD_CELL = 4

# (x, y, width, height) of a crop in the decoded frame's pixels.
Box = tuple[float, float, float, float]


def frame_vectors(side_data: Any, scale_x: float = 1.0, scale_y: float = 1.0) -> np.ndarray:
    """One frame's motion vectors -> float32 (K, 6): block corners x0, y0, x1, y1 and velocity
    vx, vy, all scaled by (`scale_x`, `scale_y`) from the coded frame to the decoded one.

    side_data: PyAV's MotionVectors (or its `to_ndarray()`), a structured array with fields
    w, h (block size), dst_x, dst_y (block centre in this frame), motion_x, motion_y,
    motion_scale (src = dst + motion / scale) and source (< 0: a past reference, > 0: a future
    one). The velocity points the way the content moves: dst - src for a past reference,
    src - dst for a future one.
    """
    a = side_data.to_ndarray() if hasattr(side_data, "to_ndarray") else np.asarray(side_data)
    out = np.empty((len(a), 6), dtype=np.float32)
    if not len(a):
        return out
    half_w, half_h = a["w"].astype(np.float32) / 2, a["h"].astype(np.float32) / 2
    cx, cy = a["dst_x"].astype(np.float32), a["dst_y"].astype(np.float32)
    scale = np.maximum(a["motion_scale"].astype(np.float32), 1.0)
    sign = np.sign(a["source"]).astype(np.float32)
    out[:, X0], out[:, X1] = (cx - half_w) * scale_x, (cx + half_w) * scale_x
    out[:, Y0], out[:, Y1] = (cy - half_h) * scale_y, (cy + half_h) * scale_y
    out[:, VX] = sign * a["motion_x"] / scale * scale_x
    out[:, VY] = sign * a["motion_y"] / scale * scale_y
    return out


def motion_field(
    vectors: Sequence[np.ndarray | None], height: int, width: int, cell: int = FIELD_CELL
) -> torch.Tensor:
    """Mean speed (pixels per reference step) over the blocks covering each cell of a grid of
    `cell`-pixel cells over (height, width) frames -> float32 (T, ceil(H / cell), ceil(W / cell)).

    vectors: per clip frame, `frame_vectors`' (K, 6) array or None (no vectors: that frame's
    field is NaN). Cells no block covers (intra blocks) are 0. A block covers the cells it
    overlaps; where a B frame's block has two vectors, their speeds are averaged.
    """
    rows, cols = math.ceil(height / cell), math.ceil(width / cell)
    field = torch.full((len(vectors), rows, cols), math.nan, dtype=torch.float32)
    for t, blocks in enumerate(vectors):
        if blocks is None:
            continue
        total = np.zeros((rows + 1, cols + 1), dtype=np.float64)
        count = np.zeros((rows + 1, cols + 1), dtype=np.float64)
        if len(blocks):
            c0 = np.clip(np.floor(blocks[:, X0] / cell), 0, cols).astype(np.int64)
            c1 = np.clip(np.ceil(blocks[:, X1] / cell), 0, cols).astype(np.int64)
            r0 = np.clip(np.floor(blocks[:, Y0] / cell), 0, rows).astype(np.int64)
            r1 = np.clip(np.ceil(blocks[:, Y1] / cell), 0, rows).astype(np.int64)
            speed = np.hypot(blocks[:, VX], blocks[:, VY]).astype(np.float64)
            # Each block adds its speed to a rectangle: four corner updates, then a 2D prefix
            # sum, costs O(K + cells) whatever the block sizes.
            for grid, value in ((total, speed), (count, np.ones_like(speed))):
                np.add.at(grid, (r0, c0), value)
                np.add.at(grid, (r0, c1), -value)
                np.add.at(grid, (r1, c0), -value)
                np.add.at(grid, (r1, c1), value)
        total = total.cumsum(0).cumsum(1)[:rows, :cols]  # (rows, cols)
        count = count.cumsum(0).cumsum(1)[:rows, :cols]  # (rows, cols)
        field[t] = torch.from_numpy(total / np.maximum(np.rint(count), 1.0)).float()
    return field


def token_motion(field: torch.Tensor, box: Box, grid: Grid, cell: int = FIELD_CELL) -> torch.Tensor:
    """The motion of each token of a clip cropped to `box` and resized -> (T', H', W').

    field: (T, rows, cols) from `motion_field` for the uncropped frames; box: the crop's (x, y,
    width, height) in those frames' pixels, which the crop resizes to the model's square input,
    so token (i, j) of a slice covers the box's i-th of H' rows and j-th of W' columns. A
    slice is the mean of its tubelet's frames that have vectors, NaN when none has.
    """
    t_tokens, h, w = grid
    x, y, box_w, box_h = box
    rows, cols = field.shape[-2:]
    c0, c1 = int(x // cell), min(cols, max(int(x // cell) + 1, math.ceil((x + box_w) / cell)))
    r0, r1 = int(y // cell), min(rows, max(int(y // cell) + 1, math.ceil((y + box_h) / cell)))
    under = field[:, r0:r1, c0:c1]  # (T, r, c)
    # A cell grid finer than the tokens: each token averages the cells it covers.
    pooled = F.adaptive_avg_pool2d(under, (h, w))  # (T, H', W'), NaN stays NaN per frame
    tubelet = pooled.shape[0] // t_tokens
    return torch.nanmean(pooled.reshape(t_tokens, tubelet, h, w), dim=1)  # (T', H', W')
