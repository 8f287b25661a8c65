"""`python -m videomae_ssl.prep.prepare` on small fake official layouts: annotation lines,
class files, missing-video reports, exit codes and re-encoding."""

import json
import re

import av
import pytest

from videomae_ssl.data.annotations import read_annotations
from videomae_ssl.prep.prepare import main
from videomae_ssl.prep.reencode import even_scaled_size

UCF_CLASSES = ["ApplyEyeMakeup", "Archery", "HandstandPushups"]
UCF_TRAIN = [
    ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 1),
    ("Archery/v_Archery_g08_c01.avi", 2),
    ("HandstandPushups/v_HandStandPushups_g08_c01.avi", 3),
    ("Archery/v_Archery_g09_c02.avi", 2),
]
UCF_TEST = [
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
    "HandstandPushups/v_HandStandPushups_g01_c01.avi",
    "Archery/v_Archery_g01_c03.avi",
]


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def lines(path):
    return path.read_text().splitlines()


def make_ucf(root, skip=(), split=1):
    """The official UCF101 layout (CRLF line ends, as released) with empty placeholder videos."""
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text(
        "".join(f"{i} {name}\r\n" for i, name in enumerate(UCF_CLASSES, start=1))
    )
    (lists / f"trainlist0{split}.txt").write_text(
        "".join(f"{path} {cid}\r\n" for path, cid in UCF_TRAIN)
    )
    (lists / f"testlist0{split}.txt").write_text("".join(f"{path}\r\n" for path in UCF_TEST))
    for path in [p for p, _ in UCF_TRAIN] + UCF_TEST:
        if path not in skip:
            touch(root / "UCF-101" / path)
    return root


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_ucf101_labels_are_zero_based_and_test_labels_come_from_folders(tmp_path, capsys):
    root = make_ucf(tmp_path / "ucf")
    out = tmp_path / "out"
    status, stdout, _ = run(capsys, "ucf101", "--root", root, "--out", out)
    assert status == 0
    assert lines(out / "train.csv") == [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 0",
        "Archery/v_Archery_g08_c01.avi 1",
        "HandstandPushups/v_HandStandPushups_g08_c01.avi 2",
        "Archery/v_Archery_g09_c02.avi 1",
    ]
    assert lines(out / "val.csv") == [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 0",
        "HandstandPushups/v_HandStandPushups_g01_c01.avi 2",
        "Archery/v_Archery_g01_c03.avi 1",
    ]
    assert (out / "test.csv").read_text() == (out / "val.csv").read_text()
    assert lines(out / "classes.txt") == UCF_CLASSES
    assert not list(out.glob("missing_*"))
    videos = (root / "UCF-101").resolve()
    assert f"data.train_list={(out / 'train.csv').resolve()}" in stdout
    assert f"data.val_list={(out / 'val.csv').resolve()}" in stdout
    assert f"data.root={videos}" in stdout
    assert "data.num_classes=3" in stdout
    # The files read back through the project's own parser, with every video found.
    records = read_annotations(out / "train.csv", videos, num_classes=3, check_files=True)
    assert [r.label for r in records] == [0, 1, 2, 1]


def test_ucf101_other_split_and_videos_folder(tmp_path, capsys):
    root = make_ucf(tmp_path / "ucf", split=2)
    (root / "UCF-101").rename(tmp_path / "elsewhere")
    out = tmp_path / "out"
    argv = ["ucf101", "--root", root, "--out", out, "--split", 2]
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert "pass --videos" in err
    status, stdout, _ = run(capsys, *argv, "--videos", tmp_path / "elsewhere")
    assert status == 0
    assert len(lines(out / "train.csv")) == len(UCF_TRAIN)
    assert f"data.root={(tmp_path / 'elsewhere').resolve()}" in stdout


