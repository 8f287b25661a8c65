"""Annotation files in the v1, v2 and frames formats: parsing, root joining, label bounds, file
checks, and errors that name file and line."""

import re

import pytest

from videomae_ssl.data.annotations import ANNOTATION_FORMATS, VideoRecord, read_annotations
from videomae_ssl.errors import ConfigError, DataError


def write(tmp_path, text, name="train.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_v1_parses_lines_skips_blanks_and_joins_root(tmp_path):
    path = write(tmp_path, "a/x.mp4 0\n\n   \nb/y.webm 12\n/abs/z.mp4 3\n")
    records = read_annotations(path, root="/data/k400")
    assert records == [
        VideoRecord("/data/k400/a/x.mp4", 0),
        VideoRecord("/data/k400/b/y.webm", 12),
        VideoRecord("/abs/z.mp4", 3),
    ]
    assert not any(r.is_frames for r in records)


def test_v1_without_root_paths_are_kept(tmp_path):
    path = write(tmp_path, "a/x.mp4 1\r\nb.mp4\t2")
    assert read_annotations(path) == [VideoRecord("a/x.mp4", 1), VideoRecord("b.mp4", 2)]


def test_v2_video_files_and_frame_folders(tmp_path):
    path = write(tmp_path, "k400/a.mp4 0 -1\nssv2/123 1 48\n/abs/f 0 7\n")
    records = read_annotations(path, root="/data", format="v2")
    assert records == [
        VideoRecord("/data/k400/a.mp4", label=-1),
        VideoRecord("/data/ssv2/123", label=-1, start=1, num_frames=48),
        VideoRecord("/abs/f", label=-1, start=0, num_frames=7),
    ]
    assert [r.is_frames for r in records] == [False, True, True]


def test_frames_format_numbers_frames_from_one(tmp_path):
    path = write(tmp_path, "ssv2/123 48 17\n\nssv2/9 30 0\n")
    records = read_annotations(path, root="/data", format="frames", num_classes=174)
    assert records == [
        VideoRecord("/data/ssv2/123", label=17, start=1, num_frames=48),
        VideoRecord("/data/ssv2/9", label=0, start=1, num_frames=30),
    ]
    assert all(r.is_frames for r in records)


def test_formats_name_their_columns():
    assert ANNOTATION_FORMATS == {
        "v1": "<path> <label>",
        "v2": "<path> <start_idx> <total_frames>",
        "frames": "<dir> <total_frames> <label>",
    }


@pytest.mark.parametrize(
    "format, bad_line, message",
    [
        ("v1", "c.mp4", "expected '<path> <label>'"),
        ("v1", "my video.mp4 3", "paths may not contain spaces"),
        ("v1", "c.mp4 0 300", "is this a V2 or frames list? set data.annotation_format"),
        ("v1", "c.mp4 dog", "integer label"),
        ("v1", "c.mp4 1.5", "integer label"),
        ("v1", "c.mp4 -1", "0-based"),
        ("v2", "c.mp4 -1", "is this a V1 list? set data.annotation_format=v1"),
        ("v2", "c.mp4 0 -1 5", "paths may not contain spaces"),
        ("v2", "c.mp4 x -1", "integer start_idx"),
        ("v2", "c.mp4 0 many", "integer total_frames"),
        ("v2", "c 0 0", "total_frames must be -1"),
        ("v2", "c 0 -2", "total_frames must be -1"),
        ("v2", "c -1 10", "start_idx must be 0 or more"),
        ("frames", "c 30", "is this a V1 list?"),
        ("frames", "c 30 x", "integer label"),
        ("frames", "c 0 3", "positive frame count"),
        ("frames", "c -1 3", "positive frame count"),
        ("frames", "c 30 -1", "0-based"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, format, bad_line, message):
    good = {"v1": "a.mp4 0", "v2": "a.mp4 0 -1", "frames": "a 10 0"}[format]
    path = write(tmp_path, f"{good}\n\n{good}\n{bad_line}\n{good}\n")
    with pytest.raises(DataError, match=re.escape(f"{path}:4: ")) as err:
        read_annotations(path, format=format)
    assert message in str(err.value)
    assert bad_line in str(err.value)


@pytest.mark.parametrize("format, line", [("v1", "b.mp4 10"), ("frames", "b 30 10")])
def test_label_at_or_above_num_classes_is_an_error(tmp_path, format, line):
    good = {"v1": "a.mp4 9", "frames": "a 30 9"}[format]
    path = write(tmp_path, f"{good}\n{line}\n")
    assert len(read_annotations(path, format=format, num_classes=11)) == 2
    with pytest.raises(DataError, match=re.escape(f"{path}:2: ")) as err:
        read_annotations(path, format=format, num_classes=10)
    assert "num_classes=10" in str(err.value)
    assert "data.num_classes" in str(err.value)


def test_v2_lists_have_no_labels_to_bound(tmp_path):
    path = write(tmp_path, "a.mp4 0 -1\n")
    assert read_annotations(path, format="v2", num_classes=1) == [VideoRecord("a.mp4")]


def test_unknown_format_is_a_config_error(tmp_path):
    path = write(tmp_path, "a.mp4 0\n")
    with pytest.raises(ConfigError) as err:
        read_annotations(path, format="csv")
    for word in ("data.annotation_format", "'csv'", "v1", "v2", "frames"):
        assert word in str(err.value)


def test_check_files_lists_missing_videos_and_folders(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "here.mp4").write_bytes(b"")
    (tmp_path / "videos" / "frames_here").mkdir()
    path = write(
        tmp_path,
        "here.mp4 0 -1\ngone1.mp4 0 -1\nframes_here 1 8\n\nframes_gone 1 8\nhere.mp4 0 -1\n",
    )
    root = tmp_path / "videos"
    assert len(read_annotations(path, root, format="v2")) == 5  # not checked by default
    with pytest.raises(DataError) as err:
        read_annotations(path, root, format="v2", check_files=True)
    message = str(err.value)
    assert str(path) in message
    assert "2 of 5" in message
    assert f"line 2: {root / 'gone1.mp4'}" in message
    assert f"line 5: {root / 'frames_gone'}" in message
    assert "line 1:" not in message and "line 3:" not in message


def test_check_files_says_how_many_more(tmp_path):
    path = write(tmp_path, "".join(f"v{i}.mp4 0\n" for i in range(5)))
    with pytest.raises(DataError) as err:
        read_annotations(path, tmp_path, check_files=True)
    assert "5 of 5" in str(err.value)
    assert "line 3:" in str(err.value)
    assert "line 4:" not in str(err.value)
    assert "and 2 more" in str(err.value)


def test_check_files_passes_when_all_exist(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    path = write(tmp_path, "a.mp4 3\n", name="list.txt")
    assert read_annotations(path, tmp_path, check_files=True) == [
        VideoRecord(str(tmp_path / "a.mp4"), 3)
    ]


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope" / "val.csv"
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_annotations(path)


def test_file_without_clips_is_an_error(tmp_path):
    path = write(tmp_path, "\n\n")
    with pytest.raises(DataError, match="lists no clips"):
        read_annotations(path, format="frames")


def test_read_class_names_ignores_trailing_blank_lines_and_names_a_missing_file(tmp_path):
    from videomae_ssl.data.annotations import read_class_names

    path = tmp_path / "classes.txt"
    path.write_text("archery\n  bowling \nsurfing\n\n\n")
    assert read_class_names(path, "data.class_names") == ["archery", "bowling", "surfing"]
    with pytest.raises(DataError, match=r"--labels=.*nope\.txt: no such file"):
        read_class_names(tmp_path / "nope.txt", "--labels")


def test_a_blank_line_between_class_names_is_an_error_naming_the_line(tmp_path):
    """Line i names class i - 1: skipping a blank line would give every later class the name of
    the next one."""
    from videomae_ssl.data.annotations import read_class_names

    path = tmp_path / "classes.txt"
    path.write_text("archery\n\nbowling\nsurfing\n")
    with pytest.raises(DataError, match=re.escape(f"{path}:2: blank line between class names")):
        read_class_names(path, "data.class_names")


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path):
    """Files saved "UTF-8 with BOM" (some Windows editors): the first video keeps its name."""
    from videomae_ssl.data.annotations import read_class_names

    path = tmp_path / "train.csv"
    path.write_bytes("\ufeffa.mp4 0\nb.mp4 1\n".encode())
    assert [r.path for r in read_annotations(path, root="/v")] == ["/v/a.mp4", "/v/b.mp4"]
    names = tmp_path / "classes.txt"
    names.write_bytes("\ufeffarchery\nbowling\n".encode())
    assert read_class_names(names, "data.class_names") == ["archery", "bowling"]


@pytest.mark.parametrize(
    ("format", "first", "second"),
    [
        ("v1", "a.mp4 0", "a.mp4 3"),
        ("frames", "a 16 0", "a 16 3"),
    ],
)
def test_a_video_listed_with_two_labels_is_an_error_naming_both_lines(
    tmp_path, format, first, second
):
    path = write(
        tmp_path,
        f"{first}\nb.mp4 1\n{second}\n".replace(
            "b.mp4 1", "b 16 1" if format == "frames" else "b.mp4 1"
        ),
    )
    with pytest.raises(
        DataError, match=re.escape(f"{path}:3: a") + r".* label 3, but line 1 gives it label 0"
    ):
        read_annotations(path, format=format)
    # Listed twice with the same label (oversampling it) stays allowed.
    same = write(tmp_path, f"{first}\n{first}\n", name="same.csv")
    assert len(read_annotations(same, format=format)) == 2
