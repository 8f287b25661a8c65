"""A model's architecture is declared once, in `VideoMAEConfig`, which the models take and
checkpoints store; the token grid is computed by it and nowhere else."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import videomae_ssl
import videomae_ssl.models as models
from videomae_ssl.models import (
    VideoMAEClassifier,
    VideoMAEEncoder,
    VideoMAEPretrainModel,
    videomae_classifier,
    videomae_pretrain,
)
from videomae_ssl.models.config import VideoMAEConfig

MODELS = Path(models.__file__).parent
PACKAGE = Path(videomae_ssl.__file__).parent
CONFIG_FIELDS = set(VideoMAEConfig.field_names())
SMALL = VideoMAEConfig(
    img_size=32,
    patch_size=8,
    num_frames=4,
    embed_dim=48,
    depth=2,
    num_heads=4,
    decoder_embed_dim=32,
    decoder_depth=1,
    decoder_num_heads=2,
)
# The modules that may declare the architecture: the config and the sizes' numbers.
HOMES = {"videomae_ssl/models/config.py", "videomae_ssl/models/sizes.py"}


def constructor_arguments(path: Path) -> dict[str, set[str]]:
    """`Class.__init__` -> the argument names it lists, for every class in `path`."""
    out = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    a = item.args
                    out[node.name] = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    return out


@pytest.mark.parametrize(
    ("module", "cls"),
    [
        ("encoder.py", "VideoMAEEncoder"),
        ("autoencoder.py", "VideoMAEPretrainModel"),
        ("classifier.py", "VideoMAEClassifier"),
    ],
)
def test_the_constructors_do_not_list_the_architecture_fields(module, cls):
    names = constructor_arguments(MODELS / module)[cls]
    assert "config" in names
    assert not names & CONFIG_FIELDS, (
        f"{module}: {cls}.__init__ lists {sorted(names & CONFIG_FIELDS)}"
    )


def shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("cls", [VideoMAEEncoder, VideoMAEPretrainModel, VideoMAEClassifier])
def test_a_model_rebuilt_from_its_stored_config_equals_it(cls):
    """nanoGPT style: `Model(Config(**model_args))`, with the plain dict a checkpoint stores."""
    extra = {"num_classes": 5} if cls is VideoMAEClassifier else {}
    model = cls(SMALL, **extra)
    assert model.config == SMALL and model.grid == SMALL.grid == (2, 4, 4)
    stored = model.config.as_dict()
    assert all(type(v) in (int, float, bool) for v in stored.values())
    rebuilt = cls(VideoMAEConfig(**stored), **extra)
    assert shapes(rebuilt) == shapes(model) and len(shapes(model)) > 10


@pytest.mark.parametrize("build", [videomae_pretrain, lambda **kw: videomae_classifier(5, **kw)])
def test_the_builders_replace_the_sizes_fields(build):
    model = build(size="tiny", img_size=32, num_frames=4, patch_size=8, drop_path_rate=0.1)
    expected = VideoMAEConfig(
        embed_dim=192,
        depth=4,
        num_heads=3,
        decoder_embed_dim=96,
        decoder_num_heads=3,
        decoder_depth=2,
        img_size=32,
        num_frames=4,
        patch_size=8,
    )
    assert model.config == expected
    assert model.options["drop_path_rate"] == pytest.approx(0.1)


def test_an_unknown_argument_is_named():
    with pytest.raises(TypeError, match="embed_dims"):
        videomae_classifier(3, embed_dims=32)
    with pytest.raises(TypeError, match="embed_dims"):
        SMALL.replace(embed_dims=32)
    with pytest.raises(dataclasses.FrozenInstanceError):
        SMALL.depth = 3  # type: ignore[misc]


def test_the_grid_names_what_does_not_divide():
    assert VideoMAEConfig().grid == (8, 14, 14) and VideoMAEConfig().num_tokens == 1568
    with pytest.raises(ValueError, match="img_size=30 a multiple of patch_size=16"):
        VideoMAEConfig(img_size=30).grid  # noqa: B018


def architecture_tables(tree: ast.Module) -> list[str]:
    """Literal tables of architecture fields: a tuple, list or set naming three or more of
    them, or a dict that gives three or more of them numbers."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            names = {e.value for e in node.elts if isinstance(e, ast.Constant)}
            if len(names & CONFIG_FIELDS) >= 3:
                found.append(f"a list of fields at line {node.lineno}")
        elif isinstance(node, ast.Dict):
            numbered = {
                k.value
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
            }
            if len(numbered & CONFIG_FIELDS) >= 3:
                found.append(f"a dict of field values at line {node.lineno}")
    return found


def grid_computations(tree: ast.Module) -> list[str]:
    """Divisions by a patch or tubelet size (`x // patch_size`, `c["img_size"] //
    c["patch_size"]`, `side //= tubelet_size`): computing the token grid."""

    def sizes(node: ast.AST) -> bool:
        name = (
            node.id
            if isinstance(node, ast.Name)
            else node.attr
            if isinstance(node, ast.Attribute)
            else node.slice.value
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            else None
        )
        return name in ("patch_size", "tubelet_size")

    found = []
    for node in ast.walk(tree):
        division = isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(
            node.op, ast.FloorDiv
        )
        if division and sizes(node.right if isinstance(node, ast.BinOp) else node.value):
            found.append(f"line {node.lineno}")
    return found


def findings(check) -> dict[str, list[str]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path.relative_to(PACKAGE.parent))
        if name not in HOMES and (found := check(ast.parse(path.read_text(), name))):
            out[name] = found
    return out


def test_no_second_table_of_the_architecture():
    assert not findings(architecture_tables)


def test_the_token_grid_is_computed_by_the_config_only():
    assert not findings(grid_computations)


def test_the_checks_catch_copies():
    """The checks themselves: an architecture table and a grid computed by hand are reported."""
    assert architecture_tables(ast.parse('ARCH = ("embed_dim", "depth", "num_heads")\n'))
    assert architecture_tables(ast.parse('S = {"embed_dim": 384, "depth": 12, "num_heads": 6}\n'))
    assert grid_computations(ast.parse("side = c['img_size'] // c['patch_size']\n"))
    assert grid_computations(ast.parse("t = self.num_frames // tubelet_size\n"))
    assert grid_computations(ast.parse("side //= config.patch_size\n"))
    assert not grid_computations(ast.parse("n = d // self.num_heads\n"))
