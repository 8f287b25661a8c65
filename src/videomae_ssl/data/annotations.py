"""Annotation files in the VideoMAE V1 format.

One clip per line, space separated, no header:

    videos/abseiling/abc123.mp4 0
    videos/air_drumming/def456.mp4 1

`<path>` is the video file, relative to a `root` folder or absolute; it may not contain spaces,
because the line is split on whitespace (the original code does the same). `<label>` is a
0-based class id; pretraining ignores it but keeps it for probing and visualisation. Blank lines
are skipped. Any other line is an error that names the file and line, since a silently skipped
line would change the dataset without anyone noticing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from videomae_ssl.errors import DataError

FORMAT = "<path> <label>"


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


def _parse_line(line: str, where: str) -> tuple[str, int]:
    """Split one non-blank line into (path, label), or raise DataError at `where` (file:line)."""
    tokens = line.split()
    if len(tokens) != 2:
        hint = ""
        if len(tokens) > 2:
            hint = (
                "; paths may not contain spaces, and V2 lists '<path> <start_idx> <total_frames>'"
                " or frame-folder lists '<dir> <total_frames> <label>' are not supported"
            )
        raise DataError(f"{where}: expected '{FORMAT}', got {line!r}{hint}")
    path, label_text = tokens
    try:
        label = int(label_text)
    except ValueError:
        raise DataError(
            f"{where}: expected '{FORMAT}' with an integer label, got {line!r}"
        ) from None
    if label < 0:
        raise DataError(f"{where}: labels are 0-based class ids, got {label} in {line!r}")
    return path, label


def read_annotations(
    path: str | Path,
    root: str | Path | None = None,
    *,
    format: str = "v1",
    num_classes: int | None = None,
    check_files: bool = False,
) -> list[VideoRecord]:
    """Parse a V1 annotation file; relative video paths are joined onto `root` when given.

    Raises DataError naming the file if it is missing or lists no clips, and naming file and
    line for a malformed line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read annotation file ({err})") from err

    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        video, label = _parse_line(line, f"{path}:{lineno}")
        if root is not None and not os.path.isabs(video):
            video = os.path.join(root, video)
        records.append(VideoRecord(path=video, label=label))
    if not records:
        raise DataError(f"{path}: lists no clips (expected lines of '{FORMAT}')")
    return records
