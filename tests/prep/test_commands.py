"""The offline commands run as `python -m videomae_ssl.prep.<name>`, and the training-time data
package never imports them."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import videomae_ssl.data


@pytest.mark.parametrize("name", ["prepare", "scan"])
def test_command_runs_as_a_module(name):
    done = subprocess.run(
        [sys.executable, "-m", f"videomae_ssl.prep.{name}", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m videomae_ssl.prep.{name} ")


def imported_modules(file):
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_the_data_package_never_imports_the_offline_commands():
    folder = Path(videomae_ssl.data.__file__).parent
    for file in sorted(folder.glob("*.py")):
        for module in imported_modules(file):
            assert not module.startswith("videomae_ssl.prep"), f"{file.name} imports {module}"
    assert not (folder / "scan.py").exists() and not (folder / "prepare.py").exists()
