"""Fine-tuning augmentations: one op, box or flip for the whole clip, reproducible from the
generator, global random streams left as they were, and Mixup/CutMix as timm defines it."""

import random

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image
from timm.data.auto_augment import rand_augment_transform

from videomae_ssl.data.augment import (
    ClipRandAugment,
    ClipRandomErasing,
    FinetuneTrainTransform,
    MixupCutmixCollate,
    SmoothLabelsCollate,
    finetune_eval_transform,
    horizontal_flip,
    random_resized_crop,
    random_resized_crop_box,
)
from videomae_ssl.data.transforms import channels_first, normalize, normalize_video, resize
from videomae_ssl.errors import ConfigError


def gen(seed):
    return torch.Generator().manual_seed(seed)


def ramp_clip(t=4, h=32, w=40):
    """uint8 (T, 3, H, W): red ramps along x, green along y, blue differs per frame."""
    clip = torch.empty(t, 3, h, w, dtype=torch.uint8)
    clip[:, 0] = torch.linspace(10, 240, w).to(torch.uint8)[None, None, :]
    clip[:, 1] = torch.linspace(20, 200, h).to(torch.uint8)[None, :, None]
    clip[:, 2] = (30 + 40 * torch.arange(t)).to(torch.uint8)[:, None, None]
    return clip


def global_states():
    return random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()


def assert_states_equal(a, b):
    assert a[0] == b[0]
    assert np.array_equal(a[1], b[1])
    assert torch.equal(a[2], b[2])


def box_of(mask):
    """(top, bottom, left, right) of the True cells of a 2-D mask, checking it is a rectangle."""
    rows = torch.nonzero(mask.any(1)).flatten()
    cols = torch.nonzero(mask.any(0)).flatten()
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    assert mask[top:bottom, left:right].all() and int(mask.sum()) == (bottom - top) * (right - left)
    return top, bottom, left, right


# RandAugment


def test_rand_augment_identical_frames_stay_identical():
    aug = ClipRandAugment("rand-m7-n4-mstd0.5-inc1", input_size=32)
    frame = ramp_clip(1)
    clip = frame.expand(4, -1, -1, -1)
    changed = 0
    for seed in range(6):
        out = aug(clip, gen(seed))
        assert out.shape == clip.shape and out.dtype == torch.uint8
        assert all(torch.equal(out[i], out[0]) for i in range(4))
        changed += not torch.equal(out[0], frame[0])
    assert changed > 0


def test_rand_augment_same_op_as_timm_on_each_frame():
    clip = ramp_clip(4)
    reference = rand_augment_transform(
        "rand-m7-n4-mstd0.5-inc1", {"translate_const": 14, "interpolation": Image.BICUBIC}
    )
    aug = ClipRandAugment("rand-m7-n4-mstd0.5-inc1", input_size=32)
    for seed in range(4):
        out = aug(clip, gen(seed))
        frame_seed = int(torch.randint(2**31 - 1, (1,), generator=gen(seed)))
        for i in range(4):
            random.seed(frame_seed)
            np.random.seed(frame_seed)
            image = Image.fromarray(clip[i].permute(1, 2, 0).numpy())
            expected = torch.from_numpy(np.array(reference(image))).permute(2, 0, 1)
            assert torch.equal(out[i], expected)


def test_rand_augment_reproducible_and_leaves_global_rngs_alone():
    aug = ClipRandAugment()
    clip = ramp_clip(3)
    before = global_states()
    a = aug(clip, gen(11))
    assert_states_equal(before, global_states())
    assert torch.equal(a, aug(clip, gen(11)))
    assert any(not torch.equal(a, aug(clip, gen(s))) for s in range(12, 16))


def test_rand_augment_bad_config():
    with pytest.raises(ConfigError, match="rand-m7"):
        ClipRandAugment("augmix-m5")
    with pytest.raises(ConfigError, match="interpolation"):
        ClipRandAugment(interpolation="lanczos5")


# Random resized crop and flip


@pytest.mark.parametrize(("height", "width"), [(32, 40), (240, 320), (3, 100), (100, 3)])
def test_crop_box_follows_torchvision(height, width):
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
    if height == 3 or width == 3:
        scale = (0.9, 1.0)  # the tries fail: the central fallback
    image = torch.zeros(3, height, width)
    for seed in range(20):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            expected = T.RandomResizedCrop.get_params(image, list(scale), list(ratio))
        assert random_resized_crop_box(height, width, gen(seed), scale, ratio) == expected


def test_random_resized_crop_one_box_for_every_frame():
    clip = ramp_clip(4)
    for seed in range(5):
        out = random_resized_crop(clip, 24, gen(seed))
        assert out.shape == (4, 3, 24, 24) and out.dtype == torch.uint8
        for t in range(4):
            assert torch.equal(out[t : t + 1], random_resized_crop(clip[t : t + 1], 24, gen(seed)))
        top, left, h, w = random_resized_crop_box(32, 40, gen(seed))
        assert torch.equal(out, resize(clip[..., top : top + h, left : left + w], (24, 24)))


