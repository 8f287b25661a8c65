"""Annotation files: one clip per line, space separated, no header, in one of three formats.

    v1      <path> <label>                    videos/abseiling/abc123.mp4 0
    v2      <path> <start_idx> <total_frames> k400/abc123.mp4 0 -1   |   ssv2/123 1 48
    frames  <dir> <total_frames> <label>      ssv2/123 48 17

- v1 is the VideoMAE list (train.csv / val.csv / test.csv): a video file and its 0-based class.
- v2 is the VideoMAE V2 pretraining list. `total_frames` -1 means a video file (its frame
  count is read from the file; `start_idx` is ignored); a positive count means a folder of that
  many frames whose first file is numbered `start_idx`. These lines carry no class (label -1).
- frames is the frame-folder list used for SSv2 (and UCF101 as frames): a folder of
  `total_frames` frames and its class. The list does not say how the frame files are numbered;
  the original code (VideoMAE's SSv2 dataset, VideoMAE V2's `--start_idx` default) numbers them
  from 1, `img_00001.jpg` onwards, which is also what mmaction2's extractor writes, so these
  records get `start=1`.

Paths are relative to a `root` folder or absolute; they may not contain spaces, because lines
are split on whitespace (the original code does the same). Blank lines are skipped, and so is a
UTF-8 byte-order mark at the start of the file. Any other line that does not parse is an error
naming the file and line, since a silently skipped line would change the dataset without anyone
noticing; so is a video listed twice with different labels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from videomae_ssl.errors import ConfigError, DataError

ANNOTATION_FORMATS: dict[str, str] = {
    "v1": "<path> <label>",
    "v2": "<path> <start_idx> <total_frames>",
    "frames": "<dir> <total_frames> <label>",
}

# First frame number of a folder listed in the "frames" format (see the module docstring).
FRAMES_START = 1

FORMAT_KEY = "data.annotation_format"
NUM_CLASSES_KEY = "data.num_classes"


@dataclass(frozen=True)
class VideoRecord:
    """One annotated clip.

    `path` is a video file, or a folder of frames when `num_frames` is set. For a folder,
    `num_frames` is how many frames it holds and `start` is the number in the file name of its
    first frame (the name template lives with the reader). `label` is the 0-based class id, or
    -1 where the list carries none (V2 pretraining lists).
    """

    path: str
    label: int = -1
    start: int = 0
    num_frames: int | None = None

    @property
    def is_frames(self) -> bool:
        return self.num_frames is not None


def _column_hint(format: str, count: int, key: str = FORMAT_KEY) -> str:
    """Why a line may have `count` columns instead of the format's, for the error message."""
    expected = len(ANNOTATION_FORMATS[format].split())
    if count > expected:
        hint = "; paths may not contain spaces"
        if format == "v1" and count == 3:
            hint += (
                f"; 3 columns: is this a V2 or frames list? set {key}=v2 "
                f"('{ANNOTATION_FORMATS['v2']}') or {key}=frames "
                f"('{ANNOTATION_FORMATS['frames']}')"
            )
        return hint
    if count == 2:
        return f"; 2 columns: is this a V1 list? set {key}=v1 ('{ANNOTATION_FORMATS['v1']}')"
    return ""


def _integers(tokens: list[str], names: list[str], format: str, line: str, where: str) -> list[int]:
    """Parse the integer columns, naming the first one that is not an integer."""
    values = []
    for token, name in zip(tokens, names, strict=True):
        try:
            values.append(int(token))
        except ValueError:
            raise DataError(
                f"{where}: expected '{ANNOTATION_FORMATS[format]}' with an integer {name}, "
                f"got {token!r} in {line!r}"
            ) from None
    return values


def _check_label(
    label: int, num_classes: int | None, line: str, where: str, names: str | None = None
) -> None:
    """`names`: the classes.txt the class count was read from (it, not data.num_classes,
    is then what to fix)."""
    if label < 0:
        raise DataError(f"{where}: labels are 0-based class ids, got {label} in {line!r}")
    if num_classes is not None and label >= num_classes:
        fix = (
            f"{names} names {num_classes} classes (line i naming class i - 1): add the "
            f"missing names to it, or fix the list"
            if names
            else f"set {NUM_CLASSES_KEY} to the number of classes of this dataset, or fix the file"
        )
        raise DataError(
            f"{where}: label {label} is not below num_classes={num_classes} in {line!r}; "
            f"labels run from 0 to {num_classes - 1}: {fix}"
        )


