"""Removed compatibility modules and names stay removed: a name lives where it is defined, and
nothing re-exports it under an old spelling (mae and nanoGPT delete instead of aliasing)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

import videomae_ssl

PACKAGE = Path(videomae_ssl.__file__).parent

REMOVED_MODULES = [
    "videomae_ssl.bench",  # the model-speed benchmark is benchmarks/model_speed.py
    "videomae_ssl.data.datamodule",  # videomae_ssl.data.datamodules
    "videomae_ssl.data.finetune_datamodule",  # videomae_ssl.data.datamodules.finetune
]
# (module, name) pairs that no longer exist: test-only helpers and re-exports.
REMOVED_NAMES = [
    ("videomae_ssl.loss", "masked_targets"),  # pixel_targets(..., ids=...) / gather_tokens
    ("videomae_ssl.loss.reconstruction", "masked_targets"),
    ("videomae_ssl.checkpoints", "detect_format"),  # load_checkpoint(path).format
    ("videomae_ssl.checkpoints.load", "detect_format"),
    # The generator helpers live in videomae_ssl.seeding only.
    ("videomae_ssl.data.augment", "draw_seed"),
    ("videomae_ssl.data.augment", "preserved_global_rngs"),
    ("videomae_ssl.data.augment", "seed_global_rngs"),
]
# What `videomae_ssl.data` used to hand out lazily; each is imported from its own module.
OLD_DATA_TABLE = [
    "VideoRecord",
    "read_annotations",
    "open_record",
    "open_video",
    "VideoFile",
    "center_indices",
    "pretrain_indices",
    "normalize_video",
    "prepare_batch",
    "three_crops",
    "FinetuneTrainTransform",
    "MixupCutmixCollate",
    "EpochSampler",
    "VideoPretrainDataset",
    "VideoListDataset",
    "collate_views",
    "PretrainDataModule",
    "FinetuneDataModule",
    "VideoDataModule",
    "DecodeOptions",
    "VideoClassificationDataset",
    "DemoPretrainDataModule",
    "DEMO_CLASSES",
    "ensure_demo_dataset",
]


@pytest.mark.parametrize("name", REMOVED_MODULES)
def test_a_removed_module_cannot_be_imported(name):
    assert importlib.util.find_spec(name) is None, f"{name} exists again"
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(name)


@pytest.mark.parametrize(("module", "name"), REMOVED_NAMES)
def test_a_removed_name_is_gone(module, name):
    assert not hasattr(importlib.import_module(module), name), f"{module}.{name} exists again"


def test_the_data_package_hands_out_no_names():
    import videomae_ssl.data as data

    importlib.import_module("videomae_ssl.data.datamodules")  # loads most of the package
    assert not hasattr(data, "__getattr__") and not hasattr(data, "__all__")
    assert [n for n in OLD_DATA_TABLE if hasattr(data, n)] == []


def top_level_assignments(path: Path) -> set[str]:
    """Names a file binds at its top level with a plain `NAME = ...`."""
    return {
        target.id
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def test_every_stream_id_sits_in_the_seeding_module():
    """The per-sample stream ids form one table: no module assigns a STREAM_* id of its own,
    and no two purposes share an id."""
    seeding = PACKAGE / "seeding.py"
    elsewhere = {
        str(path.relative_to(PACKAGE)): sorted(names)
        for path in PACKAGE.rglob("*.py")
        if path != seeding
        and (
            names := {n for n in top_level_assignments(path) if n.startswith("STREAM_")}
            - {"STREAM_KEY"}
        )  # the config key data.stream, not a random stream
    }
    assert elsewhere == {}, f"stream ids outside seeding.py: {elsewhere}"
    module = importlib.import_module("videomae_ssl.seeding")
    ids = {n: getattr(module, n) for n in top_level_assignments(seeding) if n.startswith("STREAM_")}
    assert "STREAM_SUBSTITUTE" in ids and len(set(ids.values())) == len(ids), ids
