"""Turn an official dataset layout into V1 annotation files.

    python -m videomae_ssl.prep.prepare {ucf101,hmdb51,ssv2,kinetics} --root DIR --out DIR
        [--videos DIR] [--split N] [--short-side PX] [--gop N] [--workers N]
    python -m videomae_ssl.prep.prepare folder --root DIR --out DIR [--val-fraction 0.1]
        [--seed 0] [--short-side PX] [--gop N] [--workers N]

Layouts read from `--root` (videos from `--videos`, which defaults to the folder named last):
- ucf101: `ucfTrainTestlist/classInd.txt` (`<id> <Name>`, ids from 1), `trainlist0N.txt`
  (`<Class>/<video>.avi <id>`), `testlist0N.txt` (`<Class>/<video>.avi`, class from the
  folder); videos in `UCF-101/`.
- hmdb51: `testTrainMulti_7030_splits/<class>_test_split{N}.txt` (`<video>.avi <flag>`, flag 1
  train, 2 test, 0 unused); videos in `videos/<class>/`. Class ids in alphabetical order.
- ssv2: `labels.json` (`{"template": "id"}`), `train.json` and `validation.json` (entries with
  `id` and `template`, whose `[` `]` are dropped before the lookup, as the official tooling
  does); videos `20bn-something-something-v2/<id>.webm`.
- kinetics: `annotations/{train,val,test}.csv` (`label,youtube_id,time_start,time_end,...`;
  test.csv optional, used when it carries labels); videos in `videos/`, as
  `<split>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4` (a label's spaces may be
  underscores), `<split>/<name>` or flat `<name>`. Class ids in alphabetical order.
- folder: your own videos, one sub-folder per class (`<class>/<video>`, any depth below the
  class folder), or that layout inside `train/`, `val/` and `test/` (the layout of Hugging
  Face's video-classification tutorial). Without `val/`, a seeded `--val-fraction` of each
  class's training videos (at least one of every class with two or more) becomes val. Class
  ids in alphabetical order of the class folders. Every file is taken as a video except hidden
  ones and those with a text, image or subtitle suffix.

Writes into `--out`: `train.csv`, `val.csv`, `test.csv` (the dataset's labelled test list, else
a copy of val.csv, as VideoMAE does) and `classes.txt` (line i names label i). Listed videos
that are not on disk, or that fail to re-encode, are left out of the annotation files and
written to `missing_<split>.txt` (tab separated: expected path, where it was listed, reason);
the exit status is then 1. A malformed official file stops with `error: <file>:<line>: ...`
(`<file>: entry <i>` for JSON) and exit status 2.

`--short-side PX` re-encodes every listed video (H.264, yuv420p, crf 23, same frame rate, no
audio, short side PX) into `<out>/videos/<path with .mp4 suffix, whitespace as _>`, and the
annotation files then point there; two videos that would get one name ("a b.mp4" and
"a_b.mp4", "a.avi" and "a.mp4") stop the command, naming both. Each file is written under a
temporary name and renamed when complete, so a rerun skips the finished ones. `--gop N`
re-encodes the same way with a keyframe at least every N frames (alone: at the source's size):
a clip then decodes at most N - 1 frames before its first instead of up to 249 (x264's
default interval), for larger files.

The settings (dataset, --root, --videos, --split, --short-side, --gop, --val-fraction, --seed) are
recorded in `<out>/prep.json`. A rerun with the same ones continues or rewrites the same
files; one with other settings, or into an --out that holds lists no run recorded, stops with
`error:` naming the setting, and writes nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from videomae_ssl.errors import DataError, UserInputError
from videomae_ssl.output_settings import check_settings, record_settings
from videomae_ssl.prep.reencode import reencode_all

DATASETS = ("ucf101", "hmdb51", "ssv2", "kinetics", "folder")
DEFAULT_VIDEOS = {
    "ucf101": "UCF-101",
    "hmdb51": "videos",
    "ssv2": "20bn-something-something-v2",
    "kinetics": "videos",
    "folder": ".",
}
SPLIT_FOLDERS = ("train", "val", "test")
# In --out: the settings its files were made with, and the files a run writes there.
SETTINGS_RECORD = "prep.json"
OUTPUT_FILES = ("train.csv", "val.csv", "test.csv", "classes.txt")
# Files in a class folder that are not videos: notes, labels, thumbnails and subtitles.
NOT_VIDEO = {
    ".txt",
    ".md",
    ".csv",
    ".tsv",
    ".json",
    ".yaml",
    ".yml",
    ".xml",
    ".html",
    ".pdf",
    ".jpg",
    ".jpeg",
    ".png",
    ".gif",
    ".bmp",
    ".webp",
    ".srt",
    ".vtt",
    ".ass",
    ".nfo",
    ".db",
}


@dataclass(frozen=True)
class Entry:
    """One listed video: its path relative to the videos folder (forward slashes), its
    0-based label and where the official file lists it (`file:line`, for reports)."""

    relative: str
    label: int
    source: str


@dataclass(frozen=True)
class Listing:
    """A dataset as its official files describe it: class names in label order and the
    entries of each split ("train", "val" and, where the dataset labels one, "test")."""

    classes: list[str]
    splits: dict[str, list[Entry]]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, stripped text) of each non-blank line of an official text file."""
    if not path.is_file():
        raise DataError(f"{path}: no such file; check --root")
    text = path.read_text(encoding="utf-8", errors="replace")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield lineno, line.strip()


