"""python -m videomae_ssl.extract: window count and shape, a window's feature against the
encoder run directly on that window, resuming after a killed run, broken videos named."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from clips import write_clip

from videomae_ssl import extract
from videomae_ssl.checkpoints import export_original
from videomae_ssl.data.windows import window_starts
from videomae_ssl.models import videomae_pretrain

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny pretraining model (4 frames, 32 px, patch 8) saved in the original layout."""
    torch.manual_seed(0)
    model = videomae_pretrain("tiny", img_size=32, patch_size=8, num_frames=4).eval()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    export_original(model, path)
    return path, model


def decode_all(path) -> np.ndarray:
    """Every frame of a video, RGB, with PyAV directly: (T, H, W, 3) uint8."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def direct_feature(model, frames: np.ndarray) -> torch.Tensor:
    """The encoder's pooled output on one window, computed as V2's script does, plus the
    ImageNet normalisation: [0, 1], bilinear resize to 32x32, mean and std."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255  # (T, 3, H, W)
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    x = ((x - MEAN) / STD).permute(1, 0, 2, 3)[None]  # (1, 3, T, 32, 32)
    with torch.no_grad():
        return model.encoder(x).mean(dim=1)[0]


def test_the_window_rule_is_v2s():
    # V2: range(0, T - 15, 4) for 16-frame windows.
    for frames in (16, 17, 19, 20, 100):
        assert window_starts(frames, 16, 4) == list(range(0, frames - 15, 4))
    assert window_starts(5, 16, 4) == [0]  # shorter than a window: one window, not none