def test_horizontal_flip():
    clip = ramp_clip(2)
    flipped = horizontal_flip(clip, gen(0), p=1.0)
    for x in range(40):
        assert torch.equal(flipped[..., x], clip[..., 39 - x])
    assert torch.equal(horizontal_flip(clip, gen(0), p=0.0), clip)
    outcomes = {torch.equal(horizontal_flip(clip, gen(s)), clip) for s in range(20)}
    assert outcomes == {True, False}
    assert torch.equal(horizontal_flip(clip, gen(3)), horizontal_flip(clip, gen(3)))


# Random erasing


def test_random_erasing_same_box_on_every_frame():
    eraser = ClipRandomErasing(p=1.0, mode="pixel")
    for seed in range(8):
        clip = torch.full((3, 4, 32, 40), 7.0)
        before = global_states()
        out = eraser(clip.clone(), gen(seed))
        assert_states_equal(before, global_states())
        erased = out != 7.0  # (3, T, H, W)
        boxes = {box_of(erased[c, t]) for c in range(3) for t in range(4)}
        assert len(boxes) == 1
        top, bottom, left, right = boxes.pop()
        assert 0.02 * 32 * 40 - 40 <= (bottom - top) * (right - left) <= 32 * 40 / 3 + 40
        # Per-pixel noise: frames are erased with different values, in the same box.
        assert not torch.equal(out[:, 0], out[:, 1])


def test_random_erasing_probability_and_reproducibility():
    clip = torch.full((3, 2, 32, 40), 1.0)
    assert torch.equal(ClipRandomErasing(p=0.0)(clip.clone(), gen(0)), clip)
    eraser = ClipRandomErasing(p=0.5)
    hits = {torch.equal(eraser(clip.clone(), gen(s)), clip) for s in range(20)}
    assert hits == {True, False}
    assert torch.equal(eraser(clip.clone(), gen(4)), eraser(clip.clone(), gen(4)))
    with pytest.raises(ConfigError, match="mode"):
        ClipRandomErasing(mode="noise")


# Mixup and CutMix


def smoothed_one_hot(labels, num_classes, smoothing):
    out = torch.full((len(labels), num_classes), smoothing / num_classes)
    for row, label in enumerate(labels):
        out[row, label] += 1.0 - smoothing
    return out


def constant_batch(batch=4, t=3, h=16, w=20):
    """Sample b is the constant b + 1, so the source of every mixed pixel is readable."""
    return (
        (torch.arange(batch, dtype=torch.float32) + 1)
        .view(batch, 1, 1, 1, 1)
        .expand(batch, 3, t, h, w)
        .clone()
    )


def test_cutmix_same_box_every_frame_and_lambda_is_area():
    collate = MixupCutmixCollate(num_classes=5, mixup_alpha=0.0, cutmix_alpha=1.0)
    labels = torch.tensor([0, 3, 3, 1])
    cut = 0
    for seed in range(10):
        video = constant_batch()
        mixed, target, lam = collate.mix(video.clone(), labels, gen(seed))
        assert mixed.shape == video.shape
        source = video.flip(0)
        changed = mixed != video  # (B, 3, T, H, W)
        assert torch.equal(mixed[changed], source[changed])
        if changed.any():
            cut += 1
            boxes = {box_of(changed[b, c, t]) for b in range(4) for c in range(3) for t in range(3)}
            assert len(boxes) == 1
            top, bottom, left, right = boxes.pop()
            assert lam == pytest.approx(1 - (bottom - top) * (right - left) / (16 * 20))
        else:
            assert lam == pytest.approx(1.0)
        expected = lam * smoothed_one_hot([0, 3, 3, 1], 5, 0.1) + (1 - lam) * smoothed_one_hot(
            [1, 3, 3, 0], 5, 0.1
        )
        assert torch.allclose(target, expected)
        assert torch.allclose(target.sum(1), torch.ones(4))
    assert cut > 0


def test_mixup_blends_with_the_reversed_batch():
    collate = MixupCutmixCollate(num_classes=3, mixup_alpha=0.8, cutmix_alpha=0.0)
    video = torch.randn(2, 3, 2, 8, 8, generator=gen(0))
    mixed, target, lam = collate.mix(video.clone(), torch.tensor([2, 0]), gen(5))
    assert 0.0 <= lam <= 1.0 and lam != 1.0
    assert torch.allclose(mixed, lam * video + (1 - lam) * video.flip(0), atol=1e-6)
    expected = lam * smoothed_one_hot([2, 0], 3, 0.1) + (1 - lam) * smoothed_one_hot([0, 2], 3, 0.1)
    assert torch.allclose(target, expected)