def read_ucf101(root: Path, videos: Path, split: int) -> Listing:
    """UCF101 from `ucfTrainTestlist/`: class ids from classInd.txt become 0-based labels."""
    lists = root / "ucfTrainTestlist"
    class_ind = lists / "classInd.txt"
    names: dict[int, str] = {}
    for lineno, line in _lines(class_ind):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"{class_ind}:{lineno}: expected '<id> <ClassName>', got {line!r}")
        names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise DataError(f"{class_ind}: class ids must run from 1 to {len(names)} without gaps")
    classes = [names[i] for i in range(1, len(names) + 1)]
    by_folder = {name.lower(): label for label, name in enumerate(classes)}

    def folder_label(relative: str, where: str, line: str) -> int:
        folder = relative.split("/")[0].lower()
        if "/" not in relative or folder not in by_folder:
            raise DataError(
                f"{where}: expected '<Class>/<video>.avi' with a class from {class_ind}, "
                f"got {line!r}"
            )
        return by_folder[folder]

    train = []
    trainlist = lists / f"trainlist0{split}.txt"
    for lineno, line in _lines(trainlist):
        where = f"{trainlist}:{lineno}"
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) not in names:
            raise DataError(
                f"{where}: expected '<Class>/<video>.avi <id>' with an id from 1 to "
                f"{len(classes)}, got {line!r}"
            )
        label = int(parts[1]) - 1
        if folder_label(parts[0], where, line) != label:
            raise DataError(
                f"{where}: folder {parts[0].split('/')[0]!r} does not match class id "
                f"{parts[1]} ({classes[label]}) in {class_ind}"
            )
        train.append(Entry(parts[0], label, where))
    val = []
    testlist = lists / f"testlist0{split}.txt"
    for lineno, line in _lines(testlist):
        where = f"{testlist}:{lineno}"
        relative = line.split()[0]
        val.append(Entry(relative, folder_label(relative, where, line), where))
    return Listing(classes, {"train": train, "val": val})


def read_hmdb51(root: Path, videos: Path, split: int) -> Listing:
    """HMDB51 from `testTrainMulti_7030_splits/`: flag 1 = train, 2 = test (our val)."""
    split_dir = root / "testTrainMulti_7030_splits"
    suffix = f"_test_split{split}.txt"
    files = sorted(split_dir.glob(f"*{suffix}")) if split_dir.is_dir() else []
    if not files:
        raise DataError(f"{split_dir}: no '<class>{suffix}' files; check --root and --split")
    classes = sorted(f.name[: -len(suffix)] for f in files)
    splits: dict[str, list[Entry]] = {"train": [], "val": []}
    for label, name in enumerate(classes):
        path = split_dir / f"{name}{suffix}"
        for lineno, line in _lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DataError(
                    f"{path}:{lineno}: expected '<video>.avi <flag>' with flag 0 (unused), "
                    f"1 (train) or 2 (test), got {line!r}"
                )
            if parts[1] != "0":
                split_name = "train" if parts[1] == "1" else "val"
                splits[split_name].append(Entry(f"{name}/{parts[0]}", label, f"{path}:{lineno}"))
    return Listing(classes, splits)


