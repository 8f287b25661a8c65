"""The identity a run records for a file it depends on but does not save (a teacher)."""

from __future__ import annotations

import hashlib
from pathlib import Path

HASH_CHUNK = 1 << 24


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes; of a folder (a Hugging Face checkpoint), of its files'
    relative names and bytes in name order. Reads the whole file: a resumed run compares it
    with the one recorded in its checkpoint."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(f"{file.relative_to(path).as_posix()}\0".encode())
        with open(file, "rb") as f:
            while chunk := f.read(HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