def test_missing_videos_are_reported_listed_and_exit_1(tmp_path, capsys):
    gone_train = UCF_TRAIN[1][0]
    gone_val = UCF_TEST[2]
    root = make_ucf(tmp_path / "ucf", skip={gone_train, gone_val})
    out = tmp_path / "out"
    status, _, err = run(capsys, "ucf101", "--root", root, "--out", out)
    assert status == 1
    assert "1 of 4 train videos" in err and "1 of 3 val videos" in err
    assert gone_train not in (out / "train.csv").read_text()
    assert len(lines(out / "train.csv")) == 3
    assert gone_val not in (out / "val.csv").read_text()
    videos = (root / "UCF-101").resolve()
    trainlist = root / "ucfTrainTestlist" / "trainlist01.txt"
    assert lines(out / "missing_train.txt") == [f"{videos / gone_train}\t{trainlist}:2\tnot found"]
    testlist = root / "ucfTrainTestlist" / "testlist01.txt"
    assert lines(out / "missing_val.txt") == [f"{videos / gone_val}\t{testlist}:3\tnot found"]

    # Once the videos are there, a rerun succeeds and drops the stale reports.
    touch(videos / gone_train)
    touch(videos / gone_val)
    status, _, _ = run(capsys, "ucf101", "--root", root, "--out", out)
    assert status == 0
    assert not list(out.glob("missing_*"))


@pytest.mark.parametrize(
    "file_name, text, lineno, message",
    [
        ("trainlist01.txt", "Archery/v_Archery_g08_c01.avi 2\nArchery/v.avi\n", 2, "<id>"),
        ("trainlist01.txt", "Archery/v_Archery_g08_c01.avi 4\n", 1, "from 1 to 3"),
        ("trainlist01.txt", "Archery/v_Archery_g08_c01.avi 1\n", 1, "does not match"),
        ("testlist01.txt", "Archery/a.avi\nJuggling/b.avi\n", 2, "<Class>/<video>.avi"),
        ("classInd.txt", "1 ApplyEyeMakeup\nArchery\n", 2, "'<id> <ClassName>'"),
    ],
)
def test_ucf101_malformed_official_file_exits_2(tmp_path, capsys, file_name, text, lineno, message):
    root = make_ucf(tmp_path / "ucf")
    bad = root / "ucfTrainTestlist" / file_name
    bad.write_text(text)
    status, _, err = run(capsys, "ucf101", "--root", root, "--out", tmp_path / "out")
    assert status == 2
    assert err.startswith(f"error: {bad}:{lineno}: ")
    assert message in err
    assert "Traceback" not in err


def make_hmdb(root):
    """HMDB51 split files for three classes (one name with an underscore), placeholders."""
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    files = {
        "wave": "wave_a.avi 1 \nwave_b.avi 2 \nwave_c.avi 0 \n",
        "brush_hair": "brush_a.avi 2 \nbrush_b.avi 1 \n",
        "cartwheel": "cart_a.avi 1 \n",
    }
    for name, text in files.items():
        (splits / f"{name}_test_split1.txt").write_text(text)
        (splits / f"{name}_test_split2.txt").write_text("")
        for line in text.splitlines():
            touch(root / "videos" / name / line.split()[0])
    return root


def test_hmdb51_alphabetical_classes_and_flags(tmp_path, capsys):
    root = make_hmdb(tmp_path / "hmdb")
    out = tmp_path / "out"
    status, _, _ = run(capsys, "hmdb51", "--root", root, "--out", out)
    assert status == 0
    assert lines(out / "classes.txt") == ["brush_hair", "cartwheel", "wave"]
    assert lines(out / "train.csv") == [
        "brush_hair/brush_b.avi 0",
        "cartwheel/cart_a.avi 1",
        "wave/wave_a.avi 2",
    ]
    assert lines(out / "val.csv") == ["brush_hair/brush_a.avi 0", "wave/wave_b.avi 2"]
    assert lines(out / "test.csv") == lines(out / "val.csv")


def test_hmdb51_bad_flag_and_absent_split(tmp_path, capsys):
    root = make_hmdb(tmp_path / "hmdb")
    bad = root / "testTrainMulti_7030_splits" / "wave_test_split1.txt"
    bad.write_text("wave_a.avi 1\nwave_b.avi 3\n")
    status, _, err = run(capsys, "hmdb51", "--root", root, "--out", tmp_path / "out")
    assert status == 2
    assert err.startswith(f"error: {bad}:2: ")
    status, _, err = run(capsys, "hmdb51", "--root", root, "--out", tmp_path / "o", "--split", 3)
    assert status == 2
    assert "_test_split3.txt" in err


