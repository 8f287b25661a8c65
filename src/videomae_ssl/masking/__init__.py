"""Masks over the token grid: Bool[N], True = hidden from the encoder."""

from videomae_ssl.masking.functional import check_ratio, random_mask, tube_mask
from videomae_ssl.masking.generators import MaskGenerator, RandomMaskGenerator, TubeMaskGenerator
from videomae_ssl.masking.indexing import gather_tokens, mask_to_indices

__all__ = [
    "MaskGenerator",
    "RandomMaskGenerator",
    "TubeMaskGenerator",
    "check_ratio",
    "gather_tokens",
    "mask_to_indices",
    "random_mask",
    "tube_mask",
]
