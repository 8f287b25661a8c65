"""Reading checkpoint files without running anything in them.

Checkpoints come from strangers. A pickle can call any function while it is loaded, so `.pth`,
`.pt`, `.ckpt` and `.bin` files go through `torch.load(weights_only=True)`, which rebuilds only
tensors and plain containers and refuses everything else before calling it; safetensors files
hold no code at all. The one extra type allowed is `argparse.Namespace`: the original VideoMAE
scripts store their command-line arguments in it, and rebuilding it only fills an attribute dict.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch

from videomae_ssl.errors import UserInputError

HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
HF_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
SAFE_GLOBALS = [argparse.Namespace]


class CheckpointError(UserInputError):
    """A checkpoint that cannot be read or does not fit; the message names the file."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint whose loading would need to construct arbitrary objects (run code)."""


def is_safetensors(path: Path) -> bool:
    """True when the file starts like safetensors: a little-endian u64 length, then JSON."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 0 < length < path.stat().st_size and head[8:9] == b"{"


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err}).") from None


def _unsafe_globals(path: Path) -> list[str]:
    """The non-allowed globals a zip checkpoint names, read without unpickling anything."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # legacy (non-zip) files or a damaged archive: fall back to the message
        return []
    allowed = {f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS}
    return [g for g in found if g not in allowed]


def read_torch(path: Path) -> Any:
    """`torch.load` with `weights_only=True` (plus `argparse.Namespace`), onto the CPU."""
    # Memory-map the zip format (no full copy of large files). torch.load picks safetensors by
    # the name alone, so a pickle named *.safetensors goes in as an open file instead.
    by_name = path.name.endswith(".safetensors")
    mmap = zipfile.is_zipfile(path) and not by_name
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS), open(path, "rb") as f:
            source = f if by_name else path
            return torch.load(source, map_location="cpu", weights_only=True, mmap=mmap)
    except (pickle.UnpicklingError, EOFError, IndexError, KeyError, TypeError) as err:
        # The weights-only unpickler raises UnpicklingError both when it refuses a global and
        # when the bytes are no pickle at all; other bytes run as opcodes fail in other ways.
        raise _unpickling_failed(path, err) from None
    except (RuntimeError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({err}).") from None


# What the weights-only unpickler says when it refuses to build or call something: only these
# mean the file asks to run code. Its wrapper text mentions `weights_only` for every failure.
_REFUSAL = re.compile(r"\bGLOBAL\b|Unsupported global|allowlisted|unrecognized function")
# The pickled magic number that starts torch.save's legacy (non-zip) format.
_LEGACY_MAGIC = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def _unpickling_failed(path: Path, err: Exception) -> CheckpointError:
    """The error for a file the weights-only unpickler could not load: unsafe when it refused a
    global, else a checkpoint it cannot read or not a checkpoint at all."""
    # torch re-raises the unpickler's own error with advice around it; that error is the context.
    inner = err.__context__ if isinstance(err.__context__, pickle.UnpicklingError) else err
    names = _unsafe_globals(path)
    if names or _REFUSAL.search(str(inner)) or _REFUSAL.search(str(err)):
        names = names or re.findall(r"GLOBAL ([\w.]+)", str(err))[:1]
        needs = f" it needs {', '.join(names)}," if names else ""
        return UnsafeCheckpointError(
            f"{path}: refused:{needs} which is not a tensor or a plain container. Loading it "
            f"could run code from the file, so nothing in it was run. If you trust its author, "
            f"load it yourself without the weights-only restriction and save only its state dict "
            f"(the 'model', 'module' or 'state_dict' entry) with torch.save."
        )
    lines = [line for line in str(inner).splitlines() if line.strip()]
    reason = f"{type(inner).__name__}: {lines[0][:200]}" if lines else type(inner).__name__
    with open(path, "rb") as f:
        head = f.read(32)
    if not head:
        return CheckpointError(f"{path}: not a PyTorch checkpoint or a safetensors file (empty).")
    if _is_torch_zip(path) or _LEGACY_MAGIC in head:
        # Opcodes it does not know usually mean a pickle protocol above torch.save's default.
        hint = (
            " If you trust its author, re-save it with torch.save's default pickle protocol."
            if "Unsupported operand" in reason
            else ""
        )
        return CheckpointError(
            f"{path}: a PyTorch checkpoint that weights-only loading cannot read ({reason}); "
            f"nothing in it was run.{hint}"
        )
    return CheckpointError(
        f"{path}: not a PyTorch checkpoint or a safetensors file ({reason}; it starts with "
        f"{head[:16]!r})."
    )


def _is_torch_zip(path: Path) -> bool:
    """A zip archive laid out as torch.save writes it (a pickle at <name>/data.pkl)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("data.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_weights(path: Path) -> Any:
    """A weights file in either format, told apart by its contents (not its name)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file.")
    return read_safetensors(path) if is_safetensors(path) else read_torch(path)


def read_hf_dir(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """A Hugging Face model directory -> (state dict, parsed config.json or None).

    Takes `model.safetensors` or `pytorch_model.bin`, or the shards an index file lists.
    """
    config = None
    if (path / "config.json").is_file():
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path / 'config.json'}: not valid JSON ({err}).") from None
    for name in HF_WEIGHT_FILES:
        if (path / name).is_file():
            return _as_state(read_weights(path / name), path / name), config
    for name in HF_INDEX_FILES:
        if (path / name).is_file():
            index = json.loads((path / name).read_text())
            state: dict[str, torch.Tensor] = {}
            for shard in sorted(set(index.get("weight_map", {}).values())):
                state.update(_as_state(read_weights(path / shard), path / shard))
            return state, config
    raise CheckpointError(
        f"{path}: a directory without weights; expected one of "
        f"{', '.join(HF_WEIGHT_FILES + HF_INDEX_FILES)}."
    )


def _as_state(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a flat dict of tensors (a state dict).")
    return obj