def make_ssv2(root):
    root.mkdir(parents=True)
    labels = {
        "Pushing something from left to right": "1",
        "Holding something": "0",
        "Putting something on a surface": "2",
    }
    (root / "labels.json").write_text(json.dumps(labels, indent=1))
    train = [
        {
            "id": "10",
            "label": "pushing a cup",
            "template": "Pushing [something] from left to right",
            "placeholders": ["a cup"],
        },
        {
            "id": "11",
            "label": "holding a pen",
            "template": "Holding [something]",
            "placeholders": ["a pen"],
        },
    ]
    val = [{"id": "20", "template": "Putting [something] on a surface", "placeholders": []}]
    (root / "train.json").write_text(json.dumps(train, indent=1))
    (root / "validation.json").write_text(json.dumps(val))
    for vid in ("10", "11", "20"):
        touch(root / "20bn-something-something-v2" / f"{vid}.webm")
    return root


def test_ssv2_templates_map_to_label_ids(tmp_path, capsys):
    root = make_ssv2(tmp_path / "ssv2")
    out = tmp_path / "out"
    status, _, _ = run(capsys, "ssv2", "--root", root, "--out", out)
    assert status == 0
    assert lines(out / "classes.txt") == [
        "Holding something",
        "Pushing something from left to right",
        "Putting something on a surface",
    ]
    assert lines(out / "train.csv") == ["10.webm 1", "11.webm 0"]
    assert lines(out / "val.csv") == ["20.webm 2"]
    assert lines(out / "test.csv") == ["20.webm 2"]


def test_ssv2_unknown_template_and_broken_json_exit_2(tmp_path, capsys):
    root = make_ssv2(tmp_path / "ssv2")
    bad = root / "validation.json"
    bad.write_text(
        json.dumps(
            [
                {"id": "20", "template": "Putting [something] on a surface"},
                {"id": "21", "template": "Dropping [something]"},
            ]
        )
    )
    status, _, err = run(capsys, "ssv2", "--root", root, "--out", tmp_path / "out")
    assert status == 2
    assert err.startswith(f"error: {bad}: entry 2 (id 21): ")
    assert "Dropping something" in err
    bad.write_text('[\n{"id": "20",\n')
    status, _, err = run(capsys, "ssv2", "--root", root, "--out", tmp_path / "out")
    assert status == 2
    assert re.match(rf"error: {re.escape(str(bad))}:\d+: not valid JSON", err)


KINETICS_HEADER = "label,youtube_id,time_start,time_end,split\n"


def make_kinetics(root):
    """Train videos in the nested downloader layout (spaces in labels as underscores), val
    videos flat; test.csv with labels; one val video missing."""
    ann = root / "annotations"
    ann.mkdir(parents=True)
    (ann / "train.csv").write_text(
        KINETICS_HEADER
        + "abseiling,aaa,14,24,train\n"
        + '"air drumming",bbb,0,10,train\n'
        + "zumba,ccc,305,315,train\n"
    )
    (ann / "val.csv").write_text(KINETICS_HEADER + "zumba,ddd,7,17,val\nabseiling,eee,1,11,val\n")
    (ann / "test.csv").write_text(KINETICS_HEADER + "air drumming,fff,3,13,test\n")
    videos = root / "videos"
    touch(videos / "train" / "abseiling" / "aaa_000014_000024.mp4")
    touch(videos / "train" / "air_drumming" / "bbb_000000_000010.mp4")
    touch(videos / "train" / "zumba" / "ccc_000305_000315.mp4")
    touch(videos / "ddd_000007_000017.mp4")
    touch(videos / "test" / "fff_000003_000013.mp4")
    return root


