"""Fine-tuning augmentations for whole clips (the VideoMAE recipe): RandAugment, random resized
crop, horizontal flip, normalisation and random erasing per sample, Mixup/CutMix per batch.

Every frame of a clip gets the same operation with the same parameters, so motion stays
coherent. Clips are uint8 `(T, 3, H, W)` until `normalize`, float32 `(3, T, H, W)` after it.
Randomness comes from the `torch.Generator` passed in. timm's RandAugment, RandomErasing and
Mixup draw from Python's `random`, numpy's and torch's global generators instead; those are
seeded from the clip's generator around each call and then restored, so results are
reproducible and the rest of the program sees untouched global streams.

In a data loader, the steps on uint8 frames run in the workers, and the clips travel in uint8.
Random erasing and Mixup/CutMix work on normalised floats, so the workers only draw them (an
`ErasePlan` per clip, a `MixPlan` per batch, from the same streams and in the same order as
applying them there would) and `on_device.prepare_batch` applies them after normalising the
batch on the device: on the CPU the result is bit for bit the same as applying them in the
worker, and on an accelerator only the erasing noise comes from its own generator.

Deviations from the original: random erasing uses one box for the whole clip (the original
erased an independent box in each frame), and the crop and flip run on uint8 frames before
normalisation (the original normalised first; both are per-channel affine, so only rounding
differs).

Modules: `rand_augment` (ClipRandAugment), `geometry` (random resized crop, flip), `erasing`
(ClipRandomErasing, ErasePlan), `mixup` (Mixup/CutMix and label-smoothing collates),
`compose` (FinetuneTrainTransform, the evaluation views). The generator helpers they share
(`draw_seed`, `preserved_global_rngs`, `seed_global_rngs`) live in `videomae_ssl.seeding`.
"""

from videomae_ssl.data.augment.compose import FinetuneTrainTransform, finetune_eval_transform
from videomae_ssl.data.augment.erasing import (
    ClipRandomErasing,
    ErasePlan,
    erase_clip,
    erase_clips,
    erasing_noise,
)
from videomae_ssl.data.augment.geometry import (
    horizontal_flip,
    random_resized_crop,
    random_resized_crop_box,
)
from videomae_ssl.data.augment.mixup import (
    MixPlan,
    MixupCutmixCollate,
    SmoothLabelsCollate,
    mix_clips,
)
from videomae_ssl.data.augment.rand_augment import DEFAULT_RAND_AUGMENT, ClipRandAugment

__all__ = [
    "DEFAULT_RAND_AUGMENT",
    "ClipRandAugment",
    "ClipRandomErasing",
    "ErasePlan",
    "FinetuneTrainTransform",
    "MixPlan",
    "MixupCutmixCollate",
    "SmoothLabelsCollate",
    "erase_clip",
    "erase_clips",
    "erasing_noise",
    "finetune_eval_transform",
    "horizontal_flip",
    "mix_clips",
    "random_resized_crop",
    "random_resized_crop_box",
]
