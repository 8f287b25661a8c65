"""Multi-scale crop (TSN/VideoMAE), centre crop and normalisation, against plain expectations."""

import pytest
import torch

from videomae_ssl.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MultiScaleCrop,
    center_crop_resize,
    fixed_crop_offsets,
    multiscale_crop_sizes,
    normalize,
    resize,
)


def test_crop_sizes_320x256():
    # Short side 256 -> sides 256, 224, 192, 168 (int(256 * .66) = 168); 224 is the input size.
    # Pairs (w, h) over h rows, then w, where the scale indices differ by at most one.
    # fmt: off
    assert multiscale_crop_sizes(320, 256, 224) == [
        (256, 256), (224, 256),
        (256, 224), (224, 224), (192, 224),
        (224, 192), (192, 192), (168, 192),
        (192, 168), (168, 168),
    ]
    # fmt: on


def test_crop_sizes_snap_to_input_size():
    # Short side 226: int(226) = 226 is within 2 px of 224 and snaps; 197, 169, 149 do not.
    # fmt: off
    assert multiscale_crop_sizes(300, 226, 224) == [
        (224, 224), (197, 224),
        (224, 197), (197, 197), (169, 197),
        (197, 169), (169, 169), (149, 169),
        (169, 149), (149, 149),
    ]
    # fmt: on
    # 227 is 3 px away: no snap.
    assert multiscale_crop_sizes(300, 227, 224)[0] == (227, 227)


def test_snapped_size_never_exceeds_the_frame():
    # Short side 222 snaps up to 224 but the frame is only 222 high (or wide).
    assert multiscale_crop_sizes(300, 222, 224)[:2] == [(224, 222), (194, 222)]
    assert multiscale_crop_sizes(222, 300, 224)[:2] == [(222, 224), (194, 224)]


def test_max_distort_zero_gives_squares():
    assert multiscale_crop_sizes(320, 256, 224, max_distort=0) == [
        (256, 256),
        (224, 224),
        (192, 192),
        (168, 168),
    ]


def test_thirteen_fixed_offsets():
    # Free space 340 - 224 = 116 -> w_step 29; 256 - 192 = 64 -> h_step 16.
    # fmt: off
    assert fixed_crop_offsets(340, 256, 224, 192) == [
        (0, 0), (116, 0), (0, 64), (116, 64), (58, 32),  # corners, centre
        (0, 32), (116, 32), (58, 64), (58, 0),  # edge midpoints
        (29, 16), (87, 16), (29, 48), (87, 48),  # quarter points
    ]
    # fmt: on
    assert fixed_crop_offsets(340, 256, 224, 192, more_fix_crop=False) == [
        (0, 0),
        (116, 0),
        (0, 64),
        (116, 64),
        (58, 32),
    ]


def test_multiscale_crop_draws_from_the_allowed_boxes():
    crop = MultiScaleCrop(224)
    sizes = multiscale_crop_sizes(340, 256, 224)
    seen_offsets = set()
    for seed in range(600):
        x, y, w, h = crop.sample_box(340, 256, torch.Generator().manual_seed(seed))
        assert (w, h) in sizes
        assert (x, y) in fixed_crop_offsets(340, 256, w, h)
        seen_offsets.add(fixed_crop_offsets(340, 256, w, h).index((x, y)))
    assert seen_offsets == set(range(13))


def test_multiscale_crop_is_the_same_for_every_frame():
    frame = torch.randint(0, 256, (3, 60, 80), dtype=torch.uint8)
    clip = frame.expand(5, 3, 60, 80)  # (T, 3, H, W), identical frames
    out = MultiScaleCrop(32)(clip, torch.Generator().manual_seed(3))
    assert out.shape == (5, 3, 32, 32) and out.dtype == torch.uint8
    assert all(torch.equal(out[0], out[t]) for t in range(5))


def test_multiscale_crop_output_is_the_resized_box():
    clip = torch.randint(0, 256, (4, 3, 60, 80), dtype=torch.uint8)
    crop = MultiScaleCrop(32)
    x, y, w, h = crop.sample_box(80, 60, torch.Generator().manual_seed(11))
    out = crop(clip, torch.Generator().manual_seed(11))
    assert torch.equal(out, resize(clip[:, :, y : y + h, x : x + w], (32, 32)))


def test_center_crop_resize_keeps_the_middle():
    clip = torch.zeros(2, 3, 100, 200, dtype=torch.uint8)  # (T, 3, H, W)
    clip[..., 50:150] = 255  # the central square of a 2:1 frame is white
    out = center_crop_resize(clip, 50)
    assert out.shape == (2, 3, 50, 50) and out.dtype == torch.uint8
    assert (out[..., 1:-1] == 255).all()  # only the border column may blend with the black


def test_normalize_matches_the_formula():
    clip = torch.randint(0, 256, (4, 3, 5, 6), dtype=torch.uint8)  # (T, 3, H, W)
    out = normalize(clip)
    assert out.shape == (3, 4, 5, 6) and out.dtype == torch.float32
    for c, t, y, x in [(0, 0, 0, 0), (1, 3, 4, 5), (2, 1, 2, 3)]:
        expected = (clip[t, c, y, x].item() / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert out[c, t, y, x].item() == pytest.approx(expected, abs=1e-6)


def test_imagenet_constants():
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert IMAGENET_STD == (0.229, 0.224, 0.225)


def test_normalize_is_within_1e6_of_the_formula_at_every_level():
    # Every uint8 level in every channel, against the three-step formula in float64.
    levels = torch.arange(256, dtype=torch.uint8)
    clip = levels.view(1, 1, 16, 16).expand(2, 3, 16, 16)  # (T, 3, H, W), channels share levels
    out = normalize(clip)
    for c in range(3):
        expected = (levels.double() / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        for t in range(2):
            got = out[c, t].reshape(256).double()
            assert (got - expected).abs().max().item() < 1e-6


def test_normalize_accepts_channels_last_and_returns_a_contiguous_clip():
    # The resize kernels return channels-last clips; the result must not keep their strides.
    clip = torch.randint(0, 256, (3, 3, 7, 9), dtype=torch.uint8)  # (T, 3, H, W)
    channels_last = clip.contiguous(memory_format=torch.channels_last)
    out = normalize(channels_last)
    assert out.is_contiguous() and out.shape == (3, 3, 7, 9)
    assert torch.equal(out, normalize(clip))
    for c, t in [(0, 2), (1, 0), (2, 1)]:  # out[c, t] is frame t, channel c
        expected = (clip[t, c].double() / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert (out[c, t].double() - expected).abs().max().item() < 1e-6