def test_kinetics_layouts_alphabetical_classes_and_test_split(tmp_path, capsys):
    root = make_kinetics(tmp_path / "k400")
    out = tmp_path / "out"
    status, _, err = run(capsys, "kinetics", "--root", root, "--out", out)
    assert status == 1  # eee is not on disk
    assert lines(out / "classes.txt") == ["abseiling", "air drumming", "zumba"]
    assert lines(out / "train.csv") == [
        "train/abseiling/aaa_000014_000024.mp4 0",
        "train/air_drumming/bbb_000000_000010.mp4 1",
        "train/zumba/ccc_000305_000315.mp4 2",
    ]
    assert lines(out / "val.csv") == ["ddd_000007_000017.mp4 2"]
    assert lines(out / "test.csv") == ["test/fff_000003_000013.mp4 1"]
    videos = (root / "videos").resolve()
    assert lines(out / "missing_val.txt") == [
        f"{videos / 'val/abseiling/eee_000001_000011.mp4'}\t{root / 'annotations/val.csv'}:3"
        "\tnot found"
    ]
    assert "1 of 2 val videos" in err


@pytest.mark.parametrize(
    "text, lineno, message",
    [
        ("zumba,ddd,7,17,val\nzumba,eee,x,11,val\n", 3, "whole seconds"),
        ("zumba,ddd,7,17,val\nsurfing,eee,1,11,val\n", 3, "'surfing' does not occur"),
        ("label,youtube_id,time_start\nzumba,ddd,7\n", 1, "header lacks time_end"),
    ],
)
def test_kinetics_malformed_csv_exits_2(tmp_path, capsys, text, lineno, message):
    root = make_kinetics(tmp_path / "k400")
    bad = root / "annotations" / "val.csv"
    bad.write_text(text if text.startswith("label") else KINETICS_HEADER + text)
    status, _, err = run(capsys, "kinetics", "--root", root, "--out", tmp_path / "out")
    assert status == 2
    assert err.startswith(f"error: {bad}:{lineno}: ")
    assert message in err


def test_scaled_size_sets_the_short_side_and_keeps_sizes_even():
    assert even_scaled_size(320, 240, 160) == (214, 160)  # 320 * 160 / 240 = 213.3 -> 214
    assert even_scaled_size(240, 320, 160) == (160, 214)
    assert even_scaled_size(1920, 1080, 320) == (568, 320)  # 568.9 rounds to the even 568
    assert even_scaled_size(100, 100, 64) == (64, 64)


