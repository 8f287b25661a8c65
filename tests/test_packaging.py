"""The wheel ships the Hydra configs inside the package, and the training command finds them
there when run from any folder."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if shutil.which("uv") is None:
        pytest.skip("needs uv to build the wheel")
    out = tmp_path_factory.mktemp("wheel")
    command = ["uv", "build", "--wheel", "--out-dir", str(out), str(ROOT)]
    # Offline first: the build backend (hatchling) is usually in uv's cache.
    done = subprocess.run([*command, "--offline"], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = out.glob("*.whl")
    return path


def test_the_wheel_holds_every_config(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    configs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.yaml"))
    assert len(configs) > 40
    assert {f"videomae_ssl/{name}" for name in configs} <= names


def test_the_unpacked_wheel_composes_an_experiment_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import videomae_ssl.train as t, sys; "
        "assert t.CONFIG_DIR.startswith(sys.argv[1]), t.CONFIG_DIR; "
        "sys.argv = ['train', 'experiment=demo', '--cfg', 'job']; t.main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "name: demo" in done.stdout and "pipeline:" in done.stdout
