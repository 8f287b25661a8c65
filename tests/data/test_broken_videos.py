"""Broken videos: replaced and quarantined in training, never replaced in evaluation."""

import csv
import multiprocessing
import re
from dataclasses import replace

import lightning as L
import pytest
import torch
from clips import pretrain_dataset
from conftest import pretrain_module
from lightning.pytorch.loggers import CSVLogger
from tiny_sizes import RUN_NET
from torch._utils import ExceptionWrapper
from torch.utils.data import DataLoader

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.epoch_sampler import EpochSampler
from videomae_ssl.data.pretrain_dataset import collate_views
from videomae_ssl.data.quarantine import LoaderDataError, read_quarantine, record_broken
from videomae_ssl.data.readers import open_record
from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
from videomae_ssl.models import videomae_pretrain

KINDS = ("truncated", "zero_bytes", "text", "missing")
GOOD = 5


@pytest.fixture(scope="module")
def folder(tmp_path_factory, make_clip):
    """videos/good{k}.mp4 and one broken file of each kind (missing.mp4 is not written)."""
    root = tmp_path_factory.mktemp("broken")
    videos = root / "videos"
    videos.mkdir()
    for k in range(GOOD):
        make_clip(videos / f"good{k}.mp4", num_frames=12, size=(48, 32))
    data = (videos / "good0.mp4").read_bytes()
    (videos / "truncated.mp4").write_bytes(data[: len(data) // 2])  # an interrupted download
    (videos / "zero_bytes.mp4").write_bytes(b"")
    (videos / "text.mp4").write_text("<html>404 Not Found</html>\n")
    return root


def good_records(folder):
    return [VideoRecord(str(folder / "videos" / f"good{k}.mp4"), label=k) for k in range(GOOD)]


def broken_record(folder, kind):
    return VideoRecord(str(folder / "videos" / f"{kind}.mp4"), label=9)


def dataset(records, train=True, **kwargs):
    return pretrain_dataset(records, train=train, **kwargs)


def write_list(path, folder, names):
    # One label for all: a name listed twice (23 copies of one broken file) keeps its class.
    path.write_text("".join(f"videos/{name}.mp4 0\n" for name in names))
    return str(path)


def module(folder, tmp_path, train_names, val_names=None, **kwargs):
    val_list = None if val_names is None else write_list(tmp_path / "val.csv", folder, val_names)
    args = dict(
        patch_size=8, mask_ratio=0.75, quarantine_file=str(tmp_path / "run" / "quarantine.tsv")
    )
    return pretrain_module(
        write_list(tmp_path / "train.csv", folder, train_names),
        folder,
        val_list,
        **{**args, **kwargs},
    )


def quarantine_lines(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f]


def test_two_worker_epochs_quarantine_the_broken_video_once(folder, tmp_path):
    records = good_records(folder) + [broken_record(folder, "zero_bytes")]
    quarantine = tmp_path / "run" / "quarantine.tsv"
    ds = dataset(records, quarantine_file=str(quarantine))
    sampler = EpochSampler(len(ds), seed=3)
    for epoch in range(2):  # fresh workers each epoch: both meet the broken video anew
        sampler.set_epoch(epoch)
        loader = DataLoader(
            ds, batch_size=2, sampler=sampler, num_workers=2, collate_fn=collate_views
        )
        batches = list(loader)
        assert sum(b["video"].shape[0] for b in batches) == len(records)  # the epoch completed
        broken = torch.cat([b["broken"] for b in batches])
        requested = torch.cat([b["requested"] for b in batches])
        shown = torch.cat([b["index"] for b in batches])
        assert broken.tolist().count(1) == 1 and broken.sum() == 1
        assert requested[broken == 1].tolist() == [5]  # the broken row was asked for ...
        assert shown[broken == 1].item() != 5  # ... and another video shown instead
        assert sorted(requested.tolist()) == list(range(len(records)))
    lines = quarantine_lines(quarantine)
    assert len(lines) == 1
    path, reason, tag = lines[0]
    assert (path, tag) == (records[5].path, "train") and "Invalid data" in reason


@pytest.mark.parametrize("kind", KINDS)
def test_training_replaces_and_quarantines(folder, tmp_path, kind):
    records = good_records(folder) + [broken_record(folder, kind)]
    quarantine = tmp_path / "quarantine.tsv"
    ds = dataset(records, quarantine_file=str(quarantine))
    item = ds[(5, 4)]
    assert item["requested"] == 5 and item["broken"] == 1
    assert item["index"] in range(GOOD) and item["label"] == records[item["index"]].label
    assert item["video"].shape == (3, 4, 32, 32)
    listed = read_quarantine(quarantine)
    assert list(listed) == [records[5].path]
    reason = "no such video file" if kind == "missing" else "cannot open video"
    assert reason in listed[records[5].path]
    # The replacement comes from the sample's own stream: a fresh dataset (another worker, a
    # resumed run) picks the same one; another epoch draws anew.
    again = dataset(records)[(5, 4)]
    assert again["index"] == item["index"] and torch.equal(again["video"], item["video"])
    picks = {dataset(records)[(5, epoch)]["index"] for epoch in range(12)}
    assert len(picks) > 1


def test_good_samples_are_untouched_by_a_broken_neighbour(folder):
    records = good_records(folder)
    clean = dataset(records)
    mixed = dataset(records + [broken_record(folder, "text")])
    for key in [(0, 2), (3, 2)]:
        a, b = clean[key], mixed[key]
        assert torch.equal(a["video"], b["video"]) and torch.equal(a["mask"], b["mask"])
        assert b["broken"] == 0 and b["index"] == b["requested"] == key[0]


def test_unreadable_list_stops_with_a_clean_message_from_workers(folder, tmp_path):
    records = [broken_record(folder, kind) for kind in KINDS]
    ds = dataset(records, quarantine_file=str(tmp_path / "q.tsv"))
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_views)
    with pytest.raises(DataError) as err:
        next(iter(loader))
    message = str(err.value)
    assert "Traceback" not in message and not message.startswith("Caught")
    assert "replacements drawn for it could not be decoded" in message
    assert "data.root" in message
    assert set(read_quarantine(tmp_path / "q.tsv")) == {r.path for r in records}


def test_evaluation_decode_error_from_a_worker_is_clean(folder):
    records = good_records(folder)[:1] + [broken_record(folder, "truncated")]
    ds = dataset(records, train=False)
    loader = DataLoader(ds, batch_size=1, num_workers=2, collate_fn=collate_views)
    with pytest.raises(DataError) as err:
        list(loader)
    message = str(err.value)
    assert message.startswith(records[1].path + ": cannot open video")
    assert "Traceback" not in message and "data.eval_broken=exclude" in message


def test_loader_error_keeps_its_message_through_torch_reraise():
    try:
        raise LoaderDataError("a.mp4: cannot open video\nsecond line")
    except LoaderDataError:
        wrapper = ExceptionWrapper(where="in DataLoader worker process 1")
    with pytest.raises(LoaderDataError) as err:
        wrapper.reraise()
    assert str(err.value) == "a.mp4: cannot open video\nsecond line"


def test_evaluation_fail_lists_every_bad_file(folder, tmp_path):
    dm = module(folder, tmp_path, ["good0", "good1"], ["good0", *KINDS, "good1"])
    with pytest.raises(DataError) as err:
        dm.validate_inputs()
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'val.csv'}: 4 of 6 evaluation videos cannot be opened")
    assert "data.eval_broken=exclude" in message
    for kind in KINDS:
        assert str(folder / "videos" / f"{kind}.mp4") in message
    assert "missing.mp4: no such video file" in message
    assert "good0.mp4" not in message