def test_windows_shapes_and_a_window_equals_the_encoder_on_it(tmp_path, checkpoint):
    path, model = checkpoint
    video = tmp_path / "clip one.mp4"
    write_clip(video, num_frames=37, size=(64, 48))
    out = tmp_path / "out"
    status = extract.main(
        [
            str(path),
            str(video),
            "--out",
            str(out),
            "--stride",
            "3",
            "--batch",
            "5",
            "--workers",
            "0",
            "--backend",
            "pyav",
        ]
    )
    assert status == 0
    features = np.load(out / "clip one.npy")
    assert features.shape == ((37 - 4) // 3 + 1, 192) and features.dtype == np.float32
    frames = decode_all(video)
    for w in (0, 5, 11):  # the first, one across a batch boundary, the last
        want = direct_feature(model, frames[3 * w : 3 * w + 4])
        torch.testing.assert_close(torch.from_numpy(features[w]), want, rtol=1e-4, atol=1e-5)
    tokens_out = tmp_path / "tokens"
    extract.main(
        [
            str(path),
            str(video),
            "--out",
            str(tokens_out),
            "--pool",
            "tokens",
            "--workers",
            "0",
            "--backend",
            "pyav",
        ]
    )
    assert np.load(tokens_out / "clip one.npy").shape == ((37 - 4) // 4 + 1, 2 * 4 * 4, 192)


def test_a_short_video_gets_one_window_of_its_frames_and_the_last_repeated(tmp_path, checkpoint):
    path, model = checkpoint
    video = tmp_path / "short.mkv"
    write_clip(video, num_frames=3, size=(64, 48))
    extract.main(
        [str(path), str(video), "--out", str(tmp_path), "--workers", "0", "--backend", "pyav"]
    )
    frames = decode_all(video)
    want = direct_feature(model, frames[[0, 1, 2, 2]])
    torch.testing.assert_close(
        torch.from_numpy(np.load(tmp_path / "short.npy")[0]), want, rtol=1e-4, atol=1e-5
    )


def write_list(folder: Path, count: int, broken=()) -> Path:
    for k in range(count):
        if k in broken:
            (folder / f"v{k}.mp4").write_text("not a video")
        else:
            write_clip(folder / f"v{k}.mp4", num_frames=60, size=(64, 48))
    listing = folder / "list.csv"
    listing.write_text("".join(f"v{k}.mp4 0\n" for k in range(count)))
    return listing


def command(path, listing, out, *extra):
    return [
        sys.executable,
        "-m",
        "videomae_ssl.extract",
        str(path),
        str(listing),
        "--root",
        str(listing.parent),
        "--out",
        str(out),
        "--stride",
        "1",
        "--batch",
        "2",
        "--workers",
        "0",
        "--backend",
        "pyav",
        *extra,
    ]


def test_a_killed_run_leaves_no_partial_file_and_a_new_run_skips_finished_videos(
    tmp_path, checkpoint
):
    path, _ = checkpoint
    listing = write_list(tmp_path, 6)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        command(path, listing, out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*.npy"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    finished = sorted(p.name for p in out.glob("*.npy"))
    assert 2 <= len(finished) < 6, finished
    for name in finished:  # every file there is whole
        assert np.load(out / name).shape == (60 - 4 + 1, 192)
    mtimes = {name: (out / name).stat().st_mtime_ns for name in finished}
    again = subprocess.run(command(path, listing, out), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{len(finished)} already extracted, {6 - len(finished)} to go" in again.stdout
    expected = ["extract.json", *(f"v{k}.npy" for k in range(6))]  # and the settings' record
    assert sorted(p.name for p in out.iterdir()) == expected
    assert all((out / n).stat().st_mtime_ns == t for n, t in mtimes.items())  # not redone


def test_a_partial_file_of_a_stopped_run_is_removed(tmp_path, checkpoint, monkeypatch):
    path, _ = checkpoint
    listing = write_list(tmp_path, 1)
    out = tmp_path / "out"

    def dies_while_writing(file, array):
        file.write(b"\x93NUMPY half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(extract.np, "save", dies_while_writing)
    with pytest.raises(KeyboardInterrupt):
        extract.main(command(path, listing, out)[3:])
    assert not list(out.glob("*.npy")) and list(out.glob(".*.partial"))
    monkeypatch.undo()
    assert extract.main(command(path, listing, out)[3:]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["extract.json", "v0.npy"]


def test_a_broken_video_is_named_and_the_others_are_extracted(tmp_path, checkpoint, capsys):
    path, _ = checkpoint
    listing = write_list(tmp_path, 3, broken=(1,))
    out = tmp_path / "out"
    assert extract.main(command(path, listing, out)[3:]) == 1
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert line.startswith(f"failed: {tmp_path / 'v1.mp4'}: ")
    assert not line.startswith(f"failed: {tmp_path / 'v1.mp4'}: {tmp_path / 'v1.mp4'}"), line
    assert sorted(p.name for p in out.iterdir()) == ["extract.json", "v0.npy", "v2.npy"]


def test_bad_arguments_are_one_line_errors(tmp_path, checkpoint, capsys):
    path, _ = checkpoint
    assert extract.main([str(path), str(tmp_path / "none.mp4"), "--out", str(tmp_path)]) == 2
    assert "none.mp4: no such video or annotation file" in capsys.readouterr().err
    video = tmp_path / "a.mp4"
    write_clip(video, num_frames=8)
    assert extract.main([str(path), str(video), "--out", str(tmp_path), "--stride", "0"]) == 2
    assert "--stride 0: must be at least 1" in capsys.readouterr().err
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.mp4").write_bytes(video.read_bytes())
    (tmp_path / "two.csv").write_text("a.mp4 0\nx/a.mp4 0\n")
    assert (
        extract.main(
            [
                str(path),
                str(tmp_path / "two.csv"),
                "--root",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "would both be written as a.npy" in capsys.readouterr().err


def test_a_list_whose_byte_4096_splits_a_character_is_read_as_a_list(tmp_path):
    # The text probe reads 4096 bytes: here they end inside "é" (2 bytes in UTF-8), which a
    # plain decode of the probe refuses, and the list was taken for a video.
    lines = [f"videos/clip_{k:03d}.mp4 0\n" for k in range(180)]
    head = "".join(lines)
    while len(head.encode()) > extract.TEXT_PROBE_BYTES - 40:
        head = head[: head.rindex("videos/")]
    pad = extract.TEXT_PROBE_BYTES - 1 - len(head.encode()) - len("videos/")
    text = head + "videos/" + "a" * pad + "é.mp4 1\n" + "videos/last.mp4 0\n"
    data = text.encode()
    assert data[extract.TEXT_PROBE_BYTES - 1 : extract.TEXT_PROBE_BYTES + 1] == "é".encode()
    listing = tmp_path / "list.csv"
    listing.write_bytes(data)
    args = extract.parse_args(["ckpt", str(listing), "--out", str(tmp_path), "--root", "/r"])
    records = extract.read_input(args)
    assert len(records) == text.count("\n")
    assert records[-2].path.endswith("aé.mp4") and records[-2].label == 1
    # A video is still a video, and a file of bytes UTF-8 never has is not text.
    video = tmp_path / "a.mp4"
    write_clip(video, num_frames=4)
    args = extract.parse_args(["ckpt", str(video), "--out", str(tmp_path)])
    assert [r.path for r in extract.read_input(args)] == [str(video)]
    (tmp_path / "latin1.csv").write_bytes("vid\xe9o.mp4 0\n".encode("latin-1"))
    assert not extract._is_text(tmp_path / "latin1.csv")


def test_a_window_that_is_not_whole_tubelets_is_a_one_line_error(tmp_path, checkpoint, capsys):
    path, _ = checkpoint
    video = tmp_path / "a.mp4"
    write_clip(video, num_frames=8)
    status = extract.main(
        [
            str(path),
            str(video),
            "--out",
            str(tmp_path / "o"),
            "--window",
            "3",
            "--workers",
            "0",
            "--backend",
            "pyav",
        ]
    )
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --window 3: must be a multiple of the model's tubelet size 2")
    assert len(err.splitlines()) == 1 and not (tmp_path / "o").exists()


def test_an_output_made_with_other_settings_is_not_continued(tmp_path, checkpoint, capsys):
    path, _ = checkpoint
    listing = write_list(tmp_path, 2)
    out = tmp_path / "out"
    args = command(path, listing, out)[3:]
    assert extract.main([*args, "--stride", "3"]) == 0  # the later --stride wins
    made = {p.name: p.read_bytes() for p in out.glob("*.npy")}
    assert sorted(made) == ["v0.npy", "v1.npy"]
    (out / "v1.npy").unlink()
    capsys.readouterr()

    # Another stride, window or checkpoint: refused, naming it; the features stay as they were.
    torch.manual_seed(1)
    other = tmp_path / "other.pth"
    export_original(videomae_pretrain("tiny", img_size=32, patch_size=8, num_frames=4), other)
    for extra, named in (
        ((), "--stride: 3 there, 1 now"),
        (("--stride", "3", "--window", "2"), "--window: 4 there, 2 now"),
        (("--stride", "3", "--pool", "tokens"), "--pool: mean there, tokens now"),
    ):
        assert extract.main([*args, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --out {out}: was made with other settings ({named}")
        assert len(err.splitlines()) == 1
    assert extract.main([str(other), *args[1:], "--stride", "3"]) == 2
    err = capsys.readouterr().err
    assert f"(checkpoint: {path.resolve()} there, {other.resolve()} now" in err
    # A copy of the checkpoint is the same one; written over with other weights, another one.
    moved = tmp_path / "moved.pth"
    moved.write_bytes(path.read_bytes())
    assert extract.main([str(moved), *args[1:], "--stride", "3"]) == 0  # a copy is the same
    assert sorted(p.name for p in out.glob("*.npy")) == ["v0.npy", "v1.npy"]
    assert (out / "v0.npy").read_bytes() == made["v0.npy"]
    assert (out / "v1.npy").read_bytes() == made["v1.npy"]
    assert "1 already extracted, 1 to go" in capsys.readouterr().out
    moved.write_bytes(other.read_bytes())
    assert extract.main([str(moved), *args[1:], "--stride", "3"]) == 2
    assert f"(checkpoint: {path.resolve()} there, {moved.resolve()} now" in capsys.readouterr().err

    # Features that no run recorded (an older version's, or the user's own): not taken over.
    (out / "extract.json").unlink()
    assert extract.main([*args, "--stride", "3"]) == 2
    assert "extract.json is absent" in capsys.readouterr().err


def test_a_list_of_paths_needs_no_labels_and_errors_name_the_flag(tmp_path):
    """Extraction reads no labels: a list of one path per line is a list (it needed a label
    column); an empty INPUT says so (it was "cannot open video"); a malformed annotation line
    names --format, the flag the user has (it named data.annotation_format)."""
    from videomae_ssl.errors import DataError

    listing = tmp_path / "videos.txt"
    listing.write_text("\ufeffa.mp4\n\n/abs/b.mp4\ncd/e.mp4\n")
    args = extract.parse_args(["ckpt", str(listing), "--out", str(tmp_path), "--root", "/r"])
    assert [r.path for r in extract.read_input(args)] == ["/r/a.mp4", "/abs/b.mp4", "/r/cd/e.mp4"]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.csv: is empty; give a video, or a list"):
        extract.read_input(extract.parse_args(["ckpt", str(empty), "--out", str(tmp_path)]))
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("a.mp4 0\nb.mp4 3 1\n")
    with pytest.raises(DataError, match=r"mixed\.csv:2: expected '<path> <label>' \(--format=v1\)"):
        extract.read_input(extract.parse_args(["ckpt", str(mixed), "--out", str(tmp_path)]))
