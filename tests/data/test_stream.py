"""data.stream: lists packed by prep.pack give the clips the files give (same pixels, same
masks, same rows), across ranks and resumes, from a folder or an S3 endpoint; a corrupt shard
stops with its name."""

import json
import os
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import write_clip  # noqa: E402
from stream_runs import pack  # noqa: E402
from tiny_runs import train, train_here, weights, write_clips  # noqa: E402

from videomae_ssl.data.annotations import VideoRecord  # noqa: E402
from videomae_ssl.data.datamodules import FinetuneDataModule, PretrainDataModule  # noqa: E402
from videomae_ssl.data.readers import BACKENDS, open_record, resolve_backend  # noqa: E402
from videomae_ssl.errors import ConfigError, DataError  # noqa: E402
from videomae_ssl.masking import MotionMaskGenerator, TubeMaskGenerator  # noqa: E402


def usable(backend):
    try:
        resolve_backend(backend)
        return True
    except ConfigError:
        return False


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """8 clips listed in train.csv, val.csv and test.csv (labels 0/1), packed into `packed`."""
    folder = write_clips(tmp_path_factory.mktemp("clips"), count=8)
    lines = "".join(f"videos/c{k}.mp4 {k % 2}\n" for k in range(8))
    for name in ("val.csv", "test.csv"):
        (folder / name).write_text(lines)
    assert pack(folder, folder / "packed", "train.csv", "val.csv", "test.csv") == 0
    return folder


def options(data, **kwargs):
    base = dict(
        train_list=str(data / "train.csv"),
        val_list=str(data / "val.csv"),
        root=str(data),
        num_frames=4,
        sampling_rate=2,
        input_size=32,
        batch_size=2,
        num_workers=0,
        pin_memory=False,
        backend="pyav",
        seed=3,
    )
    return {**base, **kwargs}


def pretrain(data, mask_generator=None, **kwargs):
    return PretrainDataModule(
        patch_size=8,
        tubelet_size=2,
        mask_generator=mask_generator or TubeMaskGenerator(0.75),
        **options(data, **kwargs),
    )


def assert_same_items(got, expected):
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(got[key], value), key
        else:
            assert got[key] == value, key


@pytest.mark.parametrize("backend", [b for b in BACKENDS if usable(b)])
def test_every_backend_decodes_a_video_from_its_bytes_as_from_its_file(tmp_path, backend):
    path = tmp_path / "v.mp4"
    write_clip(path, num_frames=12, size=(64, 48))
    record = VideoRecord(str(path))
    for short_side in (None, 32):
        with (
            open_record(record, backend, short_side=short_side) as a,
            open_record(record, backend, short_side=short_side, data=path.read_bytes()) as b,
        ):
            assert a.num_frames == b.num_frames == 12
            assert torch.equal(a.read([0, 7, 3, 11, 11]), b.read([0, 7, 3, 11, 11]))


def test_streamed_pretraining_clips_equal_the_files_bit_for_bit(data):
    files = pretrain(data, num_sample=2)
    shards = pretrain(data, num_sample=2, stream=str(data / "packed"))
    files.setup("fit")
    shards.setup("fit")
    assert len(shards.train_dataset) == len(files.train_dataset) == 8
    for epoch in (0, 1):
        for index in range(8):
            item = shards.train_dataset[(index, epoch)]
            assert_same_items(item, files.train_dataset[(index, epoch)])
            assert item["video"].dtype == torch.uint8
    for index in range(8):
        assert_same_items(shards.val_dataset[index], files.val_dataset[index])


def test_streamed_motion_masks_equal_the_files(data):
    # masking=motion reads the codec's vectors in the same decode, from memory as from a file.
    files, shards = (
        pretrain(data, MotionMaskGenerator(0.75), **extra)
        for extra in ({}, {"stream": str(data / "packed")})
    )
    files.setup("fit")
    shards.setup("fit")
    moving = 0
    for index in range(8):
        got, expected = shards.train_dataset[(index, 1)], files.train_dataset[(index, 1)]
        motion = expected.pop("motion")  # NaN where a slice has no vectors
        torch.testing.assert_close(got.pop("motion"), motion, rtol=0, atol=0, equal_nan=True)
        assert_same_items(got, expected)
        moving += int(torch.isfinite(motion).any())
    assert moving > 0  # the clips' vectors were read, not only the fallback