def test_evaluation_fail_shows_the_first_twenty_and_a_count(folder, tmp_path):
    names = ["zero_bytes"] * 23 + ["good0"]
    dm = module(folder, tmp_path, ["good0", "good1"], names)
    with pytest.raises(DataError, match=r"23 of 24 evaluation videos") as err:
        dm.validate_inputs()
    assert str(err.value).count("zero_bytes.mp4: ") == 20
    assert "... and 3 more" in str(err.value)


def test_evaluation_exclude_leaves_them_out_and_reports(folder, tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr("videomae_ssl.data.datamodules.eval_check.rank_zero_info", messages.append)
    dm = module(
        folder,
        tmp_path,
        ["good0", "good1"],
        ["good0", *KINDS, "good1"],
        eval_broken="exclude",
        num_workers=2,
    )
    dm.validate_inputs()
    assert [r.path for r in dm.val_records] == [
        str(folder / "videos" / "good0.mp4"),
        str(folder / "videos" / "good1.mp4"),
    ]
    quarantine = tmp_path / "run" / "quarantine.tsv"
    lines = quarantine_lines(quarantine)
    assert sorted(line[0] for line in lines) == sorted(
        str(folder / "videos" / f"{kind}.mp4") for kind in KINDS
    )
    assert {line[2] for line in lines} == {"eval"}
    assert [path for path, _ in dm.excluded_eval] == [line[0] for line in lines]
    assert len(messages) == 1
    assert "data.eval_broken=exclude: left out 4 of 6 evaluation videos" in messages[0]
    assert str(quarantine) in messages[0]
    dm.setup("validate")
    assert [b["index"].tolist() for b in dm.val_dataloader()] == [[0, 1]]


def drain(dm):
    """Run the training loader through the main-process hook, as Lightning does."""
    dm.setup("fit")
    return [dm.on_before_batch_transfer(b, 0) for b in dm.train_dataloader()]


def test_too_many_broken_videos_stop_naming_key_and_file(folder, tmp_path):
    names = [f"good{k}" for k in range(GOOD)] + ["truncated"]
    dm = module(folder, tmp_path, names, max_broken_fraction=0.1)
    quarantine = tmp_path / "run" / "quarantine.tsv"
    with pytest.raises(DataError) as err:
        drain(dm)
    message = str(err.value)
    assert re.search(r"1 of 6 videos in .*train\.csv \(16\.67%\) could not be decoded", message)
    assert "data.max_broken_fraction=0.1" in message and str(quarantine) in message


def test_broken_videos_within_the_budget_are_counted(folder, tmp_path, monkeypatch):
    said = []
    monkeypatch.setattr("videomae_ssl.data.datamodules.base.rank_zero_info", said.append)
    names = [f"good{k}" for k in range(GOOD)] + ["truncated"]
    dm = module(folder, tmp_path, names, max_broken_fraction=0.2, batch_size=3)
    batches = drain(dm)
    # Said once, in the console and train.log, with the reason quarantine.tsv records.
    (line,) = said
    quarantine = tmp_path / "run" / "quarantine.tsv"
    reason = quarantine.read_text().split("\t")[1]
    assert line == (
        f"warning: training video {folder / 'videos' / 'truncated.mp4'} could not be decoded "
        f"({reason}); another video stood in for it (listed in {quarantine}). 1 of 6 so far, at "
        f"most data.max_broken_fraction=0.2 of the list."
    )
    assert [int(b["broken_total"]) for b in batches] == sorted(
        int(b["broken_total"]) for b in batches
    )
    assert int(batches[-1]["broken_total"]) == 1


class StopProbe(L.LightningModule):
    """The smallest module that trains: enough to see how an error leaves `fit`."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def training_step(self, batch, batch_idx):
        return self.w * batch["video"].mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_fit_stops_with_the_plain_data_error(folder, tmp_path):
    names = ["truncated", "zero_bytes"] + [f"good{k}" for k in range(GOOD)]
    dm = module(folder, tmp_path, names, max_broken_fraction=0.01, num_workers=2)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=1,
        default_root_dir=tmp_path,
    )
    with pytest.raises(DataError) as err:
        trainer.fit(StopProbe(), datamodule=dm)
    assert type(err.value) is DataError  # raised in the main process, not a worker's re-raise
    assert re.match(r"[12] of 7 videos in .*train\.csv", str(err.value))
    assert "data.max_broken_fraction=0.01" in str(err.value)


def test_pretraining_logs_data_broken(folder, tmp_path):
    names = [f"good{k}" for k in range(GOOD)] + ["text"]
    dm = module(folder, tmp_path, names, max_broken_fraction=0.5, batch_size=3)
    net = videomae_pretrain("tiny", **RUN_NET)
    model = VideoMAEPretrainModule(net, warmup_epochs=0)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=CSVLogger(tmp_path, name="csv"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=1,
        log_every_n_steps=1,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    with open(trainer.logger.log_dir + "/metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("data/broken")]
    assert len(rows) == 2  # 6 videos, batches of 3
    assert float(rows[-1]["data/broken"]) == 1.0


def _record_many(args):
    path, names = args
    return sum(record_broken(path, name, f"{name}: bad\tdata\n", "train") for name in names)


def test_concurrent_writers_list_each_path_once(tmp_path):
    quarantine = tmp_path / "q.tsv"
    names = [f"/videos/v{k}.mp4" for k in range(25)]
    with multiprocessing.get_context("fork").Pool(4) as pool:
        written = pool.map(_record_many, [(str(quarantine), names)] * 4)
    assert sum(written) == 25
    lines = quarantine_lines(quarantine)
    assert sorted(line[0] for line in lines) == sorted(names)
    assert all(len(line) == 3 and line[1].endswith(": bad data") for line in lines)
    # The same path under the eval tag is another entry.
    assert record_broken(quarantine, names[0], "x", "eval")
    assert read_quarantine(quarantine, "eval") == {names[0]: "x"}
    assert len(read_quarantine(quarantine, "train")) == 25


def test_evaluation_check_decodes_the_clip_not_only_the_header(folder, tmp_path, make_clip):
    """A video whose header opens but whose frames do not decode is caught before training."""
    videos = folder / "videos"
    make_clip(tmp_path / "long.avi", num_frames=120, size=(48, 32), codec="mpeg4")
    data = (tmp_path / "long.avi").read_bytes()
    (videos / "cut_avi.avi").write_bytes(data[: len(data) * 2 // 5])
    with open_record(VideoRecord(str(videos / "cut_avi.avi")), "pyav") as video:
        assert video.num_frames == 120  # the header alone looks healthy
    (tmp_path / "val.csv").write_text("videos/good1.mp4 0\nvideos/cut_avi.avi 1\n")
    dm = module(folder, tmp_path, ["good0", "good1"], num_frames=4, sampling_rate=8)
    dm.lists = replace(dm.lists, val_list=str(tmp_path / "val.csv"))
    with pytest.raises(DataError, match=r"cut_avi\.avi") as err:
        dm.validate_inputs()
    assert "good1.mp4" not in str(err.value)
    dm = module(
        folder, tmp_path, ["good0", "good1"], num_frames=4, sampling_rate=8, eval_broken="exclude"
    )
    dm.lists = replace(dm.lists, val_list=str(tmp_path / "val.csv"))
    dm.validate_inputs()
    assert [r.path for r in dm.val_records] == [str(videos / "good1.mp4")]


def test_a_bad_setting_in_a_worker_is_a_clean_error_not_a_broken_video(folder, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    ds = dataset(
        [VideoRecord(str(frames), label=0, start=1, num_frames=8)],
        frame_template="img_{}_{}.jpg",
        quarantine_file=str(tmp_path / "q.tsv"),
    )
    loader = DataLoader(ds, batch_size=None, num_workers=1)
    with pytest.raises(LoaderDataError) as err:
        next(iter(loader))
    assert "img_{}_{}.jpg" in str(err.value) and "Traceback" not in str(err.value)
    assert not (tmp_path / "q.tsv").exists()  # not quarantined: no video is at fault


@pytest.mark.parametrize(
    "override, key",
    [
        (dict(frame_template="img.jpg"), "data.frame_template"),
        (dict(frame_template="img_{}_{}.jpg"), "data.frame_template"),
        (dict(sampling_rate=0), "data.sampling_rate"),
        (dict(short_side=128.5), "data.short_side"),
    ],
)
def test_impossible_reader_settings_name_the_key(folder, tmp_path, override, key):
    with pytest.raises(ConfigError, match=key):
        module(folder, tmp_path, ["good0", "good1"], **override).validate_inputs()
