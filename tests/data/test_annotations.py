"""V1 annotation files: parsing, root joining, and errors that name file and line."""

import re

import pytest

from videomae_ssl.data.annotations import VideoRecord, read_annotations
from videomae_ssl.errors import DataError


def write(tmp_path, text, name="train.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_parses_lines_skips_blanks_and_joins_root(tmp_path):
    path = write(tmp_path, "a/x.mp4 0\n\n   \nb/y.webm 12\n/abs/z.mp4 3\n")
    records = read_annotations(path, root="/data/k400")
    assert records == [
        VideoRecord("/data/k400/a/x.mp4", 0),
        VideoRecord("/data/k400/b/y.webm", 12),
        VideoRecord("/abs/z.mp4", 3),
    ]


def test_without_root_paths_are_kept(tmp_path):
    path = write(tmp_path, "a/x.mp4 1\r\nb.mp4\t2")
    assert read_annotations(path) == [VideoRecord("a/x.mp4", 1), VideoRecord("b.mp4", 2)]


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("c.mp4", "expected '<path> <label>'"),
        ("my video.mp4 3", "paths may not contain spaces"),
        ("c.mp4 0 300", "V2 lists"),
        ("c.mp4 dog", "integer label"),
        ("c.mp4 1.5", "integer label"),
        ("c.mp4 -1", "0-based"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, bad_line, message):
    path = write(tmp_path, f"a.mp4 0\n\nb.mp4 1\n{bad_line}\nd.mp4 2\n")
    with pytest.raises(DataError, match=re.escape(f"{path}:4: ")) as err:
        read_annotations(path)
    assert message in str(err.value)
    assert bad_line in str(err.value)


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope" / "val.csv"
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_annotations(path)


def test_file_without_clips_is_an_error(tmp_path):
    path = write(tmp_path, "\n\n")
    with pytest.raises(DataError, match="lists no clips"):
        read_annotations(path)