def test_short_side_reencodes_points_lists_there_and_reports_failures(tmp_path, capsys, make_clip):
    root = tmp_path / "ucf"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Archery\n2 Bowling\n")
    (lists / "trainlist01.txt").write_text(
        "Archery/v_a.avi 1\nBowling/v_b.avi 2\nBowling/v_broken.avi 2\n"
    )
    (lists / "testlist01.txt").write_text("Archery/v_a.avi\n")
    videos = root / "UCF-101"
    (videos / "Archery").mkdir(parents=True)
    (videos / "Bowling").mkdir()
    make_clip(videos / "Archery" / "v_a.avi", num_frames=6, size=(64, 48), codec="mpeg4", fps=25)
    make_clip(videos / "Bowling" / "v_b.avi", num_frames=5, size=(48, 80), codec="mpeg4", fps=10)
    (videos / "Bowling" / "v_broken.avi").write_bytes(b"not a video at all")
    out = tmp_path / "out"
    argv = ["ucf101", "--root", root, "--out", out, "--short-side", 32, "--workers", 2]

    status, stdout, err = run(capsys, *argv)
    assert status == 1
    assert "v_broken.avi" in err
    assert lines(out / "train.csv") == ["Archery/v_a.mp4 0", "Bowling/v_b.mp4 1"]
    assert lines(out / "val.csv") == ["Archery/v_a.mp4 0"]
    missing = lines(out / "missing_train.txt")
    assert len(missing) == 1
    assert missing[0].startswith(f"{(videos / 'Bowling/v_broken.avi').resolve()}\t")
    assert "cannot re-encode" in missing[0]
    encoded = (out / "videos").resolve()
    assert f"data.root={encoded}" in stdout

    # Short side 32, aspect kept: 64x48 -> 42.7x32 -> 42x32; 48x80 -> 32x53.3 -> 32x54.
    expected = {"Archery/v_a.mp4": (42, 32, 6, 25), "Bowling/v_b.mp4": (32, 54, 5, 10)}
    for relative, (width, height, frames, fps) in expected.items():
        with av.open(str(encoded / relative)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert (stream.width, stream.height) == (width, height)
            assert stream.average_rate == fps
            assert sum(1 for _ in container.decode(stream)) == frames
    assert sorted(p.name for p in encoded.rglob("*")) == [
        "Archery",
        "Bowling",
        "v_a.mp4",
        "v_b.mp4",
    ]

    # A rerun keeps the finished files instead of encoding them again.
    before = {p: p.stat().st_mtime_ns for p in encoded.rglob("*.mp4")}
    status, _, _ = run(capsys, *argv[:-2])
    assert status == 1
    assert {p: p.stat().st_mtime_ns for p in encoded.rglob("*.mp4")} == before


@pytest.mark.parametrize("flag, value", [("--short-side", "31"), ("--workers", "0")])
def test_bad_options_are_usage_errors(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["ucf101", "--root", str(tmp_path), "--out", str(tmp_path / "o"), flag, value])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


def test_missing_root_is_a_clean_error(tmp_path, capsys):
    status, _, err = run(capsys, "kinetics", "--root", tmp_path / "nope", "--out", tmp_path / "o")
    assert status == 2
    assert err == f"error: --root {tmp_path / 'nope'}: no such folder\n"


def make_class_folders(root, counts, prefix=""):
    """`counts[name]` empty placeholder videos in `<root>/<prefix><name>/`, plus a note and a
    hidden file that are not videos."""
    for name, count in counts.items():
        for k in range(count):
            touch(root / prefix / name / f"{name.lower()}_{k:02d}.mp4")
        touch(root / prefix / name / "README.txt")
        touch(root / prefix / name / ".DS_Store")
    return root


def test_folder_holds_out_a_seeded_share_of_every_class(tmp_path, capsys):
    root = make_class_folders(tmp_path / "mine", {"Wave": 10, "Clap": 5, "Jump": 1})
    touch(root / "Clap" / "takes" / "clap_deep.MOV")  # nested, upper-case suffix: still a video
    status, out, _ = run(capsys, "folder", "--root", root, "--out", tmp_path / "a", "--seed", "3")
    assert status == 0
    assert lines(tmp_path / "a" / "classes.txt") == ["Clap", "Jump", "Wave"]
    train, val = (lines(tmp_path / "a" / f"{s}.csv") for s in ("train", "val"))
    assert lines(tmp_path / "a" / "test.csv") == val
    # 10 % of 10 Wave videos, at least one of the 6 Clap ones, none of the single Jump one.
    held = {c: sum(line.startswith(f"{c}/") for line in val) for c in ("Wave", "Clap", "Jump")}
    assert held == {"Wave": 1, "Clap": 1, "Jump": 0}
    listed = sorted(line.split()[0] for line in train + val)
    assert len(listed) == 17 and "Clap/takes/clap_deep.MOV" in listed
    assert not any(name.endswith((".txt", ".DS_Store")) for name in listed)
    for line in train + val:
        path, label = line.split()
        assert int(label) == ["Clap", "Jump", "Wave"].index(path.split("/")[0])
    assert "data.test_list=" in out and f"data.root={root.resolve()}" in out
    # The same seed draws the same videos; another seed other ones.
    run(capsys, "folder", "--root", root, "--out", tmp_path / "b", "--seed", "3")
    assert lines(tmp_path / "b" / "val.csv") == val
    run(
        capsys,
        "folder",
        "--root",
        root,
        "--out",
        tmp_path / "c",
        "--seed",
        "4",
        "--val-fraction",
        "0.5",
    )
    held = sum(line.startswith("Wave/") for line in lines(tmp_path / "c" / "val.csv"))
    assert held == 5


def test_folder_with_split_sub_folders_uses_them(tmp_path, capsys):
    root = tmp_path / "UCF101_subset"
    make_class_folders(root, {"Archery": 3, "Basketball": 2}, prefix="train")
    make_class_folders(root, {"Archery": 1, "Basketball": 1}, prefix="val")
    make_class_folders(root, {"Basketball": 2}, prefix="test")
    status, _, _ = run(capsys, "folder", "--root", root, "--out", tmp_path / "out")
    assert status == 0
    out = tmp_path / "out"
    assert lines(out / "classes.txt") == ["Archery", "Basketball"]
    assert lines(out / "val.csv") == [
        "val/Archery/archery_00.mp4 0",
        "val/Basketball/basketball_00.mp4 1",
    ]
    assert lines(out / "test.csv") == [
        "test/Basketball/basketball_00.mp4 1",
        "test/Basketball/basketball_01.mp4 1",
    ]
    assert len(lines(out / "train.csv")) == 5
    records = read_annotations(str(out / "train.csv"), root=str(root), num_classes=2)
    assert all(r.path.startswith(str(root)) for r in records)


def test_folder_mistakes_are_named(tmp_path, capsys):
    root = make_class_folders(tmp_path / "a", {"Archery": 2}, prefix="train")
    make_class_folders(root, {"Archery": 1, "Fencing": 1}, prefix="val")
    status, _, err = run(capsys, "folder", "--root", root, "--out", tmp_path / "out")
    assert status == 2 and "val/Fencing" in err and "no training videos" in err
    empty = tmp_path / "empty"
    (empty / "Archery").mkdir(parents=True)
    status, _, err = run(capsys, "folder", "--root", empty, "--out", tmp_path / "out")
    assert status == 2 and "no class sub-folder holds a video" in err
    with pytest.raises(SystemExit):
        main(["folder", "--root", str(root), "--out", str(tmp_path), "--val-fraction", "1.5"])
    assert "between 0 and 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "first, second",
    [
        ("Push Ups/a.mp4", "Push_Ups/a.mp4"),
        ("Jump/my clip.mp4", "Jump/my_clip.mp4"),
        ("Jump/clip.avi", "Jump/clip.mp4"),
    ],
)
def test_sources_reencoded_under_one_name_are_refused(tmp_path, capsys, first, second):
    # One of them would be lost, the other listed twice (in train and in val alike).
    root = tmp_path / "mine"
    for relative in (first, second, "Wave/w.mp4"):
        touch(root / relative)
    out = tmp_path / "out"
    status, _, err = run(capsys, "folder", "--root", root, "--out", out, "--short-side", 32)
    assert status == 2
    videos = root.resolve()
    assert err == (
        f"error: {videos / first} and {videos / second} would both be re-encoded as "
        f"{(out / 'videos').resolve() / second.replace('.avi', '.mp4')}; rename one of them\n"
    )
    assert not out.exists()  # nothing written, not even the settings


