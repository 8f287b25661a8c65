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


def test_the_wheel_declares_the_commands_and_carries_the_license(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = zf.read(entry_points).decode()
        licenses = [n for n in names if "/licenses/" in n and n.endswith("LICENSE")]
        assert licenses and "Apache License" in zf.read(licenses[0]).decode()
    for command in ("train", "predict", "extract", "convert", "visualize", "prepare"):
        assert f"videomae-{command} = " in scripts


def test_every_console_script_names_a_command_main():
    """The scripts of pyproject.toml call the `main` of a module that is a command."""
    import importlib

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
        import tomli as tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert len(scripts) >= 8
    for name, target in scripts.items():
        module_name, _, function = target.partition(":")
        module = importlib.import_module(module_name)
        assert function == "main" and callable(module.main), name
        assert 'if __name__ == "__main__":' in Path(module.__file__).read_text(), name


def test_the_version_is_the_installed_distributions():
    from importlib.metadata import version

    import videomae_ssl

    assert videomae_ssl.__version__ == version("videomae-ssl")
    assert videomae_ssl.__version__[0].isdigit()


def test_the_training_script_runs_as_its_module_does(tmp_path):
    script = Path(sys.executable).with_name("videomae-train")
    if not script.exists():
        pytest.skip("the project is not installed into this interpreter's environment")
    done = subprocess.run(
        [str(script), "experiment=demo_pretrain", "--cfg", "job"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "name: demo_pretrain" in done.stdout
