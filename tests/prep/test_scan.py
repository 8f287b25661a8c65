"""The dataset scan: finds each kind of broken video, keeps the good lines verbatim, reports
every line, and exits 0 / 1 / 2 as documented."""

import csv
import os
import signal

import av
import numpy as np
import pytest
from PIL import Image

from videomae_ssl.data.annotations import VideoRecord, read_annotations
from videomae_ssl.prep.scan import ScanResult, main, run_pool, scan, scan_record

COLUMNS = ["line", "path", "status", "reason", "frames", "fps", "width", "height", "codec", "bytes"]


def remux_faststart(src, dst):
    """Copy an mp4 with its index (moov) moved to the front, so a truncated copy still opens."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)


def write_small_clip(path, num_frames=120, size=(176, 144)):
    """A real H.264 clip of a few KB: QCIF frames of one slowly changing colour, coded at the
    lowest quality, as a long, static, low-bitrate video is."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "51", "threads": "1"}
        for i in range(num_frames):
            frame = np.full((height, width, 3), (40 + i % 60, 90, 160), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, make_clip):
    """A folder of clips, good and broken, and an annotation file listing them.

    Returns (folder, annotation path, the file's lines as written, expected status per line).
    """
    root = tmp_path_factory.mktemp("videos")
    make_clip(root / "good.mp4", num_frames=16)
    make_clip(root / "good.mkv", num_frames=20)
    make_clip(root / "short.mp4", num_frames=8)
    make_clip(root / "source.mp4", num_frames=16)
    data = (root / "source.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n" * 100)
    # Index at the front: opens with a full frame count and its first frame decodes, but the
    # last quarter of the file, and the last frames with it, is gone.
    make_clip(root / "long.mp4", num_frames=48)
    remux_faststart(root / "long.mp4", root / "fast.mp4")
    data = (root / "fast.mp4").read_bytes()
    (root / "cut.mp4").write_bytes(data[: len(data) * 3 // 4])

    lines = [
        ("good.mp4 0\n", "ok"),
        ("truncated.mp4 1\n", "unreadable"),
        ("\n", None),  # blank lines are skipped but still counted
        ("empty.mp4 2\n", "unreadable"),
        ("good.mkv 3\r\n", "ok"),  # a Windows line ending is kept as written
        ("text.mp4 4\n", "unreadable"),
        ("missing.mp4 5\n", "missing"),
        ("short.mp4 6\n", "too_short"),
        ("cut.mp4 7\n", "unreadable"),
        ("good.mp4 0", "ok"),  # last line without a newline (a video listed twice, one class)
    ]
    annotation = root / "train.csv"
    annotation.write_bytes("".join(text for text, _ in lines).encode())
    expected = {i: status for i, (_, status) in enumerate(lines, start=1) if status}
    return root, annotation, lines, expected


def records_with_lines(annotation, root):
    records = read_annotations(annotation, root)
    numbers = [i for i, text in enumerate(annotation.read_text().splitlines(), 1) if text.strip()]
    return list(zip(numbers, records, strict=True))


def by_line(results):
    return {result.line: result for result in results}


@pytest.mark.parametrize("backend", ["pyav", "auto"])
def test_finds_each_broken_video(dataset, backend):
    root, annotation, _, expected = dataset
    results = scan(records_with_lines(annotation, root), backend=backend, workers=0)
    assert [r.line for r in results] == sorted(expected)
    assert {r.line: r.status for r in results} == expected
    found = by_line(results)
    # Size is only a hint beside a decode failure.
    assert found[4].reason.endswith("(the file is only 0 bytes)")
    assert found[7].reason == "no such file"
    assert found[8].reason == "8 frames < --min-frames 16"
    for line in (2, 4, 6, 9):
        assert found[line].reason, f"line {line} is unreadable without a reason"
    if backend == "pyav":
        # The cut file opens (its index is intact) and fails only when the last frame decodes.
        assert found[9].frames == 48 and "cannot decode frames" in found[9].reason


def test_metadata_of_good_videos(dataset):
    root, annotation, _, _ = dataset
    found = by_line(scan(records_with_lines(annotation, root), workers=0))
    for line, name, frames in [(1, "good.mp4", 16), (5, "good.mkv", 20), (8, "short.mp4", 8)]:
        result = found[line]
        assert result.path == os.path.join(root, name)
        assert (result.frames, result.width, result.height) == (frames, 64, 48)
        assert (result.fps, result.codec) == (25.0, "h264")
        assert result.bytes == os.path.getsize(root / name)
    assert found[7].frames is None and found[7].bytes is None  # missing: nothing known


def test_a_small_clip_that_decodes_is_kept(tmp_path):
    write_small_clip(tmp_path / "qcif.mp4")
    size = os.path.getsize(tmp_path / "qcif.mp4")
    assert size < 10 * 1024  # as small as broken Kinetics downloads
    result = scan_record(3, VideoRecord(str(tmp_path / "qcif.mp4")))
    assert (result.line, result.status, result.reason) == (3, "ok", "")
    assert (result.frames, result.width, result.height, result.bytes) == (120, 176, 144, size)

    annotation = tmp_path / "train.csv"
    annotation.write_text("qcif.mp4 0\n")
    argv = [str(annotation), "--root", str(tmp_path), "--workers", "0", "--no-progress"]
    assert main(argv) == 0
    assert (tmp_path / "train.clean.csv").read_text() == "qcif.mp4 0\n"


def test_size_hint_only_for_small_files(tmp_path):
    (tmp_path / "big.mp4").write_bytes(b"not a video " * 2000)
    (tmp_path / "small.mp4").write_bytes(b"not a video " * 26)
    big = scan_record(1, VideoRecord(str(tmp_path / "big.mp4")))
    small = scan_record(2, VideoRecord(str(tmp_path / "small.mp4")))
    assert big.status == small.status == "unreadable"
    assert "bytes" not in big.reason
    assert small.reason.endswith("(the file is only 312 bytes)")


def test_min_bytes_is_gone_with_a_reason(tmp_path, capsys):
    annotation = tmp_path / "train.csv"
    annotation.write_text("a.mp4 0\n")
    with pytest.raises(SystemExit) as exit_info:
        main([str(annotation), "--min-bytes", "1000", "--no-progress"])
    assert exit_info.value.code == 2
    assert "never excluded for its size" in capsys.readouterr().err


def test_cli_writes_clean_list_and_report(dataset, tmp_path, capsys):
    root, annotation, _, expected = dataset
    original = annotation.read_bytes()
    out = tmp_path / "out"
    argv = [
        str(annotation),
        "--root",
        str(root),
        "--out",
        str(out),
        "--workers",
        "0",
        "--no-progress",
    ]
    assert main(argv) == 1

    assert annotation.read_bytes() == original
    clean = (out / "train.clean.csv").read_bytes().decode()
    assert clean == "good.mp4 0\ngood.mkv 3\r\ngood.mp4 0\n"

    with open(out / "train.scan.tsv", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert rows[0] == COLUMNS
    assert [(int(row[0]), row[2]) for row in rows[1:]] == sorted(expected.items())
    empty = rows[1:][2]
    assert empty[1] == os.path.join(root, "empty.mp4") and empty[9] == "0"
    good = rows[1:][3]
    assert good[4:] == ["20", "25", "64", "48", "h264", str(os.path.getsize(root / "good.mkv"))]

    printed = capsys.readouterr().out
    assert "Scanned 9 videos: 3 ok, 1 missing, 4 unreadable, 1 too_short" in printed
    assert "line 7: " in printed and "no such file" in printed
    assert str(out / "train.clean.csv") in printed and str(out / "train.scan.tsv") in printed


def test_cli_all_good_exits_0_and_writes_beside_the_list(dataset, tmp_path, capsys):
    root, _, _, _ = dataset
    annotation = tmp_path / "val.txt"
    annotation.write_text(f"{root / 'good.mp4'} 0\n{root / 'good.mkv'} 1\n")
    assert main([str(annotation), "--workers", "0", "--no-progress"]) == 0
    assert (tmp_path / "val.clean.txt").read_text() == annotation.read_text()
    assert (tmp_path / "val.scan.tsv").read_text().count("\tok\t") == 2
    assert "2 ok" in capsys.readouterr().out


def test_cli_malformed_list_exits_2(tmp_path, capsys):
    annotation = tmp_path / "train.csv"
    annotation.write_text("a.mp4 0\nb.mp4\n")
    assert main([str(annotation), "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"{annotation}:2:" in err
    assert sorted(os.listdir(tmp_path)) == ["train.csv"]


def test_cli_unknown_backend_exits_2(tmp_path, capsys):
    annotation = tmp_path / "train.csv"
    annotation.write_text("a.mp4 0\n")
    assert main([str(annotation), "--backend", "nope", "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("error: --backend='nope'")


def test_two_workers_match_one(dataset):
    root, annotation, _, _ = dataset
    jobs = records_with_lines(annotation, root)
    one = scan(jobs, backend="pyav", workers=1)
    two = scan(jobs, backend="pyav", workers=2)
    assert one == two
    assert one == scan(jobs, backend="pyav", workers=0)


class CrashOnLine:
    """A scan task whose worker process dies by segfault on one line, like a broken decoder."""

    def __init__(self, line):
        self.line = line

    def __call__(self, line, record):
        if line == self.line:
            os.kill(os.getpid(), signal.SIGSEGV)
        return ScanResult(line, record.path, "ok")


def test_a_crashing_decoder_marks_only_its_video(tmp_path):
    jobs = [(line, VideoRecord(f"v{line}.mp4")) for line in range(1, 7)]
    results = run_pool(jobs, CrashOnLine(3), workers=1)
    assert [r.line for r in results] == [1, 2, 3, 4, 5, 6]
    assert [r.status for r in results] == ["ok", "ok", "unreadable", "ok", "ok", "ok"]
    assert "crashed" in results[2].reason


def test_cli_v2_list_keeps_its_lines(dataset, tmp_path):
    root, _, _, _ = dataset
    annotation = tmp_path / "pretrain.txt"
    annotation.write_text("good.mp4 0 -1\nmissing.mp4 0 -1\ngood.mkv 0 -1\n")
    argv = [str(annotation), "--root", str(root), "--format", "v2", "--workers", "0"]
    assert main([*argv, "--no-progress"]) == 1
    assert (tmp_path / "pretrain.clean.txt").read_text() == "good.mp4 0 -1\ngood.mkv 0 -1\n"


def test_cli_wrong_format_names_the_flag(dataset, tmp_path, capsys):
    root, annotation, _, _ = dataset
    argv = [str(annotation), "--root", str(root), "--format", "v2", "--out", str(tmp_path)]
    assert main([*argv, "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {annotation}:1:")
    assert "--format" in err and "data.annotation_format" not in err
    assert os.listdir(tmp_path) == []


def write_frames(folder, num_frames, size=(40, 30)):
    """A folder of JPEG frames named img_00001.jpg onwards, as the frames format expects."""
    folder.mkdir()
    for i in range(1, num_frames + 1):
        Image.new("RGB", size, (5 * i, 100, 150)).save(folder / f"img_{i:05d}.jpg")


def test_cli_frames_list(tmp_path, capsys):
    write_frames(tmp_path / "good", 16)
    write_frames(tmp_path / "gap", 16)
    write_frames(tmp_path / "short", 8)
    annotation = tmp_path / "frames.txt"
    annotation.write_text("good 16 0\ngap 20 1\ngone 16 2\nshort 8 3\n")
    argv = [str(annotation), "--root", str(tmp_path), "--format", "frames", "--workers", "0"]
    assert main([*argv, "--no-progress"]) == 1
    assert (tmp_path / "frames.clean.txt").read_text() == "good 16 0\n"

    with open(tmp_path / "frames.scan.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert [row["status"] for row in rows] == ["ok", "unreadable", "missing", "too_short"]
    good = rows[0]
    assert (good["frames"], good["width"], good["height"]) == ("16", "40", "30")
    assert good["fps"] == good["codec"] == good["bytes"] == ""  # unknown for a frame folder
    assert "img_00020.jpg" in rows[1]["reason"]  # the listed last frame is not there
    assert rows[2]["reason"] == "no such folder of frames"
    assert rows[3]["reason"] == "8 frames < --min-frames 16"
