"""What happens to a batch once it is on the device, before the step sees it.

Workers hand over uint8 clips: a quarter of the bytes of float32 through pinned memory and the
bus. Here the clips are normalised, then the fine-tuning augmentations that work on normalised
floats are applied as the workers drew them: random erasing per clip ("erase", `ErasePlan`s),
then Mixup/CutMix over the batch ("mix", a `MixPlan`), the order of the original recipe.
Both Lightning modules call `prepare_batch` from `on_after_batch_transfer`.
"""

from __future__ import annotations

from typing import Any

from videomae_ssl.data.augment import erase_clips, mix_clips
from videomae_ssl.data.transforms import normalize_video


def prepare_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """A batch with "video" uint8 (B, 3, T, H, W) -> the same batch with "video" float32
    (B, 3, T, H, W) normalised, erased and mixed as planned; the plans are removed, so a batch
    is prepared once. A floating-point "video" is taken as normalised already."""
    video = normalize_video(batch["video"])  # (B, 3, T, H, W) float32
    erase, mix = batch.pop("erase", None), batch.pop("mix", None)
    if erase is not None or mix is not None:
        video = video.contiguous()
    if erase is not None:
        video = erase_clips(video, erase)
    if mix is not None:
        video = mix_clips(video, mix)
    batch["video"] = video
    return batch
