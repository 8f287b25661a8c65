"""Motion vectors in the data path: parsed from a generated H.264 clip of a moving square, made
into a map aligned with the cropped clip's tokens, a mask covering the square's path, the
fallback where a clip has no vectors, and the same masks from any number of workers."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from clips import (
    SQUARE_LEFT,
    SQUARE_SIDE,
    SQUARE_STEP,
    SQUARE_TOP,
    pretrain_dataset,
    write_square_clip,
)
from PIL import Image

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.motion import VX, VY, X0, X1, Y0, Y1, motion_field, token_motion
from videomae_ssl.data.readers import open_video
from videomae_ssl.data.transforms import center_box
from videomae_ssl.masking import MotionMaskGenerator, TubeMaskGenerator

SIZE = (128, 96)  # (width, height) of the generated clips
FRAMES = 30


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("square")
    paths = {
        "h264": folder / "square.mp4",
        "intra": folder / "intra.mp4",
        "mjpeg": folder / "square.avi",
    }
    write_square_clip(paths["h264"], FRAMES, SIZE)
    write_square_clip(paths["intra"], FRAMES, SIZE, intra_only=True)
    write_square_clip(paths["mjpeg"], FRAMES, SIZE, codec="mjpeg")
    frames = folder / "frames"
    frames.mkdir()
    with open_video(str(paths["h264"]), "pyav") as video:
        for i, frame in enumerate(video.read(list(range(FRAMES))).numpy()):
            Image.fromarray(frame).save(frames / f"img_{i + 1:05d}.jpg")
    paths["frames"] = frames
    return paths


def record(path, frames=False):
    if frames:
        return VideoRecord(str(path), num_frames=FRAMES, start=1)
    return VideoRecord(str(path))


def motion_dataset(records, **overrides):
    """8 frames 2 apart at 96 px, 16 px patches: a 4 x 6 x 6 token grid."""
    args = {
        "num_frames": 8,
        "sampling_rate": 2,
        "input_size": 96,
        "patch_size": 16,
        "mask_generator": MotionMaskGenerator(0.75),
    }
    return pretrain_dataset(records, **{**args, **overrides})


def test_parsed_vectors_match_the_squares_displacement(clips):
    with open_video(str(clips["h264"]), "pyav") as plain:
        expected = plain.read(list(range(1, 12)))
    from videomae_ssl.data.readers import PyAVVideo

    with PyAVVideo(str(clips["h264"]), motion_vectors=True) as video:
        frames, vectors = video.read_with_vectors(list(range(12)))
    assert torch.equal(frames[1:], expected)  # the same frames as a plain decode
    assert vectors[0] is None  # the keyframe
    for t in range(1, 12):
        blocks = vectors[t]
        left = SQUARE_LEFT + SQUARE_STEP * t
        inside = (
            (blocks[:, X0] >= left)
            & (blocks[:, X1] <= left + SQUARE_SIDE)
            & (blocks[:, Y0] >= SQUARE_TOP)
            & (blocks[:, Y1] <= SQUARE_TOP + SQUARE_SIDE)
        )
        # Blocks well clear of the square (its path included) show the static background.
        clear = (blocks[:, X0] >= left + SQUARE_SIDE + 8) | (blocks[:, Y1] <= SQUARE_TOP - 8)
        clear |= blocks[:, Y0] >= SQUARE_TOP + SQUARE_SIDE + 8
        assert inside.sum() >= 2 and clear.sum() >= 10
        moving = blocks[inside][:, [VX, VY]]
        assert np.all(moving == [SQUARE_STEP, 0]), (t, moving)
        still = blocks[clear][:, [VX, VY]]
        assert np.mean(np.all(still == 0, axis=1)) >= 0.9, (t, still)


def test_the_map_follows_the_crop_box_token_for_token():
    # One 8x8 block moving at 5 px per step, at x 40-48, y 24-32 of a 128x96 frame.
    block = np.array([[40, 24, 48, 32, 3, 4]], dtype=np.float32)
    field = motion_field([block, None], height=96, width=128)
    assert torch.isnan(field[1]).all()
    # A 64 px box at (16, 8) on a 4x4 token grid: tokens are 16 px of the frame, so the
    # block lies in token row (24 - 8) // 16 = 1, column (40 - 16) // 16 = 1.
    motion = token_motion(field[:1], (16, 8, 64, 64), (1, 4, 4))
    expected = torch.zeros(1, 4, 4)
    expected[0, 1, 1] = 5.0 * (8 * 8) / (16 * 16)  # the block fills a quarter of the token
    torch.testing.assert_close(motion, expected)
    # The same block under another box: (x 32, y 16, 32 px) on 2x2 tokens of 16 px each.
    moved = token_motion(field[:1], (32, 16, 32, 32), (1, 2, 2))
    expected = torch.zeros(1, 2, 2)
    expected[0, 0, 0] = 5.0 * (8 * 8) / (16 * 16)  # x 40-48 in 32-48, y 24-32 in 16-32
    torch.testing.assert_close(moved, expected)
    # A tubelet averages its frames with vectors; a slice without any is NaN.
    both = token_motion(field, (16, 8, 64, 64), (1, 4, 4))
    torch.testing.assert_close(both, token_motion(field[:1], (16, 8, 64, 64), (1, 4, 4)))
    none = token_motion(field[1:].expand(2, -1, -1), (16, 8, 64, 64), (1, 4, 4))
    assert torch.isnan(none).all()


def test_center_box_is_what_the_centre_crop_keeps():
    # A 128x96 frame at 64 px: resized to 85x64 (int(64 * 128 / 96)), crop x from
    # round((85 - 64) / 2) = 10 (11 after rounding half to even? no: round(10.5) = 10).
    x, y, w, h = center_box(128, 96, 64)
    scale = 128 / 85
    assert (x, y) == pytest.approx((10 * scale, 0.0)) and (w, h) == pytest.approx((64 * scale, 96))


def square_path(box, grid, frame_ids, input_size, patch):
    """Per slice, the tokens of the cropped clip the square's centre passes through, and those
    the square covers whole in every frame of the slice (a plain loop over each token's
    pixels, mapped back into the frame)."""
    x, y, bw, bh = box
    t, h, w = grid
    path = torch.zeros(t, h, w, dtype=torch.bool)
    scale_x, scale_y = bw / input_size, bh / input_size
    for s in range(t):
        lefts = [SQUARE_LEFT + SQUARE_STEP * f for f in frame_ids[2 * s : 2 * s + 2]]
        for i in range(h):
            for j in range(w):
                us = x + (j * patch + np.arange(patch) + 0.5) * scale_x  # pixel centres
                vs = y + (i * patch + np.arange(patch) + 0.5) * scale_y
                top, bottom = SQUARE_TOP, SQUARE_TOP + SQUARE_SIDE
                whole = all(
                    (us >= left).all() and (us < left + SQUARE_SIDE).all() for left in lefts
                ) and ((vs >= top).all() and (vs < bottom).all())
                centre_y = (top + bottom) / 2
                holds_centre = any(
                    us.min() - scale_x / 2 <= left + SQUARE_SIDE / 2 < us.max() + scale_x / 2
                    for left in lefts
                ) and (vs.min() - scale_y / 2 <= centre_y < vs.max() + scale_y / 2)
                path[s, i, j] = bool(whole or holds_centre)
    return path


def sampled(ds, index, epoch):
    """The frames and crop box sample (index, epoch) used, drawn again from its streams."""
    from videomae_ssl.seeding import STREAM_CROP, STREAM_FRAMES, sample_generator

    frames = ds.pick_frames(FRAMES, sample_generator(ds.seed, epoch, index, stream=STREAM_FRAMES))
    crop = sample_generator(ds.seed, epoch, index, view=0, stream=STREAM_CROP)
    return list(frames), ds.crop.sample_box(*SIZE, crop)


def test_the_masked_tokens_cover_the_squares_path_in_every_slice(clips):
    records = [record(clips["h264"])]
    ds = motion_dataset(records, mask_generator=MotionMaskGenerator(0.5))
    tube = motion_dataset(records, mask_generator=TubeMaskGenerator(0.5))
    grid = ds.grid
    assert grid == (4, 6, 6)
    tube_missed, seen = 0, 0
    for epoch in range(8):
        item = ds[(0, epoch)]
        frame_ids, box = sampled(ds, 0, epoch)
        path = square_path(box, grid, frame_ids, 96, 16)
        seen += int(path.flatten(1).any(dim=1).sum())  # slices whose crop shows the square
        mask = item["mask"].view(grid)
        assert mask[path].all(), (epoch, box, frame_ids)
        # The count is tube masking's at this ratio: int(0.5 * 36) = 18 per slice.
        assert mask.flatten(1).sum(dim=1).tolist() == [18] * 4
        assert item["mask"].sum() == tube[(0, epoch)]["mask"].sum()
        if path.flatten(1).any(dim=1).all():  # the square moves in every slice's crop
            assert item["motion_fallback"] == 0
        tube_missed += int(not tube[(0, epoch)]["mask"].view(grid)[path].all())
    assert seen >= 24  # of 32 slices: a corner crop may leave the square out
    assert tube_missed >= 4  # tube masking at the same ratio misses the square's path


def test_validation_clips_map_the_centre_crop(clips):
    ds = motion_dataset(
        [record(clips["h264"])], train=False, mask_generator=MotionMaskGenerator(0.5)
    )
    item = ds[0]
    frame_ids = ds.pick_frames(FRAMES, None)
    path = square_path(center_box(*SIZE, 96), ds.grid, list(frame_ids), 96, 16)
    assert item["mask"].view(ds.grid)[path].all()


@pytest.mark.parametrize("kind", ["mjpeg", "intra", "frames"])
def test_clips_without_vectors_fall_back_to_tube_cells_counted(clips, kind):
    ds = motion_dataset([record(clips[kind], frames=kind == "frames")])
    tube = motion_dataset([record(clips["h264"])], mask_generator=TubeMaskGenerator(0.75))
    for epoch in range(3):
        item = ds[(0, epoch)]
        assert item["motion_fallback"] == 4  # every slice
        assert torch.isnan(item["motion"]).all()
        # The same cells as tube masking draws from the sample's stream.
        assert torch.equal(item["mask"], tube[(0, epoch)]["mask"])


LOAD_MASKS = """
import sys, torch
from torch.utils.data import DataLoader
from clips import pretrain_dataset
from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.clip_dataset import collate_views
from videomae_ssl.data.epoch_sampler import EpochSampler
from videomae_ssl.masking import MotionMaskGenerator