def test_a_rerun_continues_only_an_output_made_with_the_same_settings(tmp_path, capsys):
    root = make_class_folders(tmp_path / "mine", {"Wave": 10, "Clap": 5})
    out = tmp_path / "out"
    argv = ["folder", "--root", root, "--out", out, "--seed", 3]
    assert run(capsys, *argv)[0] == 0
    made = {name: (out / name).read_bytes() for name in ("train.csv", "val.csv", "classes.txt")}
    record = json.loads((out / "prep.json").read_text())["settings"]
    assert record["--seed"] == 3 and record["--root"] == str(root.resolve())
    assert run(capsys, *argv)[0] == 0  # the same settings: the same files
    assert {name: (out / name).read_bytes() for name in made} == made

    other = make_class_folders(tmp_path / "other", {"Wave": 4})
    for changed, named in (
        (["--seed", 4], "--seed: 3 there, 4 now"),
        (["--seed", 3, "--val-fraction", 0.5], "--val-fraction: 0.1 there, 0.5 now"),
        (["--seed", 3, "--short-side", 32], "--short-side: none there, 32 now"),
        (["--seed", 3, "--root", other], f"--root: {root.resolve()} there, {other.resolve()} now"),
    ):
        status, _, err = run(capsys, *argv[:5], *changed)
        assert status == 2
        assert err.startswith(f"error: --out {out}: was made with other settings ({named}, see ")
        assert len(err.splitlines()) == 1
        assert {name: (out / name).read_bytes() for name in made} == made
    assert not (out / "videos").exists()

    # Lists that no run of prepare recorded (the user's own) are not written over.
    mine = tmp_path / "my_lists"
    mine.mkdir()
    (mine / "train.csv").write_text("Wave/by_hand.mp4 0\n")
    status, _, err = run(capsys, "folder", "--root", root, "--out", mine)
    assert status == 2 and "prep.json is absent" in err
    assert lines(mine / "train.csv") == ["Wave/by_hand.mp4 0"]
