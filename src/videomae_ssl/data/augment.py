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
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image
from timm.data.auto_augment import rand_augment_transform
from timm.data.mixup import Mixup, cutmix_bbox_and_lam, mixup_target

from videomae_ssl.data.clip_dataset import collate_views
from videomae_ssl.data.transforms import center_crop_resize, channels_first, resize
from videomae_ssl.data.views import short_side_resize, spatial_crops
from videomae_ssl.errors import ConfigError

DEFAULT_RAND_AUGMENT = "rand-m7-n4-mstd0.5-inc1"

_PIL_INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}


def draw_seed(generator: torch.Generator | None) -> int:
    """One seed for a global-RNG library call, drawn from the sample's generator."""
    return int(torch.randint(2**31 - 1, (1,), generator=generator))


@contextlib.contextmanager
def preserved_global_rngs() -> Iterator[None]:
    """Restore Python's, numpy's and torch's CPU global generators on exit."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)


def seed_global_rngs(seed: int) -> None:
    """Seed Python's, numpy's and torch's CPU global generators (CUDA ones are left alone)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)


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


def random_resized_crop_box(
    height: int,
    width: int,
    generator: torch.Generator | None,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """(top, left, crop_h, crop_w) drawn by torchvision's RandomResizedCrop.get_params rule,
    from `generator` instead of the global RNG: up to 10 tries of an area fraction in `scale`
    and a log-uniform aspect ratio in `ratio`, else the central crop clamped to `ratio`."""
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        log_aspect = torch.empty(1).uniform_(
            log_ratio[0].item(), log_ratio[1].item(), generator=generator
        )
        aspect = torch.exp(log_aspect).item()
        crop_w = int(round(math.sqrt(target_area * aspect)))
        crop_h = int(round(math.sqrt(target_area / aspect)))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
            return top, left, crop_h, crop_w
    in_ratio = width / height
    if in_ratio < min(ratio):
        crop_w, crop_h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        crop_w, crop_h = int(round(height * max(ratio))), height
    else:
        crop_w, crop_h = width, height
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def random_resized_crop(
    clip: torch.Tensor,
    size: int,
    generator: torch.Generator | None,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """One random box for the whole clip, resized (bilinear, antialiased) to size x size.

    clip: uint8 (T, 3, H, W) -> uint8 (T, 3, size, size).
    """
    height, width = clip.shape[-2:]
    top, left, crop_h, crop_w = random_resized_crop_box(height, width, generator, scale, ratio)
    crop = clip[..., top : top + crop_h, left : left + crop_w]  # (T, 3, crop_h, crop_w)
    return resize(crop, (size, size))


def horizontal_flip(
    clip: torch.Tensor, generator: torch.Generator | None, p: float = 0.5
) -> torch.Tensor:
    """Mirror every frame left-right with probability `p` (one draw per clip).

    clip: (..., H, W) -> the same shape. Leave it out for SSv2, whose labels name directions.
    """
    if torch.rand(1, generator=generator).item() < p:
        return clip.flip(-1)
    return clip


class ErasePlan(NamedTuple):
    """Where to erase one clip and with which noise: boxes (top, left, height, width) on the
    frame, none when the clip is left alone, and the seed of the noise generator."""

    seed: int
    mode: str
    boxes: tuple[tuple[int, int, int, int], ...]


def erasing_noise(
    mode: str, shape: tuple[int, int, int], generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """The fill of one box as timm's RandomErasing draws it, from `generator`: per-pixel
    standard normal noise ("pixel", `shape`), one normal value per channel ("rand", (C, 1, 1))
    or zeros ("const")."""
    if mode == "pixel":
        return torch.empty(shape, device=device).normal_(generator=generator)
    if mode == "rand":
        return torch.empty((shape[0], 1, 1), device=device).normal_(generator=generator)
    return torch.zeros((shape[0], 1, 1), device=device)


def erase_clip(clip: torch.Tensor, plan: ErasePlan) -> torch.Tensor:
    """Erase the plan's boxes in every channel of every frame, in place.

    clip: float (3, T, H, W), normalised, contiguous, on any device -> the same tensor. The noise
    comes from a generator on the clip's device seeded with `plan.seed`, one box after the other.
    """
    if not plan.boxes:
        return clip
    channels, frames, height, width = clip.shape
    flat = clip.view(channels * frames, height, width)  # (3 * T, H, W)
    generator = torch.Generator(device=clip.device).manual_seed(plan.seed)
    for top, left, h, w in plan.boxes:
        noise = erasing_noise(plan.mode, (channels * frames, h, w), generator, clip.device)
        flat[:, top : top + h, left : left + w] = noise
    return clip


class ClipRandomErasing:
    """timm's RandomErasing with one box for the whole clip.

    The normalised clip (3, T, H, W) is seen as one image of 3 * T channels, so one box is
    drawn and erased in every channel of every frame; `mode="pixel"` fills it with standard
    normal noise (independent per pixel, channel and frame). `plan` draws the boxes by timm's
    rule from Python's `random` seeded by one seed from the clip's generator, and `erase_clip`
    fills them from a torch generator with the same seed: what timm does with the global
    generators seeded that way.
    """

    def __init__(
        self,
        p: float = 0.25,
        mode: str = "pixel",
        min_area: float = 0.02,
        max_area: float = 1 / 3,
        min_aspect: float = 0.3,
        max_count: int = 1,
    ) -> None:
        if mode not in ("const", "rand", "pixel"):
            raise ConfigError(
                f"random erasing mode {mode!r} is not one of 'const', 'rand', 'pixel'."
            )
        self.p = p
        self.mode = mode
        self.min_area = min_area
        self.max_area = max_area
        self.log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
        self.max_count = max_count

    def plan(self, height: int, width: int, generator: torch.Generator | None) -> ErasePlan:
        """The boxes for a frame of height x width, drawn as timm's `RandomErasing._erase`:
        erase with probability p, a count in [1, max_count], then per box up to 10 tries of an
        area and a log-uniform aspect until the box fits."""
        seed = draw_seed(generator)
        rng = random.Random(seed)
        boxes: list[tuple[int, int, int, int]] = []
        if rng.random() > self.p:
            return ErasePlan(seed, self.mode, ())
        count = 1 if self.max_count == 1 else rng.randint(1, self.max_count)
        area = height * width
        for _ in range(count):
            for _attempt in range(10):
                target_area = rng.uniform(self.min_area, self.max_area) * area / count
                aspect = math.exp(rng.uniform(*self.log_aspect))
                h = int(round(math.sqrt(target_area * aspect)))
                w = int(round(math.sqrt(target_area / aspect)))
                if w < width and h < height:
                    top = rng.randint(0, height - h)
                    left = rng.randint(0, width - w)
                    boxes.append((top, left, h, w))
                    break
        return ErasePlan(seed, self.mode, tuple(boxes))

    def __call__(self, clip: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """float (3, T, H, W) -> float (3, T, H, W), erased in place (made contiguous first)."""
        clip = clip.contiguous()
        return erase_clip(clip, self.plan(*clip.shape[-2:], generator))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p}, mode={self.mode!r})"


def erase_clips(video: torch.Tensor, plans: Sequence[ErasePlan | None]) -> torch.Tensor:
    """Apply each clip's plan in place: video float (B, 3, T, H, W), contiguous, one plan (or
    None, nothing to erase) per clip -> the same tensor."""
    for clip, plan in zip(video, plans, strict=True):
        if plan is not None:
            erase_clip(clip, plan)
    return video


class MixPlan(NamedTuple):
    """How one batch is mixed with its reversed self: `lam`, the weight of each clip's own
    video, and the CutMix box (top, bottom, left, right), or None for Mixup."""

    lam: float
    box: tuple[int, int, int, int] | None = None


def mix_clips(video: torch.Tensor, plan: MixPlan) -> torch.Tensor:
    """Mix a batch with its reversed self as timm's Mixup (batch mode) does, in place.

    video: float (B, 3, T, H, W), contiguous -> the same tensor. CutMix pastes the box of clip
    B - 1 - i into clip i through every channel and frame; Mixup blends the whole clips.
    """
    if plan.lam == 1.0:
        return video
    if plan.box is not None:
        top, bottom, left, right = plan.box
        video[..., top:bottom, left:right] = video.flip(0)[..., top:bottom, left:right]
        return video
    flipped = video.flip(0).mul_(1.0 - plan.lam)
    return video.mul_(plan.lam).add_(flipped)


class MixupCutmixCollate:
    """A DataLoader collate_fn drawing Mixup/CutMix for video batches with timm's Mixup rules
    (batch mode).

    Items are dicts with "video" (3, T, H, W), "label" int and "index" (the dataset row). The
    batch gets "target", the smoothed soft targets (B, num_classes) of the mixed clips, and
    "mix", the `MixPlan` that `mix_clips` applies on the device once the batch is normalised:
    each clip mixed with the batch's reversed self. CutMix cuts one box through every frame.
    With both alphas set, each batch is CutMix with probability `switch_prob`, else Mixup.
    The draws are a function of (`seed`, the batch's indices), whatever the worker.
    Mixup pairs sample i with B - 1 - i, so the batch size must be even.
    """

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.1,
        prob: float = 1.0,
        seed: int = 0,
    ) -> None:
        if mixup_alpha <= 0 and cutmix_alpha <= 0:
            raise ConfigError(
                "Mixup/CutMix needs mixup_alpha > 0 or cutmix_alpha > 0; to train without "
                "mixing, do not use MixupCutmixCollate."
            )
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.seed = seed
        self.mixup = Mixup(
            mixup_alpha=mixup_alpha,
            cutmix_alpha=cutmix_alpha,
            prob=prob,
            switch_prob=switch_prob,
            mode="batch",
            correct_lam=True,
            label_smoothing=label_smoothing,
            num_classes=num_classes,
        )

    def plan(
        self,
        shape: Sequence[int],
        label: torch.Tensor,
        generator: torch.Generator | None,
    ) -> tuple[MixPlan, torch.Tensor]:
        """Draw the mixing of a batch of video shape (B, 3, T, H, W) with labels int (B,):
        (the plan, soft targets float (B, num_classes)).

        The same draws as timm's `Mixup._mix_batch`; for CutMix, lambda is corrected to the
        uncut area fraction, as timm does.
        """
        batch = shape[0]
        if batch % 2:
            raise ConfigError(
                f"Mixup/CutMix needs an even batch size, got {batch}: set the per-device batch "
                f"size to an even number and drop the last incomplete training batch "
                f"(drop_last=True)."
            )
        if label.numel() and (int(label.min()) < 0 or int(label.max()) >= self.num_classes):
            raise ConfigError(
                f"labels {label.tolist()} fall outside 0..{self.num_classes - 1}: set "
                f"num_classes to the dataset's number of classes."
            )
        seed = draw_seed(generator)
        box = None
        with preserved_global_rngs():
            seed_global_rngs(seed)
            lam, use_cutmix = self.mixup._params_per_batch()
            if lam != 1.0 and use_cutmix:
                corners, lam = cutmix_bbox_and_lam(
                    tuple(shape[-2:]),
                    lam,
                    ratio_minmax=self.mixup.cutmix_minmax,
                    correct_lam=self.mixup.correct_lam,
                )
                box = tuple(int(x) for x in corners)
        target = mixup_target(label, self.num_classes, float(lam), self.label_smoothing)
        return MixPlan(float(lam), box), target  # target: (B, num_classes)

    def mix(
        self, video: torch.Tensor, label: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Draw and apply at once: video float (B, 3, T, H, W), label int (B,) ->
        (mixed video (B, 3, T, H, W), soft targets float (B, num_classes), lambda)."""
        plan, target = self.plan(video.shape, label, generator)
        return mix_clips(video.contiguous(), plan), target, plan.lam

    def batch_generator(self, indices: Sequence[int]) -> torch.Generator:
        """The generator for a batch of these dataset rows."""
        state = np.random.SeedSequence([self.seed, *map(int, indices)]).generate_state(
            2, dtype=np.uint32
        )
        return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = collate_views(items)
        if "index" not in batch:
            raise ValueError('MixupCutmixCollate needs an "index" entry in every item.')
        generator = self.batch_generator(batch["index"].tolist())
        batch["mix"], batch["target"] = self.plan(batch["video"].shape, batch["label"], generator)
        return batch


class SmoothLabelsCollate:
    """A DataLoader collate_fn for training without Mixup/CutMix: batches items (flattening
    repeated-sampling views) and adds "target", the label-smoothed one-hot labels
    (B, num_classes), so the loss is the same soft-target cross entropy either way."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.1) -> None:
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = collate_views(items)
        batch["target"] = mixup_target(batch["label"], self.num_classes, 1.0, self.label_smoothing)
        return batch


class FinetuneTrainTransform:
    """The fine-tuning clip augmentation: RandAugment -> random resized crop -> horizontal
    flip -> normalise -> random erasing, with the paper's defaults.

    Called as `transform(clip, generator)`: uint8 (T, 3, H, W) -> (uint8 (3, T, S, S), the
    `ErasePlan` or None without erasing); normalising and erasing follow on the device
    (`on_device.prepare_batch`). `flip=False` for SSv2; `auto_augment=None` or `reprob=0` turn
    those steps off.
    """

    def __init__(
        self,
        input_size: int = 224,
        auto_augment: str | None = DEFAULT_RAND_AUGMENT,
        interpolation: str = "bicubic",
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        flip: bool = True,
        reprob: float = 0.25,
        remode: str = "pixel",
        recount: int = 1,
    ) -> None:
        self.input_size = input_size
        self.rand_augment = (
            ClipRandAugment(auto_augment, input_size, interpolation) if auto_augment else None
        )
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.flip = flip
        self.erasing = (
            ClipRandomErasing(reprob, mode=remode, max_count=recount) if reprob > 0 else None
        )

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, ErasePlan | None]:
        if self.rand_augment is not None:
            clip = self.rand_augment(clip, generator)  # (T, 3, H, W)
        clip = random_resized_crop(clip, self.input_size, generator, self.scale, self.ratio)
        if self.flip:
            clip = horizontal_flip(clip, generator)
        erase = None
        if self.erasing is not None:
            erase = self.erasing.plan(self.input_size, self.input_size, generator)
        return channels_first(clip), erase  # (3, T, S, S) uint8

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.input_size}, "
            f"rand_augment={self.rand_augment}, scale={self.scale}, ratio={self.ratio}, "
            f"flip={self.flip}, erasing={self.erasing})"
        )


def finetune_eval_transform(
    clip: torch.Tensor, input_size: int = 224, num_crops: int = 1
) -> list[torch.Tensor]:
    """Evaluation views of one temporal clip, still uint8 (normalised on the device): with
    `num_crops=1` (validation) the short side resized to `input_size` and the central square;
    with 3 (test) the three crops along the long side.

    clip: uint8 (T, 3, H, W) -> `num_crops` uint8 (3, T, input_size, input_size).
    """
    if num_crops == 1:
        return [channels_first(center_crop_resize(clip, input_size))]
    clip = short_side_resize(clip, input_size)  # (T, 3, H', W'), short side input_size
    return [channels_first(crop) for crop in spatial_crops(clip, input_size, num_crops)]