def test_streamed_multiview_test_sees_each_video_once_as_the_files(data):
    def module(**kwargs):
        return FinetuneDataModule(
            num_classes=2,
            test_list=str(data / "test.csv"),
            test_clips=2,
            test_crops=1,
            mixup=0,
            cutmix=0,
            **options(data, **kwargs),
        )

    files, shards = module(), module(stream=str(data / "packed"))
    files.setup("test")
    shards.setup("test")
    got = [item for batch in shards.test_dataloader() for item in batch["video_id"].tolist()]
    assert sorted(got) == sorted(
        v for batch in files.test_dataloader() for v in batch["video_id"].tolist()
    )
    assert sorted(got) == sorted(list(range(8)) * 2)  # 2 views of each video, none lost
    for row in range(len(files.test_dataset)):
        assert_same_items(shards.test_dataset[row], files.test_dataset[row])


def test_streamed_frame_folders_equal_the_folders(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for k in range(2):
        folder = tmp_path / "frames" / f"v{k}"
        folder.mkdir(parents=True)
        for i in range(1, 11):
            pixels = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"img_{i:05d}.jpg", quality=90)
        lines.append(f"frames/v{k} 10 {k}\n")
    (tmp_path / "train.csv").write_text("".join(lines))
    assert pack(tmp_path, tmp_path / "packed", extra=("--format", "frames")) == 0
    kwargs = dict(val_list=None, annotation_format="frames")
    files = pretrain(tmp_path, **kwargs)
    shards = pretrain(tmp_path, stream=str(tmp_path / "packed"), **kwargs)
    files.setup("fit")
    shards.setup("fit")
    for index in range(2):
        assert_same_items(shards.train_dataset[(index, 1)], files.train_dataset[(index, 1)])


def test_a_corrupt_shard_stops_evaluation_naming_it(data, tmp_path):
    packed = tmp_path / "packed"
    shutil.copytree(data / "packed" / "val", packed / "val")
    chunk = sorted((packed / "val").glob("chunk-*.bin"))[0]
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = bytes(64)  # zeros inside a video's bytes
    chunk.write_bytes(bytes(raw))
    dm = pretrain(data, stream=str(packed), train_list=str(data / "val.csv"))
    dm.setup("fit")
    with pytest.raises(DataError, match=rf"corrupt shard .*{chunk.name}"):
        for _ in dm.val_dataloader():
            pass


def test_shards_declaring_other_fields_are_refused_before_reading(data, tmp_path):
    packed = tmp_path / "packed"
    shutil.copytree(data / "packed" / "val", packed / "val")
    index = json.loads((packed / "val" / "index.json").read_text())
    index["config"]["data_format"][0] = "pickle"
    (packed / "val" / "index.json").write_text(json.dumps(index))
    dm = pretrain(data, stream=str(packed), train_list=str(data / "val.csv"))
    with pytest.raises(DataError, match=r"val/index.json: declares the fields"):
        dm.validate_inputs("fit")


def test_a_list_without_shards_names_the_key_and_the_folder(data):
    dm = pretrain(data, stream=str(data / "packed"), val_list=str(data / "missing.csv"))
    with pytest.raises(DataError, match=r"data.val_list=.*missing.csv.*packed/missing/videos.json"):
        dm.validate_inputs("fit")
    with pytest.raises(ConfigError, match=r"data.stream_cache_size='lots'"):
        pretrain(data, stream=str(data / "packed"), stream_cache_size="lots").validate_inputs()


STREAM_RUN = ("data.val_list=null",)


