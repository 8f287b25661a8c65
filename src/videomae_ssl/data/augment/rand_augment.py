"""RandAugment on whole clips: timm's RandAugment with the same ops and magnitudes on every
frame, seeded from the clip's own generator."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from timm.data.auto_augment import rand_augment_transform

from videomae_ssl.errors import ConfigError
from videomae_ssl.seeding import draw_seed, preserved_global_rngs, seed_global_rngs

DEFAULT_RAND_AUGMENT = "rand-m7-n4-mstd0.5-inc1"

_PIL_INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}


class ClipRandAugment:
    """timm's RandAugment applied with the same ops and magnitudes to every frame of a clip.

    timm picks ops with numpy's global RNG and magnitudes and signs with Python's, and the
    number of draws does not depend on the image, so re-seeding both with one seed before each
    frame replays the same choices on every frame. Frames go through PIL, as timm's ops are
    PIL-based. Hyperparameters follow the original: translations relative to the frame (the
    `inc1` set), `translate_const` 0.45 * input_size, fill grey 128, bicubic resampling.
    """

    def __init__(
        self,
        config: str = DEFAULT_RAND_AUGMENT,
        input_size: int = 224,
        interpolation: str = "bicubic",
    ) -> None:
        if interpolation not in _PIL_INTERPOLATION:
            raise ConfigError(
                f"RandAugment interpolation {interpolation!r} is not one of "
                f"{sorted(_PIL_INTERPOLATION)}."
            )
        hparams = {
            "translate_const": int(input_size * 0.45),
            "interpolation": _PIL_INTERPOLATION[interpolation],
        }
        try:
            self.transform = rand_augment_transform(config, hparams)
        except (AssertionError, ValueError, KeyError) as err:
            raise ConfigError(
                f"invalid RandAugment config {config!r}: expected timm's 'rand-m<magnitude>-"
                f"n<ops>[-mstd<std>][-inc1]' form, e.g. {DEFAULT_RAND_AUGMENT!r}."
            ) from err
        self.config = config

    def __call__(self, clip: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """uint8 (T, 3, H, W) -> uint8 (T, 3, H, W), one seed drawn from `generator`."""
        return self.apply_seeded(clip, draw_seed(generator))

    def apply_seeded(self, clip: torch.Tensor, seed: int) -> torch.Tensor:
        """The same as `__call__` with the seed given: every frame is transformed right after
        seeding the global generators with `seed`."""
        frames = clip.permute(0, 2, 3, 1).cpu().contiguous().numpy()  # (T, H, W, 3)
        out = []
        with preserved_global_rngs():
            for frame in frames:
                seed_global_rngs(seed)
                out.append(np.asarray(self.transform(Image.fromarray(frame))))
        out = torch.from_numpy(np.stack(out)).to(clip.device)  # PIL's ops run on the CPU
        return out.permute(0, 3, 1, 2)  # (T, 3, H, W)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"