def test_switch_uses_both_and_global_rngs_untouched():
    collate = MixupCutmixCollate(num_classes=4)
    kinds = set()
    before = global_states()
    for seed in range(16):
        video = constant_batch(2)
        mixed, _, lam = collate.mix(video.clone(), torch.tensor([0, 1]), gen(seed))
        values = set(mixed.unique().tolist())
        kinds.add("cutmix" if values <= {1.0, 2.0} else "mixup")
    assert_states_equal(before, global_states())
    assert kinds == {"cutmix", "mixup"}


def test_collate_batches_items_and_is_reproducible():
    collate = MixupCutmixCollate(num_classes=4, seed=3)
    items = [
        {"video": torch.randn(3, 2, 8, 8, generator=gen(i)), "label": i % 4, "index": 10 + i}
        for i in range(4)
    ]
    a = collate([dict(x) for x in items])
    b = collate([dict(x) for x in items])
    assert a["video"].shape == (4, 3, 2, 8, 8) and a["target"].shape == (4, 4)
    # The clips travel unmixed; the plan is applied on the device (data.on_device).
    assert torch.equal(a["video"], torch.stack([x["video"] for x in items]))
    assert a["mix"] == b["mix"] and torch.equal(a["target"], b["target"])
    assert torch.equal(a["index"], torch.tensor([10, 11, 12, 13]))
    assert torch.equal(a["label"], torch.tensor([0, 1, 2, 3]))  # the hard labels are kept
    assert torch.allclose(a["target"].sum(1), torch.ones(4))
    other = MixupCutmixCollate(num_classes=4, seed=4)([dict(x) for x in items])
    assert a["mix"] != other["mix"]


def test_collates_flatten_repeated_views_and_smooth_labels():
    # Two videos with two views each: views of one video stay adjacent, labels repeat.
    items = [
        {"video": torch.randn(2, 3, 2, 8, 8, generator=gen(i)), "label": i, "index": i}
        for i in range(2)
    ]
    mixed = MixupCutmixCollate(num_classes=3)([dict(x) for x in items])
    assert mixed["video"].shape == (4, 3, 2, 8, 8)
    assert torch.equal(mixed["label"], torch.tensor([0, 0, 1, 1]))
    smooth = SmoothLabelsCollate(num_classes=3, label_smoothing=0.3)([dict(x) for x in items])
    assert torch.equal(smooth["video"][1], items[0]["video"][1])
    # 0.3 spread over 3 classes: 0.1 each, the true class 1 - 0.3 + 0.1.
    expected = torch.tensor([[0.8, 0.1, 0.1]] * 2 + [[0.1, 0.8, 0.1]] * 2)
    assert torch.allclose(smooth["target"], expected)


def test_mixup_errors():
    collate = MixupCutmixCollate(num_classes=4)
    with pytest.raises(ConfigError, match="even batch size, got 3"):
        collate.mix(torch.zeros(3, 3, 2, 8, 8), torch.tensor([0, 1, 2]), gen(0))
    with pytest.raises(ConfigError, match="num_classes"):
        collate.mix(torch.zeros(2, 3, 2, 8, 8), torch.tensor([0, 4]), gen(0))
    with pytest.raises(ConfigError):
        MixupCutmixCollate(num_classes=4, mixup_alpha=0.0, cutmix_alpha=0.0)


# Composed transforms


def test_finetune_train_transform():
    clip = ramp_clip(4)
    transform = FinetuneTrainTransform(input_size=24)
    out, erase = transform(clip, gen(1))
    assert out.shape == (3, 4, 24, 24) and out.dtype == torch.uint8
    assert out.is_contiguous() and erase.mode == "pixel"
    again, erase_again = transform(clip, gen(1))
    assert torch.equal(out, again) and erase == erase_again
    assert not torch.equal(out, transform(clip, gen(2))[0])
    plain = FinetuneTrainTransform(input_size=24, auto_augment=None, flip=False, reprob=0.0)
    top, left, h, w = random_resized_crop_box(32, 40, gen(1))
    expected = channels_first(resize(clip[..., top : top + h, left : left + w], (24, 24)))
    video, erase = plain(clip, gen(1))
    assert torch.equal(video, expected) and erase is None


def test_finetune_eval_transform_views():
    clip = ramp_clip(2, 48, 64)
    (single,) = finetune_eval_transform(clip, 24)
    resized = resize(clip, 24)  # (2, 3, 24, 32)
    assert single.dtype == torch.uint8  # normalised on the device
    assert torch.equal(normalize_video(single), normalize(resized[..., 4:28]))
    views = finetune_eval_transform(clip, 24, num_crops=3)
    assert len(views) == 3 and all(v.shape == (3, 2, 24, 24) for v in views)
    for view, left in zip(views, (0, 4, 8), strict=True):
        assert torch.equal(normalize_video(view), normalize(resized[..., left : left + 24]))