@pytest.mark.slow
def test_two_ranks_read_disjoint_videos_covering_each_epoch(data, tmp_path):
    seen = tmp_path / "seen"
    out = train(
        data,
        tmp_path / "run",
        "trainer=ddp_cpu",
        "data.batch_size=1",
        "trainer.max_epochs=2",
        f"data.stream={data / 'packed'}",
        "+callbacks.seen._target_=data.stream_runs.SeenIndices",
        f"+callbacks.seen.folder={seen}",
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    ranks = [
        [json.loads(line) for line in (seen / f"rank{r}.jsonl").read_text().splitlines()]
        for r in (0, 1)
    ]
    orders = []
    for epoch in (0, 1):
        rows = [[i for b in rank if b["epoch"] == epoch for i in b["index"]] for rank in ranks]
        assert len(rows[0]) == len(rows[1]) == 4
        assert not set(rows[0]) & set(rows[1])
        assert sorted(rows[0] + rows[1]) == list(range(8))
        orders.append(rows)
    assert orders[0] != orders[1]  # re-shuffled per epoch


@pytest.mark.slow
def test_killed_mid_epoch_resume_auto_from_shards_ends_as_an_uninterrupted_run(data, tmp_path):
    common = (
        "trainer.max_epochs=2",
        "checkpoint_every_n_steps=2",
        "resume=auto",
        f"data.stream={data / 'packed'}",
        *STREAM_RUN,
    )
    train_here(data, tmp_path / "whole", *common)
    run = tmp_path / "outputs" / "job"
    killed = train(
        data,
        run,
        *common,
        "+callbacks.kill._target_=tiny_runs.KillAtStep",
        "+callbacks.kill.step=3",
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    train_here(data, run, *common)
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 8
    expected, got = weights(tmp_path / "whole"), weights(run)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6, msg=key)
    # The same run from the files ends with the same weights: the shards changed nothing.
    train_here(data, tmp_path / "files", "trainer.max_epochs=2", *STREAM_RUN)
    for key, value in weights(tmp_path / "files").items():
        torch.testing.assert_close(value, expected[key], rtol=1e-5, atol=1e-6, msg=key)


def test_a_streamed_run_with_validation_ends_with_the_weights_of_the_files_run(data, tmp_path):
    # The files' run checks its validation videos before the model is built, the streamed one
    # reads them from the shards: neither may move the generators the weights start from.
    common = (f"data.val_list={data / 'val.csv'}", "trainer.limit_val_batches=1")
    train_here(data, tmp_path / "files", *common)
    train_here(data, tmp_path / "shards", *common, f"data.stream={data / 'packed'}")
    expected = weights(tmp_path / "files")
    for key, value in weights(tmp_path / "shards").items():
        assert torch.equal(value, expected[key]), key


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3(monkeypatch):
    """A local S3 server (moto) on a free port, with fake credentials in the environment."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    client.create_bucket(Bucket="videos")
    yield client
    server.stop()


def test_training_streams_from_an_s3_endpoint(data, tmp_path, s3):
    for file in (data / "packed" / "train").iterdir():
        if file.name == "index.json" or file.suffix in (".bin", ".json"):
            s3.upload_file(str(file), "videos", f"packs/train/{file.name}")
    cache = tmp_path / "cache"
    train_here(
        data,
        tmp_path / "run",
        "data.stream=s3://videos/packs",
        *STREAM_RUN,
        f"data.stream_cache_dir={cache}",
        "data.stream_cache_size=100MB",
        "trainer.max_steps=3",
    )
    state = torch.load(
        tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
    assert state["global_step"] == 3
    cached = [p.name for p in cache.rglob("*") if p.is_file()]
    assert any(name.startswith("chunk-") for name in cached), cached
    # The clips are the local shards' ones.
    from videomae_ssl.data.shards import ShardSplit

    remote = ShardSplit("s3://videos/packs/train", cache_dir=str(cache))
    local = ShardSplit(str(data / "packed" / "train"))
    remote.load(), local.load()
    assert remote.read(5) == local.read(5) == (data / "videos" / "c5.mp4").read_bytes()
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
