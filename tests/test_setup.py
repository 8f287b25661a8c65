"""`make setup` leaves an environment that `uv run --locked` accepts as it is: every installed
package's WHEEL tags fit this interpreter, or uv reinstalls that package on every run (decord
0.6.0's WHEEL file names CPython 3.6; see tools/repair_wheel_tags.py)."""

import importlib.util
from importlib import metadata
from pathlib import Path

from packaging.tags import Tag, sys_tags

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "repair_wheel_tags", ROOT / "tools" / "repair_wheel_tags.py"
)
repair_wheel_tags = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(repair_wheel_tags)

DECORD_LOCK = (
    '[[package]]\nname = "decord"\nversion = "0.6.0"\nwheels = [\n    { url = "https://files.example/'
    'decord-0.6.0-py3-none-manylinux2010_x86_64.whl", hash = "sha256:00" },\n]\n'
)


def test_installed_packages_wheel_tags_fit_this_interpreter():
    supported = set(sys_tags())
    unfit = []
    for dist in metadata.distributions():
        text = dist.read_text("WHEEL")
        tags = repair_wheel_tags.wheel_tags(text or "")
        if tags and not tags & supported:
            unfit.append(f"{dist.metadata['Name']} {dist.version}: {sorted(map(str, tags))}")
    assert not unfit, f"uv reinstalls these on every run; `make setup` repairs them: {unfit}"


def test_repair_writes_the_locked_wheels_tag_and_its_record_hash(tmp_path):
    dist_info = tmp_path / "decord-0.6.0.dist-info"
    dist_info.mkdir()
    (dist_info / "WHEEL").write_text(
        "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.36.2)\nRoot-Is-Purelib: false\n"
        "Tag: cp36-cp36m-manylinux2010_x86_64\n\n"
    )
    (dist_info / "RECORD").write_text(
        "decord/__init__.py,sha256=abc,10\ndecord-0.6.0.dist-info/WHEEL,sha256=old,112\n"
    )
    tags = {Tag("py3", "none", "manylinux2010_x86_64")}  # a machine that takes the wheel
    tag = repair_wheel_tags.locked_wheel_tags(DECORD_LOCK, "decord", "0.6.0", tags)
    assert tag == ["py3", "none", "manylinux2010_x86_64"]
    assert repair_wheel_tags.locked_wheel_tags(DECORD_LOCK, "decord", "0.6.1", tags) == []
    repair_wheel_tags.repair(dist_info, tag)
    wheel = (dist_info / "WHEEL").read_bytes()
    assert wheel.decode().splitlines() == [
        "Wheel-Version: 1.0",
        "Generator: bdist_wheel (0.36.2)",
        "Root-Is-Purelib: false",
        "Tag: py3-none-manylinux2010_x86_64",
    ]
    record = (dist_info / "RECORD").read_text().splitlines()
    assert record[0] == "decord/__init__.py,sha256=abc,10"
    assert record[1].startswith("decord-0.6.0.dist-info/WHEEL,sha256=")
    assert record[1].endswith(f",{len(wheel)}") and "old" not in record[1]


def test_setup_installs_uv_inside_a_virtual_environment_where_none_is_found(tmp_path):
    """Debian's and Ubuntu's Pythons refuse `pip install` outside a virtual environment (PEP 668):
    without uv, `make setup` installs it with pip inside .tools/, never into the system Python."""
    import shutil
    import subprocess

    python = tmp_path / "python3"  # a Python with no uv module and no uv on PATH
    python.write_text("#!/bin/sh\nexit 1\n")
    python.chmod(0o755)
    make = shutil.which("make")
    dry_run = subprocess.run(
        [make, "-n", "setup", f"PYTHON={python}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path)},
        check=True,
    ).stdout.splitlines()
    assert dry_run[0].startswith(f"{python} -m venv .tools")
    assert dry_run[1] == ".tools/bin/python -m pip install --quiet uv"
    assert dry_run[2].startswith(".tools/bin/uv sync --locked")
    assert not [line for line in dry_run if line.startswith(f"{python} -m pip")]


def test_the_test_command_checks_formatting_and_lint_before_the_tests():
    """`make test` (what CI runs) fails on a change that `ruff format` would rewrite or that
    `ruff check` flags, before pytest starts."""
    import shutil
    import subprocess

    steps = subprocess.run(
        [shutil.which("make"), "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    order = [
        i
        for i, line in enumerate(steps)
        for word in ("ruff format --check", "ruff check", "pytest")
        if word in line
    ]
    assert len(order) == 3 and order == sorted(order)