def _load_json(path: Path) -> object:
    if not path.is_file():
        raise DataError(f"{path}: no such file; check --root")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None


def read_ssv2(root: Path, videos: Path, split: int) -> Listing:
    """Something-Something V2: templates (brackets dropped) map to the ids of labels.json."""
    labels_path = root / "labels.json"
    labels = _load_json(labels_path)
    if not isinstance(labels, dict):
        raise DataError(f"{labels_path}: expected an object {{template: id}}")
    by_template: dict[str, int] = {}
    for template, value in labels.items():
        if not str(value).isdigit():
            raise DataError(f"{labels_path}: template {template!r} has id {value!r}, not a number")
        by_template[template] = int(value)
    if sorted(by_template.values()) != list(range(len(by_template))):
        raise DataError(f"{labels_path}: ids must run from 0 to {len(by_template) - 1}")
    classes = sorted(by_template, key=by_template.__getitem__)

    splits = {}
    for split_name, file_name in (("train", "train.json"), ("val", "validation.json")):
        path = root / file_name
        items = _load_json(path)
        if not isinstance(items, list):
            raise DataError(f"{path}: expected a list of {{'id': ..., 'template': ...}}")
        entries = []
        for i, item in enumerate(items, start=1):
            where = f"{path}: entry {i}"
            if not isinstance(item, dict) or "id" not in item or "template" not in item:
                raise DataError(f"{where}: expected an object with 'id' and 'template'")
            template = str(item["template"]).replace("[", "").replace("]", "")
            if template not in by_template:
                raise DataError(
                    f"{where} (id {item['id']}): template {template!r} is not in {labels_path}"
                )
            entries.append(Entry(f"{item['id']}.webm", by_template[template], where))
        splits[split_name] = entries
    return Listing(classes, splits)


KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def _kinetics_rows(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(file:line, row) of a Kinetics CSV, after checking its header."""
    if not path.is_file():
        raise DataError(f"{path}: no such file; check --root")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        absent = [c for c in KINETICS_COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise DataError(
                f"{path}:1: header lacks {', '.join(absent)}; expected "
                f"'label,youtube_id,time_start,time_end,split'"
            )
        for row in reader:
            yield f"{path}:{reader.line_num}", row


def _kinetics_name(row: dict[str, str], where: str) -> str:
    """`<youtube_id>_<time_start:06d>_<time_end:06d>.mp4`, as the common downloaders name it."""
    try:
        start, end = int(row["time_start"]), int(row["time_end"])
    except (TypeError, ValueError):
        raise DataError(
            f"{where}: time_start and time_end must be whole seconds, got "
            f"{row['time_start']!r} and {row['time_end']!r}"
        ) from None
    if not row["youtube_id"]:
        raise DataError(f"{where}: empty youtube_id")
    return f"{row['youtube_id']}_{start:06d}_{end:06d}.mp4"


def read_kinetics(root: Path, videos: Path, split: int) -> Listing:
    """Kinetics from `annotations/*.csv`; each entry points at the first layout found on disk."""
    ann = root / "annotations"
    rows = {name: list(_kinetics_rows(ann / f"{name}.csv")) for name in ("train", "val")}
    test_csv = ann / "test.csv"
    if test_csv.is_file():
        with test_csv.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
        if "label" in header:  # Kinetics-700's test list carries no labels
            rows["test"] = list(_kinetics_rows(test_csv))
    classes = sorted({row["label"] for _, row in rows["train"]})
    by_name = {name: label for label, name in enumerate(classes)}
    splits = {}
    for split_name, split_rows in rows.items():
        entries = []
        for where, row in split_rows:
            if row["label"] not in by_name:
                raise DataError(f"{where}: label {row['label']!r} does not occur in train.csv")
            name = _kinetics_name(row, where)
            candidates = [
                f"{split_name}/{row['label'].replace(' ', '_')}/{name}",
                f"{split_name}/{row['label']}/{name}",
                f"{split_name}/{name}",
                name,
            ]
            found = next((c for c in candidates if (videos / c).is_file()), candidates[0])
            entries.append(Entry(found, by_name[row["label"]], where))
        splits[split_name] = entries
    return Listing(classes, splits)


def _class_videos(folder: Path) -> dict[str, list[str]]:
    """`folder`'s class sub-folders -> their video files, relative to `folder`, sorted."""
    found: dict[str, list[str]] = {}
    for class_dir in sorted(
        p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
    ):
        files = [
            p.relative_to(folder).as_posix()
            for p in sorted(class_dir.rglob("*"))
            if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(class_dir).parts)
            and p.suffix.lower() not in NOT_VIDEO
        ]
        found[class_dir.name] = files
    return found


