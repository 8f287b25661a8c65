"""Repeated sampling: one decode, `num_sample` views with their own crops and masks."""

import lightning as L
import pytest
import torch
from clips import pretrain_dataset
from conftest import pretrain_module
from tiny_sizes import RUN_NET
from torch.utils.data import DataLoader

import videomae_ssl.data.decode_options as decode
from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.pretrain_dataset import collate_views
from videomae_ssl.data.transforms import normalize_video
from videomae_ssl.errors import ConfigError
from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
from videomae_ssl.models import videomae_pretrain

NUM_CLIPS = 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory, make_clip):
    root = tmp_path_factory.mktemp("views")
    for k in range(NUM_CLIPS):
        make_clip(root / f"c{k}.mp4", num_frames=30, size=(80, 48))
    (root / "train.csv").write_text("".join(f"c{k}.mp4 {k}\n" for k in range(NUM_CLIPS)))
    return root


@pytest.fixture(scope="module")
def records(folder):
    return [VideoRecord(str(folder / f"c{k}.mp4"), label=k) for k in range(NUM_CLIPS)]


def dataset(records, **kwargs):
    return pretrain_dataset(records, **{"sampling_rate": 3, **kwargs})


def frame_numbers(video):
    """Which source frames a normalised clip shows: make_clip paints frame i blue 10 + 5 i."""
    blue = normalize_video(video)[2].mean(dim=(1, 2)) * 0.225 + 0.406  # (T,), back to [0, 1]
    return torch.round((blue * 255 - 10) / 5).int().tolist()


@pytest.fixture
def count_opens(monkeypatch):
    """Counts decoder opens made by the dataset."""
    opened = []
    real = decode.open_record

    def counting(record, *args, **kwargs):
        opened.append(record.path)
        return real(record, *args, **kwargs)

    monkeypatch.setattr(decode, "open_record", counting)
    return opened


def test_views_share_one_decode_but_not_crop_or_mask(records, count_opens):
    item = dataset(records, num_sample=2)[(1, 5)]
    assert count_opens == [records[1].path]  # decoded once for both views
    assert item["video"].shape == (2, 3, 4, 32, 32) and item["mask"].shape == (2, 32)
    assert item["mask"].sum(dim=1).tolist() == [2 * 12, 2 * 12]  # 2 slices of int(0.75 * 16) = 12
    # The same frames (one time window) ...
    assert frame_numbers(item["video"][0]) == frame_numbers(item["video"][1])
    # ... seen through different crops, with different masks.
    assert not torch.equal(item["video"][0], item["video"][1])
    assert not torch.equal(item["mask"][0], item["mask"][1])


def test_views_differ_for_every_video(records):
    ds = dataset(records, num_sample=3)
    for index in range(NUM_CLIPS):
        item = ds[(index, 2)]
        for a, b in [(0, 1), (0, 2), (1, 2)]:
            assert not torch.equal(item["mask"][a], item["mask"][b])
        crops = {tuple(item["video"][v].flatten()[::97].tolist()) for v in range(3)}
        assert len(crops) > 1


def test_first_view_is_the_single_view_sample(records):
    single = dataset(records)[(2, 7)]
    views = dataset(records, num_sample=2)[(2, 7)]
    assert single["video"].shape == (3, 4, 32, 32)
    assert torch.equal(views["video"][0], single["video"])
    assert torch.equal(views["mask"][0], single["mask"])


def test_views_are_reproducible(records):
    a = dataset(records, num_sample=2)[(3, 1)]
    b = dataset(records, num_sample=2)[(3, 1)]
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["mask"], b["mask"])


def test_collate_flattens_views_into_the_batch(records, count_opens):
    ds = dataset(records, num_sample=2)
    loader = DataLoader(ds, batch_size=3, collate_fn=collate_views)
    batch = next(iter(loader))
    assert len(count_opens) == 3  # three videos, three decodes
    assert batch["video"].shape == (6, 3, 4, 32, 32)  # B*2 clips
    assert batch["mask"].shape == (6, 32) and batch["mask"].dtype == torch.bool
    assert batch["index"].tolist() == [0, 0, 1, 1, 2, 2]
    assert batch["label"].tolist() == [0, 0, 1, 1, 2, 2]
    item = ds[1]
    assert torch.equal(batch["video"][2:4], item["video"])
    assert torch.equal(batch["mask"][2:4], item["mask"])


def test_collate_leaves_single_views_alone(records):
    ds = dataset(records)
    batch = collate_views([ds[0], ds[1]])
    assert batch["video"].shape == (2, 3, 4, 32, 32) and batch["index"].tolist() == [0, 1]


def test_num_sample_must_be_positive(records, folder):
    with pytest.raises(ConfigError, match=r"data\.num_sample=0"):
        dataset(records, num_sample=0)
    dm = data_module(folder, num_sample=0)
    with pytest.raises(ConfigError, match=r"data\.num_sample=0"):
        dm.validate_inputs()


def data_module(folder, **kwargs):
    args = dict(sampling_rate=3, patch_size=8, mask_ratio=0.75, num_sample=2)
    return pretrain_module(folder / "train.csv", folder, **{**args, **kwargs})


class ClipCounter(L.Callback):
    def __init__(self):
        self.clips = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.clips.append(batch["video"].shape[0])


def test_training_sees_batch_times_views_clips_and_lr_scales_with_videos(folder, tmp_path):
    dm = data_module(folder)
    net = videomae_pretrain("tiny", **RUN_NET)
    model = VideoMAEPretrainModule(net, batch_size=2, base_lr=1.28e-3, warmup_epochs=0)
    counter = ClipCounter()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=1,
        callbacks=[counter],
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    assert counter.clips == [4, 4]  # 4 videos, 2 per step, 2 views each
    # lr per 256 videos: 1.28e-3 * 2 videos / 256 = 1e-5 (views do not enter it).
    assert trainer.lr_scheduler_configs[0].scheduler.base_lrs[0] == pytest.approx(1e-5)
