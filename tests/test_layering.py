"""Data flows one way: every module imports only from its own layer and the layers below it
(`LAYERS`), and nothing below the entry points imports an entry point.

An entry point is a module run as a command (`python -m videomae_ssl.<name>`): it has an
`if __name__ == "__main__":` block. Every other module of the package is library code, and a
helper that two commands share belongs in the library, not in one of the commands.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import videomae_ssl

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

PACKAGE = Path(videomae_ssl.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.Module, name: str, is_package: bool) -> set[str]:
    """Every module `tree` imports, at the top or inside functions, as absolute names; for
    `from a import b`, both `a` and `a.b` (b may be a submodule)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def type_checking_nodes(tree: ast.Module) -> set[int]:
    """Ids of the nodes inside `if TYPE_CHECKING:` blocks: names for annotations only, never
    imported when the program runs."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


def runtime_imports(tree: ast.Module, name: str, is_package: bool) -> set[str]:
    """`imported_modules` less the imports under `if TYPE_CHECKING:` (exempt from the layer
    order: an annotation may name a type from any layer)."""
    hidden = type_checking_nodes(tree)
    kept = ast.Module(
        body=[
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in hidden
        ],
        type_ignores=[],
    )
    return imported_modules(kept, name, is_package)


def is_entry_point(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            left = node.test.left
            if isinstance(left, ast.Name) and left.id == "__name__":
                return True
    return False


def package_modules() -> dict[str, tuple[ast.Module, bool]]:
    return {
        module_name(path): (ast.parse(path.read_text(), str(path)), path.name == "__init__.py")
        for path in sorted(PACKAGE.rglob("*.py"))
    }


MODULES = package_modules()
ENTRY_POINTS = {name for name, (tree, _) in MODULES.items() if is_entry_point(tree)}


def test_the_commands_are_found():
    """The walk sees the commands users run, so the test below checks something."""
    for command in ("train", "predict", "visualize", "convert", "extract", "prep.prepare"):
        assert f"videomae_ssl.{command}" in ENTRY_POINTS


@pytest.mark.parametrize("name", sorted(set(MODULES) - ENTRY_POINTS))
def test_library_module_imports_no_entry_point(name):
    tree, is_package = MODULES[name]
    wrong = sorted(imported_modules(tree, name, is_package) & ENTRY_POINTS)
    assert not wrong, f"{name} imports the entry point(s) {', '.join(wrong)}"


def test_an_entry_point_import_is_caught():
    """The check itself: a library module importing a command is reported."""
    tree = ast.parse("def f():\n    from videomae_ssl.predict import class_names\n")
    assert imported_modules(tree, "videomae_ssl.callbacks.x", False) & ENTRY_POINTS


# The layers, lowest first: a module may import from its own layer and those below it. Each
# row names the modules and packages (under videomae_ssl) of one layer. The package's own
# __init__ (which registers the config resolvers) stands outside the order.
LAYERS = (
    ("foundation", ("errors", "console", "seeding")),
    # Numbers only, no torch: the data path and the config checks read the token grid here.
    ("architecture", ("models.config", "models.sizes")),
    ("masking", ("masking",)),
    ("data", ("data",)),
    ("models", ("models",)),
    ("loss", ("loss",)),
    ("model tools", ("checkpoints", "optim", "evaluation", "viz", "flops", "run_resolvers")),
    ("frozen evaluation", ("probe",)),
    ("lightning modules", ("lightning",)),
    ("callbacks", ("callbacks",)),
    ("command support", ("cli", "output_settings", "run_folder")),
    ("stages", ("stages",)),
    ("entry points", ("train", "predict", "visualize", "extract", "convert", "prep")),
)


def layer_of(module: str) -> int | None:
    """The index in LAYERS of a module of the package (None for the package itself)."""
    parts = module.split(".")
    # The package itself, and names it defines (`from videomae_ssl import __version__`).
    if parts[0] != "videomae_ssl" or len(parts) == 1 or parts[1].startswith("__"):
        return None
    # The longest named prefix decides: models.config has a layer of its own below models.
    for end in range(len(parts), 1, -1):
        prefix = ".".join(parts[1:end])
        for index, (_, members) in enumerate(LAYERS):
            if prefix in members:
                return index
    raise KeyError(f"{module} has no place in LAYERS")


def upward_imports(tree: ast.Module, name: str, is_package: bool) -> list[str]:
    """The modules `tree` (module `name`) imports from a layer above its own."""
    own = layer_of(name)
    return sorted(
        f"{target} ({LAYERS[layer_of(target)][0]})"
        for target in runtime_imports(tree, name, is_package)
        if layer_of(target) is not None and own is not None and layer_of(target) > own
    )


def test_every_module_has_a_layer():
    """A new top-level module or package must be given its place in LAYERS."""
    for name in MODULES:
        layer_of(name)  # raises KeyError for a module LAYERS does not name
    assert {n for _, members in LAYERS for n in members} >= {"probe", "stages", "train"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_from_a_higher_layer(name):
    tree, is_package = MODULES[name]
    wrong = upward_imports(tree, name, is_package)
    assert not wrong, f"{name} ({LAYERS[layer_of(name)][0]}) imports {', '.join(wrong)}"


def test_an_upward_import_is_caught():
    """The check itself: frozen evaluation importing a LightningModule is reported, inside a
    function too, while the same import for annotations only is not."""
    inside = ast.parse(
        "def f():\n    from videomae_ssl.lightning.probe_modules import FeatureExtractor\n"
    )
    assert upward_imports(inside, "videomae_ssl.probe.x", False) == [
        "videomae_ssl.lightning.probe_modules (lightning modules)",
        "videomae_ssl.lightning.probe_modules.FeatureExtractor (lightning modules)",
    ]
    relative = ast.parse("from ..callbacks import online_probe\n")
    assert upward_imports(relative, "videomae_ssl.data.x", False)
    annotations = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from videomae_ssl.lightning.probe_modules import FeatureExtractor\n"
    )
    assert upward_imports(annotations, "videomae_ssl.probe.x", False) == []
    assert upward_imports(inside, "videomae_ssl.stages.x", False) == []  # downward


# Frozen evaluation's library works on features and encoders: Lightning, the data modules and
# the trainer's callbacks are the stage's to wire (videomae_ssl.stages.probe).
NOT_IN_PROBE = ("lightning", "pytorch_lightning", "videomae_ssl.data.datamodules")


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("videomae_ssl.probe")))
def test_frozen_evaluation_imports_no_lightning_and_no_data_module(name):
    tree, is_package = MODULES[name]
    wrong = sorted(
        m
        for m in runtime_imports(tree, name, is_package)
        if any(m == p or m.startswith(f"{p}.") for p in NOT_IN_PROBE)
    )
    assert not wrong, f"{name} imports {', '.join(wrong)}"


@pytest.mark.parametrize(
    "name", sorted(n for n in MODULES if n.startswith("videomae_ssl.lightning"))
)
def test_lightning_modules_do_not_reach_into_the_data_module(name):
    """The module owns the model, the data module its loaders: what a LightningModule needs
    from the data comes through its constructor or its batches, not `trainer.datamodule`."""
    tree, _ = MODULES[name]
    reads = [
        n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "datamodule"
    ]
    assert not reads, f"{name} reads .datamodule at line(s) {reads}"


def dev_only_dependencies() -> set[str]:
    """Import names of the development dependency group that the runtime ones do not share."""
    pyproject = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text())
    name = lambda req: re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower().replace("-", "_")  # noqa: E731
    runtime = {name(r) for r in pyproject["project"]["dependencies"]}
    return {name(r) for r in pyproject["dependency-groups"]["dev"]} - runtime


def test_the_package_needs_no_development_dependency():
    """An installed wheel has none of the dev group (transformers, pytest): code that needs one,
    such as the model-speed benchmark against transformers, lives in benchmarks/ or tests/."""
    dev = dev_only_dependencies()
    assert "transformers" in dev
    for name, (tree, is_package) in MODULES.items():
        roots = {m.split(".")[0] for m in imported_modules(tree, name, is_package)}
        assert not roots & dev, f"{name} imports {', '.join(sorted(roots & dev))}"
    tree = ast.parse("from .. import visualize\n")
    assert "videomae_ssl.visualize" in imported_modules(tree, "videomae_ssl.callbacks.x", False)


def defining_modules(name: str) -> list[str]:
    """Modules that define `name` (a function, a class or a top-level assignment)."""
    found = []
    for module, (tree, _) in MODULES.items():
        for node in tree.body:
            defined = (
                [node.name]
                if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                else [t.id for t in node.targets if isinstance(t, ast.Name)]
                if isinstance(node, ast.Assign)
                else []
            )
            if name in defined:
                found.append(module)
    return found


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("IMAGENET_MEAN", "videomae_ssl.data.transforms"),
        ("IMAGENET_STD", "videomae_ssl.data.transforms"),
        ("read_class_names", "videomae_ssl.data.annotations"),
        ("resolve_device", "videomae_ssl.cli"),
        ("untubelet", "videomae_ssl.loss.targets"),
        ("reconstruct", "videomae_ssl.viz.reconstruction"),
        ("frame_grid", "videomae_ssl.viz.frames"),
    ],
)
def test_one_home(name, home):
    assert defining_modules(name) == [home]


def test_nothing_else_parses_a_classes_file():
    """`classes.txt` is read by `read_class_names` only (commands and data modules call it)."""
    readers = [
        module
        for module, (tree, _) in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and node.name in {"read_labels", "read_class_names", "class_names_from_file"}
    ]
    assert readers == ["videomae_ssl.data.annotations"]


def test_file_names_that_collided_name_one_thing_each():
    """A name says what a file holds: one pretrain.py and one finetune.py (the data modules'),
    no sampler.py beside sampling.py, no decode.py beside readers/decoders.py, and the layout
    detector named for layouts (what it detects), beside state_dicts.py."""
    stems = [name.rsplit(".", 1)[-1] for name in MODULES]
    assert stems.count("pretrain") == 1 and "videomae_ssl.data.datamodules.pretrain" in MODULES
    assert stems.count("finetune") == 1 and "videomae_ssl.data.datamodules.finetune" in MODULES
    assert not {"sampler", "sampling"} <= set(stems)
    assert "decode" not in stems
    assert "formats" not in stems and "videomae_ssl.checkpoints.layouts" in MODULES
    assert "detect_layout" in {
        n.name
        for n in ast.walk(MODULES["videomae_ssl.checkpoints.layouts"][0])
        if isinstance(n, ast.FunctionDef)
    }
