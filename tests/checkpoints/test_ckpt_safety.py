"""Checkpoints come from strangers: a file whose unpickling would run code is refused, unrun."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from videomae_ssl.checkpoints import (
    CheckpointError,
    UnsafeCheckpointError,
    load_checkpoint,
    load_pretrained_encoder,
)


class RunsCommand:
    """Unpickling this calls os.system(command)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class OpensFile:
    """Unpickling this calls open(path, 'w'): creates the file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def evil_checkpoint(tmp_path: Path, payload: str, zipped: bool = True) -> tuple[Path, Path]:
    """A .pth whose 'model' looks like weights and whose 'args' would create a marker file."""
    marker = tmp_path / "marker"
    obj = RunsCommand(f"touch {marker}") if payload == "system" else OpensFile(str(marker))
    path = tmp_path / "checkpoint.pth"
    torch.save(
        {"model": {"patch_embed.proj.weight": torch.zeros(8, 3, 2, 8, 8)}, "args": obj},
        path,
        _use_new_zipfile_serialization=zipped,
    )
    assert not marker.exists()
    return path, marker


@pytest.mark.parametrize("payload", ["system", "open"])
@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_code_in_a_pickle_is_refused_and_not_run(tmp_path, payload, zipped):
    path, marker = evil_checkpoint(tmp_path, payload, zipped)
    with pytest.raises(UnsafeCheckpointError, match="refused") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    assert ("system" if payload == "system" else "open") in str(err.value)
    assert not marker.exists()


def test_finetuning_initialisation_refuses_it_too(tmp_path, tiny):
    path, marker = evil_checkpoint(tmp_path, "system")
    with pytest.raises(UnsafeCheckpointError):
        load_pretrained_encoder(tiny.ours_classifier(), path, log=None)
    assert not marker.exists()


def test_convert_cli_refuses_it_without_traceback(tmp_path):
    path, marker = evil_checkpoint(tmp_path, "system")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "videomae_ssl.convert",
            str(path),
            str(tmp_path / "out"),
            "--to",
            "hf",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "refused" in result.stderr
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_original_args_namespace_is_allowed(tmp_path, tiny):
    state = tiny.ours_classifier().state_dict()
    args = argparse.Namespace(num_frames=4, input_size=32, model="vit_small_patch16_224")
    torch.save({"module": state, "args": args, "epoch": 3}, tmp_path / "ok.pth")
    assert load_checkpoint(tmp_path / "ok.pth").config["num_frames"] == 4


@pytest.mark.parametrize("content", [b"", b"not a checkpoint\n", b"PK\x03\x04broken zip"])
def test_unreadable_files_give_a_clear_error(tmp_path, content):
    (tmp_path / "bad.pth").write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.pth"):
        load_checkpoint(tmp_path / "bad.pth")


@pytest.mark.parametrize(
    "content",
    [b"path,label\nvideos/a.mp4,3\n", b"a,b,c\n1,2,3\n", b"not a checkpoint\n", b'{"a": 1}'],
    ids=["csv", "csv-append-opcode", "text", "json"],
)
def test_a_text_file_is_not_a_checkpoint_rather_than_unsafe(tmp_path, tiny, content):
    # Text bytes fail the weights-only unpickler too, but they ask for no code: saying the file
    # could run code would send the user looking for a threat instead of the right file.
    path = tmp_path / "labels.pth"
    path.write_bytes(content)
    for load in (
        load_checkpoint,
        lambda p: load_pretrained_encoder(tiny.ours_classifier(), p, log=None),
    ):
        with pytest.raises(CheckpointError) as err:
            load(path)
        message = str(err.value)
        assert not isinstance(err.value, UnsafeCheckpointError)
        assert message.startswith(f"{path}: not a PyTorch checkpoint or a safetensors file (")
        assert "refused" not in message and "run code" not in message and "\n" not in message


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4")
def test_a_checkpoint_the_weights_only_loader_cannot_parse_is_not_called_unsafe(tmp_path):
    # Pickle protocol 4 uses opcodes the weights-only unpickler does not know; the file is still
    # a PyTorch checkpoint and names no code.
    path = tmp_path / "protocol4.pth"
    torch.save(
        {"model": {"patch_embed.proj.weight": torch.zeros(8, 3, 2, 8, 8)}}, path, pickle_protocol=4
    )
    with pytest.raises(CheckpointError, match="a PyTorch checkpoint that weights-only") as err:
        load_checkpoint(path)
    assert not isinstance(err.value, UnsafeCheckpointError)
    assert "refused" not in str(err.value)


def test_weights_of_another_model_are_refused(tmp_path):
    torch.save(
        {"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 64)},
        tmp_path / "resnet.pth",
    )
    with pytest.raises(CheckpointError, match="not VideoMAE weights"):
        load_checkpoint(tmp_path / "resnet.pth")
