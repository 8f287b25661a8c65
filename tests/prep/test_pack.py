"""prep.pack: the videos of a list become LitData shards holding their encoded bytes, in list
order; broken videos are named and left out; a rerun finishes what a killed run left."""

import csv
import io
import json
import sys
from pathlib import Path

import av
import pytest
from litdata import StreamingDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_runs import write_clips  # noqa: E402

from videomae_ssl.data.shards import INDEX, MANIFEST, decode_payload  # noqa: E402
from videomae_ssl.prep.pack import main  # noqa: E402


def pack(data, out, *extra):
    return main(
        [
            str(data / "train.csv"),
            "--root",
            str(data),
            "--out",
            str(out),
            "--workers",
            "0",
            "--backend",
            "pyav",
            "--no-progress",
            *extra,
        ]
    )


def items(folder):
    dataset = StreamingDataset(str(folder), shuffle=False)
    return [dataset[i] for i in range(len(dataset))]


def test_a_broken_video_is_named_and_never_reaches_a_shard(tmp_path, capsys):
    data = write_clips(tmp_path / "clips", count=5, broken=(2,))
    assert pack(data, tmp_path / "packed") == 1
    out = capsys.readouterr().out
    assert "left out" in out and "train.csv:3: videos/c2.mp4: unreadable" in out
    folder = tmp_path / "packed" / "train"
    with open(folder / "broken.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert [(r["line"], r["path"], r["status"]) for r in rows] == [
        ("3", "videos/c2.mp4", "unreadable")
    ]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert [v["path"] for v in manifest["videos"]] == [f"videos/c{k}.mp4" for k in (0, 1, 3, 4)]
    assert [v["line"] for v in manifest["videos"]] == [1, 2, 4, 5]
    packed = items(folder)
    assert [item["index"] for item in packed] == [0, 1, 2, 3]
    # The shards hold each kept file's bytes as they are, in list order, and nothing else.
    files = [(data / "videos" / f"c{k}.mp4").read_bytes() for k in (0, 1, 3, 4)]
    assert [decode_payload(item) for item in packed] == files
    broken = (data / "videos" / "c2.mp4").read_bytes()
    assert all(broken not in bytes(item["data"]) for item in packed)


def test_a_rerun_checks_nothing_again_and_finishes_the_shards(tmp_path, monkeypatch):
    data = write_clips(tmp_path / "clips", count=4)
    assert pack(data, tmp_path / "packed") == 0
    folder = tmp_path / "packed" / "train"
    before = [bytes(item["data"]) for item in items(folder)]
    # A run killed after the check, before the shards were complete.
    (folder / INDEX).unlink()
    (folder / MANIFEST).unlink()
    for chunk in folder.glob("chunk-*.bin"):
        chunk.unlink()

    def no_check(*args, **kwargs):
        raise AssertionError("a video the journal lists was checked again")

    monkeypatch.setattr("videomae_ssl.prep.pack.scan_record", no_check)
    assert pack(data, tmp_path / "packed") == 0
    assert [bytes(item["data"]) for item in items(folder)] == before
    assert json.loads((folder / MANIFEST).read_text())["count"] == 4


def test_short_side_reencodes_before_packing(tmp_path):
    data = write_clips(tmp_path / "clips", count=2)
    assert pack(data, tmp_path / "packed", "--short-side", "16") == 0
    folder = tmp_path / "packed" / "train"
    item = items(folder)[0]
    with av.open(io.BytesIO(decode_payload(item))) as container:
        stream = container.streams.video[0]
        assert min(stream.codec_context.width, stream.codec_context.height) == 16
    # The manifest keeps the listed path, not the re-encoded file's.
    assert json.loads((folder / MANIFEST).read_text())["videos"][0]["path"] == "videos/c0.mp4"


def test_a_malformed_list_is_an_error_naming_the_line(tmp_path, capsys):
    (tmp_path / "train.csv").write_text("a.mp4 0\nb.mp4 x\n")
    assert pack(tmp_path, tmp_path / "packed") == 2
    assert "train.csv:2" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--workers", "-1"], ["--short-side", "1"]])
def test_bad_flags_are_usage_errors(tmp_path, flag):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "train.csv"), "--out", str(tmp_path), *flag])
    assert exit_info.value.code == 2
