"""The batch normalised and augmented on the device equals the one the workers used to make:
the same numbers from the same random streams (timm's RandomErasing and Mixup in the worker
are the reference)."""

import pytest
import torch
from timm.data.random_erasing import RandomErasing

from videomae_ssl.data.augment import (
    ClipRandomErasing,
    FinetuneTrainTransform,
    MixupCutmixCollate,
    finetune_eval_transform,
)
from videomae_ssl.data.clip_dataset import collate_views
from videomae_ssl.data.on_device import prepare_batch
from videomae_ssl.data.transforms import channels_first, normalize, normalize_video
from videomae_ssl.data.views import short_side_resize, spatial_crops
from videomae_ssl.seeding import draw_seed, preserved_global_rngs, seed_global_rngs


def gen(seed):
    return torch.Generator().manual_seed(seed)


def clips(n, t=4, h=32, w=40):
    """n uint8 clips (T, 3, H, W) of noise."""
    return torch.randint(0, 256, (n, t, 3, h, w), dtype=torch.uint8, generator=gen(n))


def timm_erase(video, generator, p, mode="pixel", max_count=1):
    """The worker path: timm's RandomErasing on the normalised clip (3, T, H, W), global
    generators seeded from the clip's generator."""
    eraser = RandomErasing(probability=p, mode=mode, max_count=max_count, device="cpu")
    c, t, h, w = video.shape
    seed = draw_seed(generator)
    with preserved_global_rngs():
        seed_global_rngs(seed)
        eraser(video.view(c * t, h, w))
    return video


def timm_mix(video, collate, generator):
    """The collate path: timm's Mixup on the normalised batch (B, 3, T, H, W)."""
    seed = draw_seed(generator)
    with preserved_global_rngs():
        seed_global_rngs(seed)
        lam = collate.mixup._mix_batch(video.view(video.shape[0], -1, *video.shape[-2:]))
    return video, float(lam)


def test_pretrain_batch_normalised_on_the_device_equals_the_worker_one():
    frames = clips(3)
    items = [{"video": channels_first(c), "mask": torch.zeros(8, dtype=torch.bool)} for c in frames]
    batch = collate_views(items)
    assert batch["video"].dtype == torch.uint8
    prepared = prepare_batch(batch)
    assert torch.equal(prepared["video"], torch.stack([normalize(c) for c in frames]))
    assert prepare_batch({"video": prepared["video"]})["video"] is prepared["video"]


def test_finetune_test_batch_normalised_on_the_device_equals_the_worker_one():
    frames = clips(2, h=36, w=48)
    items = [
        {"video": torch.stack(finetune_eval_transform(c, 32, num_crops=3)), "label": 1}
        for c in frames
    ]
    batch = prepare_batch(collate_views(items))  # (2 * 3, 3, T, 32, 32)
    expected = [
        normalize(crop)  # what the worker handed over before: (3, T, 32, 32) float32
        for c in frames
        for crop in spatial_crops(short_side_resize(c, 32), 32, 3)
    ]
    assert torch.equal(batch["video"], torch.stack(expected))


@pytest.mark.parametrize(("mode", "max_count"), [("pixel", 1), ("rand", 1), ("const", 3)])
def test_erasing_plan_replays_timm(mode, max_count):
    eraser = ClipRandomErasing(0.5, mode=mode, max_count=max_count)
    erased = 0
    for seed in range(12):
        clip = normalize(clips(1)[0])  # (3, T, H, W)
        want = timm_erase(clip.clone(), gen(seed), 0.5, mode, max_count)
        assert torch.equal(eraser(clip.clone(), gen(seed)), want)
        erased += not torch.equal(want, clip)
    assert 0 < erased < 12


def test_mix_plan_replays_timm():
    collate = MixupCutmixCollate(num_classes=4)
    labels = torch.tensor([0, 1, 2, 3])
    kinds = set()
    for seed in range(12):
        video = torch.randn(4, 3, 2, 8, 8, generator=gen(100 + seed))
        want, lam = timm_mix(video.clone(), collate, gen(seed))
        plan, _ = collate.plan(video.shape, labels, gen(seed))
        got, _, got_lam = collate.mix(video.clone(), labels, gen(seed))
        assert torch.equal(got, want) and got_lam == lam == plan.lam
        kinds.add("cutmix" if plan.box is not None else "mixup")
    assert kinds == {"cutmix", "mixup"}


def test_finetune_train_batch_on_the_device_equals_the_worker_one():
    # Two videos x two views: RandAugment, crop and flip in uint8 in the worker, then erasing
    # and Mixup/CutMix on the normalised batch; against erasing in the worker and mixing in
    # the collate, as before.
    transform = FinetuneTrainTransform(input_size=24, reprob=1.0)
    without_erasing = FinetuneTrainTransform(input_size=24, reprob=0.0)
    collate = MixupCutmixCollate(num_classes=4, seed=5)
    items, expected = [], []
    for i, clip in enumerate(clips(2)):
        views = [transform(clip, gen(10 * i + v)) for v in range(2)]
        items.append(
            {
                "video": torch.stack([video for video, _ in views]),  # (V, 3, T, S, S) uint8
                "erase": [plan for _, plan in views],
                "label": i,
                "index": i,
            }
        )
        for v in range(2):
            generator = gen(10 * i + v)
            video, _ = without_erasing(clip, generator)  # the same draws, up to erasing
            expected.append(timm_erase(normalize_video(video), generator, 1.0))
    batch = collate(items)
    assert batch["video"].dtype == torch.uint8 and len(batch["erase"]) == 4
    want, _ = timm_mix(torch.stack(expected), collate, collate.batch_generator([0, 0, 1, 1]))
    prepared = prepare_batch(batch)
    assert "erase" not in prepared and "mix" not in prepared
    assert torch.equal(prepared["video"], want)
