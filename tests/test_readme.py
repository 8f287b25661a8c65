"""The README's commands still work: every training line composes, every other command answers
`--help`, and its table of contents lists its sections. A line that no longer works fails here
rather than in a new user's terminal."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_configs import compose_cfg

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def code_block_commands(text: str) -> list[str]:
    """The command lines of the fenced code blocks, continuation lines joined, comments dropped."""
    commands, inside, pending = [], False, ""
    for line in text.splitlines():
        if line.startswith("```"):
            inside, pending = not inside, ""
            continue
        if not inside:
            continue
        line = f"{pending} {line.strip()}" if pending else line
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1]
            continue
        pending = ""
        line = line.split("  #", 1)[0].strip()
        if "-m videomae_ssl." in line or line.startswith("videomae-"):
            commands.append(line)
    return commands


def module_and_args(command: str) -> tuple[str, list[str]]:
    """`videomae_ssl.train` and its arguments, from a line such as `A=1 uv run python -m ...`."""
    words = shlex.split(command.replace("<", "_").replace(">", "_"))
    at = words.index("-m")
    return words[at + 1], words[at + 2 :]


COMMANDS = code_block_commands(README)
TRAIN_LINES = [c for c in COMMANDS if module_and_args(c)[0] == "videomae_ssl.train"]
OTHER_MODULES = sorted({module_and_args(c)[0] for c in COMMANDS} - {"videomae_ssl.train"})


def test_the_readme_commands_are_found():
    assert len(TRAIN_LINES) >= 15
    assert {
        "videomae_ssl.predict",
        "videomae_ssl.extract",
        "videomae_ssl.convert",
        "videomae_ssl.prep.prepare",
    } <= set(OTHER_MODULES)


@pytest.mark.parametrize(
    "command", TRAIN_LINES, ids=[" ".join(module_and_args(c)[1]) for c in TRAIN_LINES]
)
def test_each_training_line_composes(command, tmp_path):
    """Composed as the command would (`--cfg job` composes the same way, without the run)."""
    _, args = module_and_args(command)
    overrides = [a for a in args if a not in ("-m", "--multirun")]
    cfg = compose_cfg(overrides, tmp_path)
    assert cfg.name


@pytest.mark.parametrize("module", OTHER_MODULES)
def test_each_other_command_answers_help(module, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


def github_anchor(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def test_the_table_of_contents_lists_every_section():
    sections = re.findall(r"^#{2,3} (.+)$", README, re.M)
    listed = re.findall(r"^ *- \[(.+)\]\(#(.+)\)$", README, re.M)
    assert [title for title, _ in listed] == [s for s in sections if s != "Contents"]
    assert all(anchor == github_anchor(title) for title, anchor in listed)
