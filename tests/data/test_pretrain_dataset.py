"""VideoPretrainDataset: shapes, reproducibility from (index, epoch), and worker loading."""

import re

import pytest
import torch
from clips import pretrain_dataset
from torch.utils.data import DataLoader

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.epoch_sampler import EpochSampler
from videomae_ssl.data.transforms import normalize_video
from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.masking import TubeMaskGenerator

SIZES = [(80, 64), (64, 48), (96, 64)]  # (width, height) per clip
FRAMES = [40, 20, 33]  # the second clip is shorter than the 8 x 4 window


@pytest.fixture(scope="module")
def records(tmp_path_factory, make_clip):
    folder = tmp_path_factory.mktemp("clips")
    out = []
    for k, (size, frames) in enumerate(zip(SIZES, FRAMES, strict=True)):
        path = folder / f"clip{k}.mp4"
        make_clip(path, num_frames=frames, size=size)
        out.append(VideoRecord(str(path), label=k))
    return out


def dataset(records, train=True, **kwargs):
    return pretrain_dataset(
        records, **{"num_frames": 8, "sampling_rate": 4, "train": train, **kwargs}
    )


def assert_same(a, b):
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["mask"], b["mask"])
    assert (a["index"], a["label"]) == (b["index"], b["label"])


@pytest.mark.parametrize("train", [True, False])
def test_item_shapes_and_types(records, train):
    ds = dataset(records, train=train)
    assert len(ds) == 3 and ds.grid == (4, 4, 4)
    for i in range(3):
        item = ds[(i, 1)]
        # uint8 through the loader, normalised on the device.
        assert item["video"].shape == (3, 8, 32, 32) and item["video"].dtype == torch.uint8
        assert item["video"].is_contiguous()
        assert item["mask"].shape == (64,) and item["mask"].dtype == torch.bool
        assert item["mask"].sum() == 4 * 12  # tube: int(0.75 * 16) = 12 hidden per slice
        # The token indices, so that the step never reads the mask back from the device.
        assert torch.equal(item["ids_visible"], torch.nonzero(~item["mask"]).flatten())
        assert torch.equal(item["ids_masked"], torch.nonzero(item["mask"]).flatten())
        assert item["index"] == i and item["label"] == i


def frame_numbers(video):
    """Which source frames a normalised clip shows: make_clip paints frame i blue 10 + 5 i."""
    blue = normalize_video(video)[2].mean(dim=(1, 2)) * 0.225 + 0.406  # (T,), back to [0, 1]
    return torch.round((blue * 255 - 10) / 5).int().tolist()


def test_clips_show_the_sampled_frames(records):
    # Clip 0 has 40 frames: starts 0..8 fit the 32-frame window, validation takes start 4.
    assert frame_numbers(dataset(records, train=False)[0]["video"]) == list(range(4, 36, 4))
    starts = set()
    for epoch in range(30):
        frames = frame_numbers(dataset(records)[(0, epoch)]["video"])
        assert frames == list(range(frames[0], frames[0] + 32, 4))
        starts.add(frames[0])
    assert starts <= set(range(9)) and len(starts) > 3
    # Clip 1 has 20 frames, fewer than the window: it repeats its last frame.
    assert frame_numbers(dataset(records)[(1, 5)]["video"]) == [0, 4, 8, 12, 16, 19, 19, 19]


def test_same_index_and_epoch_same_sample(records):
    ds = dataset(records)
    assert_same(ds[(0, 3)], ds[(0, 3)])
    assert_same(dataset(records)[(0, 3)], ds[(0, 3)])  # a fresh dataset, as in a resumed run
    assert_same(ds[2], ds[(2, 0)])  # a bare int means epoch 0


def test_other_epoch_other_crop_and_mask(records):
    ds = dataset(records)
    a, b = ds[(0, 0)], ds[(0, 1)]
    assert not torch.equal(a["mask"], b["mask"])
    assert not torch.equal(a["video"], b["video"])


def test_other_seed_other_sample(records):
    a, b = dataset(records, seed=0)[(0, 0)], dataset(records, seed=1)[(0, 0)]
    assert not torch.equal(a["mask"], b["mask"])


def test_validation_ignores_the_epoch(records):
    ds = dataset(records, train=False)
    assert_same(ds[(1, 0)], ds[(1, 7)])


def test_two_worker_loader_matches_in_process_loading(records):
    ds = dataset(records)
    sampler = EpochSampler(len(ds), seed=5)
    sampler.set_epoch(2)
    expected = [ds[key] for key in sampler]
    loader = DataLoader(ds, batch_size=2, sampler=sampler, num_workers=2)
    batches = list(loader)
    assert [b["video"].shape for b in batches] == [(2, 3, 8, 32, 32), (1, 3, 8, 32, 32)]
    assert batches[0]["mask"].shape == (2, 64) and batches[0]["mask"].dtype == torch.bool
    videos = torch.cat([b["video"] for b in batches])
    masks = torch.cat([b["mask"] for b in batches])
    assert torch.equal(videos, torch.stack([e["video"] for e in expected]))
    assert torch.equal(masks, torch.stack([e["mask"] for e in expected]))
    assert torch.cat([b["index"] for b in batches]).tolist() == [e["index"] for e in expected]


def test_impossible_mask_ratio_is_rejected_at_construction(records):
    # 0.99 of a 4 x 4 slice hides int(15.84) = 15 of 16: fine; 0.01 hides none.
    dataset(records, mask_generator=TubeMaskGenerator(0.99))
    with pytest.raises(ConfigError, match="mask_ratio=0.01"):
        dataset(records, mask_generator=TubeMaskGenerator(0.01))


def test_grid_must_divide(records):
    with pytest.raises(ConfigError, match="num_frames=7"):
        dataset(records, num_frames=7)
    with pytest.raises(ConfigError, match="input_size=30"):
        dataset(records, input_size=30)


def test_broken_video_in_evaluation_names_the_file(records, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    ds = dataset([*records, VideoRecord(str(bad), 0)], train=False)
    with pytest.raises(DataError, match=re.escape(str(bad)) + ".*data.eval_broken=exclude"):
        ds[3]


def test_the_decoder_mask_comes_from_the_samples_own_stream(tmp_path, make_clip):
    from videomae_ssl.data.annotations import VideoRecord
    from videomae_ssl.masking import RunningCellMaskGenerator, token_indices
    from videomae_ssl.seeding import STREAM_DECODER_MASK, sample_generator

    make_clip(tmp_path / "a.mp4", num_frames=12, size=(48, 32))
    cells = RunningCellMaskGenerator(0.5)
    dataset = pretrain_dataset(
        [VideoRecord(str(tmp_path / "a.mp4"))], num_sample=2, decoder_mask_generator=cells
    )
    torch.manual_seed(1)
    item = dataset[(0, 3)]
    torch.manual_seed(2)  # the global generator plays no part
    assert torch.equal(dataset[(0, 3)]["ids_decoded"], item["ids_decoded"])
    for view in range(2):
        drawn = cells((2, 4, 4), sample_generator(0, 3, 0, view=view, stream=STREAM_DECODER_MASK))
        want = token_indices(item["mask"][view : view + 1], drawn[None])
        assert torch.equal(item["ids_decoded"][view], want.decoded[0])
        assert torch.equal(item["decoded_loss"][view], want.loss_mask[0])
    assert item["ids_decoded"].shape == (2, 16)  # half of the 32 tokens, per view
    assert (
        "ids_decoded"
        not in pretrain_dataset(
            [VideoRecord(str(tmp_path / "a.mp4"))], train=False, decoder_mask_generator=cells
        )[0]
    )