def read_folder(root: Path, videos: Path, val_fraction: float = 0.1, seed: int = 0) -> Listing:
    """One sub-folder per class, optionally inside train/ val/ test/ (see the module doc)."""
    split_dirs = {name: videos / name for name in SPLIT_FOLDERS if (videos / name).is_dir()}
    if split_dirs and "train" not in split_dirs:
        raise DataError(f"{videos}: has {', '.join(sorted(split_dirs))}/ but no train/ folder")
    per_split = {
        name: {c: [f"{name}/{r}" for r in rel] for c, rel in _class_videos(d).items()}
        for name, d in split_dirs.items()
    } or {"train": _class_videos(videos)}
    classes = sorted(c for c, files in per_split["train"].items() if files)
    if not classes:
        raise DataError(f"{split_dirs.get('train', videos)}: no class sub-folder holds a video")
    for name, by_class in per_split.items():
        stray = sorted(c for c, files in by_class.items() if files and c not in classes)
        if stray:
            raise DataError(
                f"{videos / name}/{stray[0]}: class {stray[0]!r} has no training videos "
                f"(train/{stray[0]}/ is missing or empty)"
            )
    label = {c: i for i, c in enumerate(classes)}
    where = "class folder"
    splits = {
        name: [Entry(r, label[c], where) for c in classes for r in by_class.get(c, [])]
        for name, by_class in per_split.items()
    }
    if "val" not in splits:
        rng = random.Random(seed)
        train, val = [], []
        for c in classes:
            files = list(per_split["train"][c])
            rng.shuffle(files)
            count = round(len(files) * val_fraction)
            if len(files) >= 2:
                count = min(max(count, 1), len(files) - 1)
            val += [Entry(r, label[c], where) for r in sorted(files[:count])]
            train += [Entry(r, label[c], where) for r in sorted(files[count:])]
        splits["train"], splits["val"] = train, val
    return Listing(classes, splits)


READERS: dict[str, Callable[[Path, Path, int], Listing]] = {
    "ucf101": read_ucf101,
    "hmdb51": read_hmdb51,
    "ssv2": read_ssv2,
    "kinetics": read_kinetics,
}


def _output_name(relative: str) -> str:
    """Where a re-encoded video goes under `<out>/videos`: .mp4 suffix, no whitespace."""
    return "_".join(str(Path(relative).with_suffix(".mp4")).split())


Missing = dict[str, list[tuple[Entry, str]]]  # split -> (entry, why it is left out)


def check_output_names(present: dict[str, list[Entry]], videos: Path, target: Path) -> None:
    """Two source videos that `_output_name` maps to one file ("Push Ups/a.mp4" and
    "Push_Ups/a.mp4", "my clip.mp4" and "my_clip.mp4", "clip.avi" and "clip.mp4") would be
    re-encoded into the same copy: one video lost, the other listed under both names (in train
    and val alike). A DataError naming both, before anything is written."""
    sources: dict[str, str] = {}
    for relative in sorted({e.relative for entries in present.values() for e in entries}):
        name = _output_name(relative)
        other = sources.setdefault(name, relative)
        if other != relative:
            raise DataError(
                f"{videos / other} and {videos / relative} would both be re-encoded as "
                f"{target / name}; rename one of them"
            )


