"""`--gop N` in prep.prepare and prep.pack: videos re-encoded with a keyframe at least every N
frames (checked on the packets with plain PyAV), at the source's size unless --short-side is
given too, recorded in the settings, and packed as they were re-encoded."""

import io
import json
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from litdata import StreamingDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clips import write_clip  # noqa: E402

from videomae_ssl.data.shards import decode_payload  # noqa: E402
from videomae_ssl.prep import pack, prepare  # noqa: E402
from videomae_ssl.prep.reencode import reencode  # noqa: E402

FRAMES = 40


def keyframes(source) -> list[int]:
    """Display indices of the keyframes, from the packets' flags (plain PyAV)."""
    with av.open(source) as container:
        packets = [p for p in container.demux(video=0) if p.size > 0]
    ordered = sorted(packets, key=lambda p: p.pts)
    return [i for i, p in enumerate(ordered) if p.is_keyframe]


def size_and_frames(source) -> tuple[int, int, int]:
    with av.open(source) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return stream.codec_context.width, stream.codec_context.height, count


def assert_gop(found: list[int], gop: int) -> None:
    assert found[0] == 0
    assert max(np.diff([*found, FRAMES])) <= gop


@pytest.mark.parametrize("gop", [4, 10])
def test_reencode_puts_a_keyframe_every_gop_frames_at_the_source_size(tmp_path, gop):
    src = tmp_path / "src.mp4"
    write_clip(src, num_frames=FRAMES, size=(64, 48))
    assert keyframes(str(src)) == [0]  # x264's default: one keyframe in 40 frames
    reencode(src, tmp_path / "out.mp4", None, threads=1, gop=gop)
    assert_gop(keyframes(str(tmp_path / "out.mp4")), gop)
    assert size_and_frames(str(tmp_path / "out.mp4")) == (64, 48, FRAMES)


def test_prepare_gop_reencodes_records_and_refuses_another_gop(tmp_path, capsys):
    root = tmp_path / "mine"
    for name in ("Wave", "Clap"):
        for k in range(2):
            (root / name).mkdir(parents=True, exist_ok=True)
            write_clip(root / name / f"{name}_{k}.mp4", num_frames=FRAMES, size=(64, 48))
    out = tmp_path / "out"
    argv = ["folder", "--root", str(root), "--out", str(out), "--gop", "8", "--val-fraction", "0.5"]
    assert prepare.main(argv) == 0
    assert json.loads((out / "prep.json").read_text())["settings"]["--gop"] == 8
    listed = [line.split()[0] for line in (out / "train.csv").read_text().splitlines()]
    assert listed
    for relative in listed:
        path = str(out / "videos" / relative)
        assert_gop(keyframes(path), 8)
        assert size_and_frames(path) == (64, 48, FRAMES)
    capsys.readouterr()
    assert prepare.main([*argv[:-4], "--gop", "4", "--val-fraction", "0.5"]) == 2
    assert "--gop: 8 there, 4 now" in capsys.readouterr().err


def test_pack_gop_packs_the_reencoded_bytes(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for k in range(2):
        write_clip(videos / f"c{k}.mp4", num_frames=FRAMES, size=(48, 32))
    (tmp_path / "train.csv").write_text("videos/c0.mp4 0\nvideos/c1.mp4 0\n")
    argv = [str(tmp_path / "train.csv"), "--root", str(tmp_path), "--out", str(tmp_path / "p")]
    assert (
        pack.main([*argv, "--workers", "0", "--backend", "pyav", "--no-progress", "--gop", "6"])
        == 0
    )
    dataset = StreamingDataset(str(tmp_path / "p" / "train"), shuffle=False)
    for i in range(len(dataset)):
        data = decode_payload(dataset[i])
        assert_gop(keyframes(io.BytesIO(data)), 6)
        assert size_and_frames(io.BytesIO(data)) == (48, 32, FRAMES)


@pytest.mark.parametrize("command", ["prepare", "pack"])
def test_a_gop_below_one_is_a_usage_error(tmp_path, command):
    if command == "prepare":
        argv = ["folder", "--root", str(tmp_path), "--out", str(tmp_path / "o"), "--gop", "0"]
        parse = prepare.parse_args
    else:
        argv = [str(tmp_path / "train.csv"), "--out", str(tmp_path), "--gop", "0"]
        parse = pack.parse_args
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
