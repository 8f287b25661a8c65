"""The settings that made an output folder's files, recorded beside them.

A command that writes into a folder and continues where an earlier run stopped (prep's lists
and re-encoded videos, extract's features) would otherwise take files made with other settings
for its own: it keeps them, adds new ones made differently, or writes over lists the user
made. The first run records its settings in the folder; a later run continues only when its own
are the same, and otherwise stops naming the setting that differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from videomae_ssl.errors import DataError

# Bytes hashed at the start, the middle and the end of a file: a checkpoint of other weights
# differs in each, and hashing a few MiB costs nothing next to reading gigabytes.
FINGERPRINT_CHUNK = 1 << 20


def file_fingerprint(path: Path) -> str:
    """A short identity of a file's contents (or of a folder's files): its size and a hash of
    its start, middle and end. Unlike the path and the modification time, it survives a copy
    or a move, and it changes when the file is written over with other contents."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        size = file.stat().st_size
        name = file.relative_to(path).as_posix() if path.is_dir() else ""
        digest.update(f"{name}:{size}:".encode())
        with open(file, "rb") as f:
            for start in sorted(
                {0, max(size // 2 - FINGERPRINT_CHUNK // 2, 0), max(size - FINGERPRINT_CHUNK, 0)}
            ):
                f.seek(start)
                digest.update(f.read(FINGERPRINT_CHUNK))
    total = sum(f.stat().st_size for f in files)
    return f"{total} bytes, sha256 {digest.hexdigest()[:16]}"


def read_settings(record: Path) -> dict[str, Any] | None:
    """The settings recorded in `record`, or None where there is no such file."""
    if not record.is_file():
        return None
    try:
        return dict(json.loads(record.read_text(encoding="utf-8"))["settings"])
    except (ValueError, KeyError, TypeError):
        raise DataError(
            f"{record}: unreadable record of the settings that made this folder's files; "
            f"choose another output folder."
        ) from None


def check_settings(
    folder: Path,
    record_name: str,
    settings: Mapping[str, Any],
    *,
    has_outputs: bool,
    shown: Mapping[str, str] | None = None,
    flag: str = "--out",
) -> None:
    """Check `settings` against those an earlier run recorded in `folder/record_name`: the
    same (or no earlier run) pass, any difference is a DataError naming the setting. A folder
    that already holds outputs (`has_outputs`) but no record is refused too: what made them is
    unknown (they may be the user's own files). `shown` gives a setting's value as people read
    it where the compared value is not (a checkpoint's path for its fingerprint)."""
    record = folder / record_name
    before = read_settings(record)
    if before is None:
        if has_outputs:
            raise DataError(
                f"{flag} {folder}: already holds files that no earlier run of this command "
                f"recorded ({record_name} is absent), so they may have been made otherwise or "
                f"by hand; choose another {flag}, or move those files away."
            )
        return
    notes, shown = _read_notes(record), dict(shown or {})
    for key, value in settings.items():
        old = before.get(key)
        if old == _plain(value):
            continue
        was, now = notes.get(key, _text(old)), shown.get(key, _text(value))
        if was == now:
            now += " (changed since)"
        raise DataError(
            f"{flag} {folder}: was made with other settings ({key}: {was} there, {now} now, "
            f"see {record}); rerun with the recorded settings to continue it, or choose another "
            f"{flag}."
        )


def record_settings(
    folder: Path,
    record_name: str,
    settings: Mapping[str, Any],
    shown: Mapping[str, str] | None = None,
) -> None:
    """Write `settings` (and how to show them) to `folder/record_name`, whole or not at all,
    unless an earlier run recorded them (which `check_settings` found the same): the record
    keeps naming the files of the run that made the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / record_name
    if record.is_file():
        return
    text = json.dumps({"settings": _plain(dict(settings)), "shown": dict(shown or {})}, indent=2)
    partial = record.with_name(f".{record.name}.partial")
    partial.write_text(text + "\n", encoding="utf-8")
    os.replace(partial, record)


def check_and_record(
    folder: Path,
    record_name: str,
    settings: Mapping[str, Any],
    *,
    has_outputs: bool,
    shown: Mapping[str, str] | None = None,
    flag: str = "--out",
) -> None:
    """`check_settings`, then `record_settings`: for a command that starts writing at once."""
    check_settings(folder, record_name, settings, has_outputs=has_outputs, shown=shown, flag=flag)
    record_settings(folder, record_name, settings, shown)


def _read_notes(record: Path) -> dict[str, str]:
    try:
        shown = json.loads(record.read_text(encoding="utf-8")).get("shown", {})
        return {key: str(value) for key, value in shown.items()}
    except (ValueError, AttributeError):
        return {}


def _plain(value: Any) -> Any:
    """`value` as JSON gives it back (a tuple becomes a list, a Path a string)."""
    return json.loads(json.dumps(value, default=str))


def _text(value: Any) -> str:
    return "none" if value is None else str(_plain(value))