def _reencode_listed(
    present: dict[str, list[Entry]],
    missing: Missing,
    videos: Path,
    target: Path,
    short_side: int | None,
    workers: int,
    progress: bool,
    gop: int | None = None,
) -> dict[str, list[Entry]]:
    """Re-encode each present video once into `target`; return the entries pointing at the
    copies, moving the ones that failed into `missing`."""
    unique = {e.relative for entries in present.values() for e in entries}
    jobs = [(videos / r, target / _output_name(r)) for r in sorted(unique)]
    failures = reencode_all(jobs, short_side, workers, progress, gop)
    encoded: dict[str, list[Entry]] = {}
    for name, entries in present.items():
        encoded[name] = []
        for e in entries:
            reason = failures.get(videos / e.relative)
            if reason is None:
                encoded[name].append(Entry(_output_name(e.relative), e.label, e.source))
            else:
                missing[name].append((e, f"cannot re-encode: {reason}"))
    return encoded


def _write_outputs(
    out: Path, listing: Listing, present: dict[str, list[Entry]], missing: Missing, videos: Path
) -> None:
    """Write train/val/test.csv (test = val unless the dataset has its own), classes.txt and
    a missing_<split>.txt report per split that lost videos (stale reports are removed)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("train", "val", "test"):
        entries = present.get(name, present["val"])
        (out / f"{name}.csv").write_text("".join(f"{e.relative} {e.label}\n" for e in entries))
        report = out / f"missing_{name}.txt"
        report.unlink(missing_ok=True)
        if missing.get(name):
            rows = [f"{videos / e.relative}\t{e.source}\t{why}\n" for e, why in missing[name]]
            report.write_text("".join(rows))
            print(
                f"warning: {len(rows)} of {len(listing.splits[name])} {name} videos are missing "
                f"or could not be re-encoded; left out and listed in {report}",
                file=sys.stderr,
            )
    (out / "classes.txt").write_text("".join(f"{c}\n" for c in listing.classes))


def prep_settings(
    dataset: str,
    root: Path,
    videos: Path,
    split: int,
    short_side: int | None,
    val_fraction: float,
    seed: int,
    gop: int | None = None,
) -> dict[str, object]:
    """The settings that decide what prepare writes, as its flags name them: those of another
    dataset kind are left out (--split is UCF101's and HMDB51's, --seed the folder's)."""
    settings: dict[str, object] = {
        "dataset": dataset,
        "--root": str(root.resolve()),
        "--videos": str(videos),
        "--short-side": short_side,
    }
    if gop is not None:  # absent when unset, so earlier outputs keep matching their record
        settings["--gop"] = gop
    if dataset in ("ucf101", "hmdb51"):
        settings["--split"] = split
    if dataset == "folder":
        settings.update({"--val-fraction": val_fraction, "--seed": seed})
    return settings


def prepare(
    dataset: str,
    root: Path,
    out: Path,
    *,
    videos: Path | None = None,
    split: int = 1,
    short_side: int | None = None,
    workers: int = 1,
    progress: bool = True,
    val_fraction: float = 0.1,
    seed: int = 0,
    gop: int | None = None,
) -> int:
    """Write the annotation files of `dataset` into `out` and print a summary. Returns the
    exit status: 0, or 1 when listed videos are missing or failed to re-encode."""
    if not root.is_dir():
        raise DataError(f"--root {root}: no such folder")
    videos = (videos or root / DEFAULT_VIDEOS[dataset]).resolve()
    if not videos.is_dir():
        raise DataError(f"{videos}: no such videos folder; pass --videos DIR")
    settings = prep_settings(dataset, root, videos, split, short_side, val_fraction, seed, gop)
    made = [name for name in OUTPUT_FILES if (out / name).exists()]
    check_settings(out, SETTINGS_RECORD, settings, has_outputs=bool(made))
    if dataset == "folder":
        listing = read_folder(root, videos, val_fraction, seed)
    else:
        listing = READERS[dataset](root, videos, split)

    missing: Missing = {name: [] for name in listing.splits}
    present: dict[str, list[Entry]] = {name: [] for name in listing.splits}
    for name, entries in listing.splits.items():
        for entry in entries:
            if (videos / entry.relative).is_file():
                present[name].append(entry)
            else:
                missing[name].append((entry, "not found"))

    data_root = videos
    if short_side is not None or gop is not None:
        data_root = (out / "videos").resolve()
        check_output_names(present, videos, data_root)
        record_settings(out, SETTINGS_RECORD, settings)
        present = _reencode_listed(
            present, missing, videos, data_root, short_side, workers, progress, gop
        )
    else:
        spaced = [e for entries in present.values() for e in entries if len(e.relative.split()) > 1]
        if spaced:
            raise DataError(
                f"{videos / spaced[0].relative}: {len(spaced)} video paths contain spaces, which "
                f"annotation lines cannot hold; rename them (e.g. spaces to underscores) or pass "
                f"--short-side to write re-encoded copies under names without spaces"
            )
    record_settings(out, SETTINGS_RECORD, settings)
    _write_outputs(out, listing, present, missing, videos)

    print(f"{dataset}: {len(listing.classes)} classes -> {out / 'classes.txt'}")
    for name in ("train", "val", "test"):
        note = "" if name in present else " (a copy of val.csv, as VideoMAE does)"
        print(f"  {name}: {len(present.get(name, present['val']))} clips -> {out / name}.csv{note}")
    print(f"Annotation paths are relative to {data_root}. Train with the overrides")
    print(
        f"  data.train_list={(out / 'train.csv').resolve()} "
        f"data.val_list={(out / 'val.csv').resolve()} "
        f"data.test_list={(out / 'test.csv').resolve()} data.root={data_root}"
    )
    print(f"and, to check the labels, data.num_classes={len(listing.classes)}")
    return 1 if any(missing.values()) else 0


def _positive(text: str) -> int:
    value = int(text) if text.strip().isdigit() else 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text}")
    return value


