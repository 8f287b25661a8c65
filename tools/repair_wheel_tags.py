"""Make installed packages' WHEEL tags agree with the wheel files they came from.

decord 0.6.0 is published as `decord-0.6.0-py3-none-manylinux2010_x86_64.whl`, but the WHEEL
file inside says `Tag: cp36-cp36m-manylinux2010_x86_64`. uv judges installed packages by that
file, finds a CPython 3.6 package, and reinstalls decord on every `uv sync` and `uv run`
("Uninstalled 1 package / Installed 1 package"; astral-sh/uv#15832, dmlc/decord#356). `make
setup` runs this after `uv sync --locked`: for each installed package whose WHEEL tags do not
fit this interpreter, it writes the tags of the locked wheel that does fit (its file name's),
and the file's new hash in RECORD.

    python tools/repair_wheel_tags.py [uv.lock]
"""

from __future__ import annotations

import base64
import hashlib
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.tags import Tag, parse_tag, sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename


def wheel_tags(text: str) -> set[Tag]:
    """The tags a WHEEL file's `Tag:` lines declare."""
    tags: set[Tag] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Tag":
            tags |= parse_tag(value.strip())
    return tags


def locked_wheel_tags(lock: str, name: str, version: str, supported: set[Tag]) -> list[str]:
    """The tags, as written in the file name, of a locked wheel of `name` `version` that this
    interpreter supports; empty if the lock has none."""
    for filename in re.findall(r"/([^/\"]+\.whl)\"", lock):
        wheel_name, wheel_version, _, tags = parse_wheel_filename(filename)
        same = wheel_name == canonicalize_name(name) and str(wheel_version) == version
        if same and tags & supported:
            return filename.removesuffix(".whl").split("-")[-3:]
    return []


def repair(dist_info: Path, tag: list[str]) -> None:
    """Write `tag` (python, abi, platform) as the dist-info's WHEEL tag and update RECORD."""
    wheel = dist_info / "WHEEL"
    # Header lines only: a blank line would end the headers before the new Tag.
    lines = [
        line
        for line in wheel.read_text().splitlines()
        if line.strip() and not line.startswith("Tag:")
    ]
    lines.append(f"Tag: {'-'.join(tag)}")
    data = ("\n".join(lines) + "\n").encode()
    wheel.write_bytes(data)
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record = dist_info / "RECORD"
    if record.is_file():
        entry = f"{dist_info.name}/WHEEL"
        rows = [
            f"{entry},sha256={digest},{len(data)}" if row.split(",")[0] == entry else row
            for row in record.read_text().splitlines()
        ]
        record.write_text("\n".join(rows) + "\n")


def main(lock_path: str = "uv.lock") -> list[str]:
    """Repair every installed package that needs it. -> `name version: old -> new` lines."""
    lock = Path(lock_path).read_text()
    supported = set(sys_tags())
    done = []
    for dist in metadata.distributions():
        text = dist.read_text("WHEEL")
        if text is None or not wheel_tags(text) or wheel_tags(text) & supported:
            continue
        name, version = dist.metadata["Name"], dist.version
        tag = locked_wheel_tags(lock, name, version, supported)
        wheel = next((f for f in dist.files or [] if f.name == "WHEEL"), None)
        if tag and wheel is not None:
            dist_info = Path(str(dist.locate_file(wheel))).parent
            old = " ".join(sorted(str(t) for t in wheel_tags(text)))
            repair(dist_info, tag)
            done.append(f"{name} {version}: WHEEL tag {old} -> {'-'.join(tag)}")
    return done


if __name__ == "__main__":
    for line in main(*sys.argv[1:]):
        print(f"repaired {line}")
