"""Masks over the token grid: Bool[N], True = hidden from the encoder."""

from videomae_ssl.masking.functional import (
    check_decoder_ratio,
    check_ratio,
    random_mask,
    running_cell_mask,
    tube_mask,
)
from videomae_ssl.masking.generators import (
    MaskGenerator,
    MotionMaskGenerator,
    RandomMaskGenerator,
    RunningCellMaskGenerator,
    TubeMaskGenerator,
    decoder_mask_generator,
)
from videomae_ssl.masking.indexing import (
    TokenIndices,
    gather_tokens,
    mask_to_indices,
    token_indices,
)
from videomae_ssl.masking.motion import guided_slices, motion_mask

__all__ = [
    "MaskGenerator",
    "MotionMaskGenerator",
    "RandomMaskGenerator",
    "RunningCellMaskGenerator",
    "TokenIndices",
    "TubeMaskGenerator",
    "check_decoder_ratio",
    "check_ratio",
    "decoder_mask_generator",
    "gather_tokens",
    "guided_slices",
    "mask_to_indices",
    "motion_mask",
    "random_mask",
    "running_cell_mask",
    "token_indices",
    "tube_mask",
]
