"""Data flows one way: nothing below the entry points imports an entry point.

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