h264, mjpeg, frames, out = sys.argv[1:5]
records = [VideoRecord(h264), VideoRecord(mjpeg), VideoRecord(frames, num_frames=30, start=1)]
ds = pretrain_dataset(
    records * 2, num_frames=8, sampling_rate=2, input_size=96, patch_size=16,
    mask_generator=MotionMaskGenerator(0.75), num_sample=2,
)
result = {}
for workers in (2, 0):  # workers forked before this process decodes anything itself
    sampler = EpochSampler(len(ds), shuffle=True, seed=0)
    sampler.set_epoch(1)
    loader = DataLoader(
        ds, batch_size=2, sampler=sampler, num_workers=workers, collate_fn=collate_views
    )
    result[workers] = [(b["mask"], b["motion"], b["motion_fallback"]) for b in loader]
torch.save(result, out)
"""


def test_two_workers_and_one_give_the_same_masks(clips, tmp_path):
    # In a fresh process: DataLoader workers forked from a process that has already decoded
    # with motion vectors (this one, in the tests above) can hang inside FFmpeg; training
    # starts its workers before its main process decodes any clip with vectors.
    out = tmp_path / "masks.pt"
    tests = Path(__file__).resolve().parent.parent
    path = os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])
    paths = [str(clips[k]) for k in ("h264", "mjpeg", "frames")]
    subprocess.run(
        [sys.executable, "-c", LOAD_MASKS, *paths, str(out)],
        check=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )
    result = torch.load(out, weights_only=True)
    two, one = result[2], result[0]
    assert len(one) == len(two) == 3
    for (m1, mo1, f1), (m2, mo2, f2) in zip(one, two, strict=True):
        assert m1.shape == (4, 144) and mo1.shape == (4, 4, 6, 6) and f1.shape == (4,)
        assert torch.equal(m1, m2) and torch.equal(f1, f2)
        assert torch.equal(mo1.nan_to_num(-1), mo2.nan_to_num(-1))
    fallback = torch.cat([f for _, _, f in one])
    assert sorted(set(fallback.tolist())) == [0, 4]  # the H.264 clips follow, the others not


def test_the_decoder_named_in_the_config_is_not_asked_for_vectors(clips):
    # Video files are decoded by PyAV (frames and vectors in one decode) whatever the backend.
    ds = motion_dataset([record(clips["h264"])], backend="torchcodec")
    item = ds[(0, 0)]
    assert item["motion_fallback"] == 0 and not math.isnan(float(item["motion"].sum()))