def _parse_line(
    line: str,
    format: str,
    num_classes: int | None,
    where: str,
    names: str | None = None,
    key: str = FORMAT_KEY,
) -> tuple[str, int, int, int | None]:
    """Split one non-blank line into (path, label, start, num_frames) or raise DataError at
    `where` (file:line)."""
    pattern = ANNOTATION_FORMATS[format]
    tokens = line.split()
    if len(tokens) != len(pattern.split()):
        raise DataError(
            f"{where}: expected '{pattern}' ({key}={format}), got {len(tokens)} "
            f"columns in {line!r}{_column_hint(format, len(tokens), key)}"
        )
    path = tokens[0]
    if format == "v1":
        (label,) = _integers(tokens[1:], ["label"], format, line, where)
        _check_label(label, num_classes, line, where, names)
        return path, label, 0, None
    if format == "v2":
        start, total = _integers(tokens[1:], ["start_idx", "total_frames"], format, line, where)
        if start < 0:
            raise DataError(f"{where}: start_idx must be 0 or more, got {start} in {line!r}")
        if total == -1:
            return path, -1, 0, None
        if total <= 0:
            raise DataError(
                f"{where}: total_frames must be -1 (a video file) or a positive frame count "
                f"(a folder of frames), got {total} in {line!r}"
            )
        return path, -1, start, total
    total, label = _integers(tokens[1:], ["total_frames", "label"], format, line, where)
    if total <= 0:
        raise DataError(
            f"{where}: total_frames must be a positive frame count, got {total} in {line!r}"
        )
    _check_label(label, num_classes, line, where, names)
    return path, label, FRAMES_START, total


def _check_exists(
    path: Path, records: list[VideoRecord], linenos: list[int], root: str | Path | None
) -> None:
    """Raise DataError listing the records whose video file or frame folder is missing."""
    missing = [
        (lineno, r.path)
        for lineno, r in zip(linenos, records, strict=True)
        if not (os.path.isdir(r.path) if r.is_frames else os.path.isfile(r.path))
    ]
    if not missing:
        return
    examples = ", ".join(f"line {lineno}: {p}" for lineno, p in missing[:3])
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    raise DataError(
        f"{path}: {len(missing)} of {len(records)} listed videos or frame folders do not "
        f"exist ({examples}{more}); check data.root={root} or remove those lines"
    )


def read_annotations(
    path: str | Path,
    root: str | Path | None = None,
    *,
    format: str = "v1",
    num_classes: int | None = None,
    check_files: bool = False,
    names: str | None = None,
    format_key: str = FORMAT_KEY,
) -> list[VideoRecord]:
    """Parse an annotation file in `format` (a key of ANNOTATION_FORMATS); relative paths are
    joined onto `root` when given.

    `num_classes` bounds the labels (v1 and frames); `names` is the classes.txt that count
    was read from, named by the error instead of data.num_classes; `format_key` is how the
    caller's user sets the format (a config key or a flag). `check_files` also requires every listed
    video file (or frame folder) to exist. Raises ConfigError for an unknown format or a
    non-positive `num_classes`, and DataError naming the file if it is missing or lists no
    clips, naming file and line for a malformed line.
    """
    if format not in ANNOTATION_FORMATS:
        choices = ", ".join(f"{name} ('{p}')" for name, p in ANNOTATION_FORMATS.items())
        raise ConfigError(
            f"{FORMAT_KEY}={format!r} is not an annotation format; choose one of {choices}."
        )
    if num_classes is not None and num_classes <= 0:
        raise ConfigError(f"{NUM_CLASSES_KEY}={num_classes} must be a positive class count.")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    text = _read_text(path, "annotation file")

    records: list[VideoRecord] = []
    linenos: list[int] = []
    labelled: dict[str, tuple[int, int]] = {}  # listed path -> (label, line) of its first line
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        video, label, start, total = _parse_line(
            line, format, num_classes, where, names, format_key
        )
        if label >= 0:
            first_label, first_line = labelled.setdefault(video, (label, lineno))
            if first_label != label:
                raise DataError(
                    f"{where}: {video} is listed with label {label}, but line {first_line} "
                    f"gives it label {first_label}; a video belongs to one class: keep one "
                    f"of the lines"
                )
        if root is not None and not os.path.isabs(video):
            video = os.path.join(root, video)
        records.append(VideoRecord(path=video, label=label, start=start, num_frames=total))
        linenos.append(lineno)
    if not records:
        raise DataError(
            f"{path}: lists no clips (expected lines of '{ANNOTATION_FORMATS[format]}')"
        )
    if check_files:
        _check_exists(path, records, linenos, root)
    return records


def _read_text(path: Path, what: str) -> str:
    """The file as text; a UTF-8 byte-order mark (as some editors save) is not part of it."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read {what} ({err})") from err


def read_class_names(path: str | Path, key: str) -> list[str]:
    """The names in a `classes.txt`: line i names class i - 1. Blank lines at the end are
    ignored; a blank line between names is an error, since skipping it would shift every later
    name onto the wrong class. `key` (the config key or flag that gave `path`) is named when the
    file is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{key}={path}: no such file.")
    lines = [line.strip() for line in _read_text(path, "class names").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if "" in lines:
        lineno = lines.index("") + 1
        raise DataError(
            f"{path}:{lineno}: blank line between class names; line i names class i - 1, so a "
            f"blank line would shift every later name: remove it or write the class's name"
        )
    return lines


def checked_class_names(path: str, num_classes: int) -> list[str]:
    """Line i of `path` names class i (the `classes.txt` that `videomae_ssl.prep.prepare`
    writes)."""
    names = read_class_names(path, "data.class_names")
    if len(names) != num_classes:
        raise DataError(
            f"data.class_names={path}: {len(names)} names for data.num_classes={num_classes}; "
            f"the file must have one class name per line, line i naming label i."
        )
    return names