def _even(text: str) -> int:
    value = _positive(text)
    if value % 2:
        raise argparse.ArgumentTypeError(f"must be even (yuv420p needs even sizes), got {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m videomae_ssl.prep.prepare",
        description="Write V1 annotation files (train.csv, val.csv, test.csv, classes.txt) "
        "from an official dataset layout or a folder of class sub-folders, optionally "
        "re-encoding the videos smaller.",
    )
    p.add_argument("dataset", choices=DATASETS)
    p.add_argument(
        "--root", type=Path, required=True, metavar="DIR", help="the official dataset folder"
    )
    p.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="where to write the annotations"
    )
    p.add_argument(
        "--videos", type=Path, metavar="DIR", help="video folder (default: the usual one in --root)"
    )
    p.add_argument(
        "--split",
        type=int,
        default=1,
        choices=(1, 2, 3),
        help="official split, UCF101 and HMDB51 only (default 1)",
    )
    p.add_argument(
        "--short-side",
        type=_even,
        metavar="PX",
        help="re-encode the videos to this short side into <out>/videos",
    )
    p.add_argument(
        "--gop",
        type=_positive,
        metavar="N",
        help="re-encode the videos into <out>/videos with a keyframe at least every N frames "
        "(e.g. 16: faster random clips, larger files)",
    )
    p.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="videos re-encoded in parallel (default 1)",
    )
    p.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.1,
        metavar="F",
        help="folder only, without val/: share of each class held out (default 0.1)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="folder only: seed of the held-out draw (default 0)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return prepare(
            args.dataset,
            args.root,
            args.out,
            videos=args.videos,
            split=args.split,
            short_side=args.short_side,
            gop=args.gop,
            workers=args.workers,
            val_fraction=args.val_fraction,
            seed=args.seed,
        )
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
