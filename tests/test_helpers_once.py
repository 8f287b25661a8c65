"""A test helper is written once: two test files that need the same builder share it through a
conftest (or a helper module such as clips.py) instead of each keeping a copy that drifts."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parent
MIN_LINES = 5  # shorter helpers (a one-line generator) are clearer written in place


class _Blank(ast.NodeTransformer):
    """Constants blanked, so a copy with another clip count or file name still matches."""

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        return ast.Constant(value=None)


def _shape(function: ast.FunctionDef) -> str:
    body = [
        s
        for s in function.body
        if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))  # docstring
    ]
    return ast.dump(_Blank().visit(ast.Module(body=body, type_ignores=[])))


def copies(sources: dict[str, str]) -> list[list[str]]:
    """Groups of `file:function` whose bodies are the same code, across different files."""
    found: dict[str, list[str]] = defaultdict(list)
    for name, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 >= MIN_LINES:
                found[_shape(node)].append(f"{name}:{node.name}")
    return [group for group in found.values() if len({g.split(":")[0] for g in group}) > 1]


def test_no_helper_is_copied_between_test_files():
    sources = {str(p.relative_to(TESTS)): p.read_text() for p in sorted(TESTS.rglob("*.py"))}
    assert not copies(sources), "helpers written twice: " + "; ".join(
        map(", ".join, copies(sources))
    )


def test_a_copy_with_other_constants_is_found():
    helper = "def module(folder):\n    args = dict(\n        root=str(folder),\n        size={},\n    )\n    return args\n"
    found = copies({"a.py": helper.format(32), "b.py": helper.format(64)})
    assert found == [["a.py:module", "b.py:module"]]
