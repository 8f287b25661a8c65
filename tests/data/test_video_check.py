"""The one decode check: what it reports, and that the dataset scan and the evaluation check
before a run both judge videos with it."""

from functools import partial

import pytest
from conftest import pretrain_module

from videomae_ssl.data import video_check
from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.readers import open_record
from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.prep.scan import scan

OPEN = partial(open_record, backend="pyav")


@pytest.fixture(scope="module")
def videos(tmp_path_factory, make_clip):
    root = tmp_path_factory.mktemp("probe")
    make_clip(root / "good.mp4", num_frames=12, size=(48, 32))
    (root / "empty.mp4").write_bytes(b"")
    (root / "big.mp4").write_bytes(b"<html>404 Not Found</html>\n" * 1000)
    return root


def data_module(root, tmp_path, val_names):
    (tmp_path / "train.csv").write_text("good.mp4 0\n")
    (tmp_path / "val.csv").write_text("".join(f"{name} 0\n" for name in val_names))
    return pretrain_module(
        tmp_path / "train.csv",
        root,
        tmp_path / "val.csv",
        mask_ratio=0.75,
        patch_size=8,
        batch_size=1,
    )


def test_a_good_video(videos):
    check = video_check.check_decodes(VideoRecord(str(videos / "good.mp4")), OPEN)
    assert check == video_check.DecodeCheck("", frames=12, width=48, height=32)
    check = video_check.check_decodes(
        VideoRecord(str(videos / "good.mp4")), OPEN, lambda n: [n - 1]
    )
    assert not check.error


def test_size_is_a_hint_only_beside_a_failure_of_a_small_file(videos):
    empty = video_check.check_decodes(VideoRecord(str(videos / "empty.mp4")), OPEN)
    assert empty.frames is None
    assert empty.error.startswith("cannot open video")
    assert empty.error.endswith("(the file is only 0 bytes)")
    big = video_check.check_decodes(VideoRecord(str(videos / "big.mp4")), OPEN)
    assert big.error and "bytes" not in big.error
    assert str(videos) not in big.error  # the path is the caller's to add


def test_a_bad_setting_is_raised_not_reported(tmp_path):
    record = VideoRecord(str(tmp_path), num_frames=4, start=1)
    opener = partial(open_record, backend="pyav", frame_template="img_{}_{}.jpg")
    with pytest.raises(ConfigError, match="frame_template"):
        video_check.check_decodes(record, opener)


def test_scan_and_the_evaluation_check_share_one_probe(videos, tmp_path, monkeypatch):
    """Replacing `video_check.check_decodes` changes the verdict of both."""
    seen = []

    def flag_everything(record, opener, frames=video_check.first_and_last):
        seen.append(record.path)
        return video_check.DecodeCheck("flagged by the one probe")

    monkeypatch.setattr(video_check, "check_decodes", flag_everything)
    good = str(videos / "good.mp4")

    [result] = scan([(1, VideoRecord(good))], backend="pyav", workers=0)
    assert (result.status, result.reason) == ("unreadable", "flagged by the one probe")

    dm = data_module(videos, tmp_path, ["good.mp4"])
    with pytest.raises(DataError, match="good.mp4: flagged by the one probe"):
        dm.validate_inputs()
    assert seen == [good, good]


def test_evaluation_check_gives_the_size_hint(videos, tmp_path):
    dm = data_module(videos, tmp_path, ["good.mp4", "empty.mp4"])
    with pytest.raises(DataError, match=r"empty\.mp4: .*\(the file is only 0 bytes\)"):
        dm.validate_inputs()
