"""Model sizes: one module holds the numbers, imports no torch, and feeds the config resolver."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import videomae_ssl
from videomae_ssl import run_resolvers
from videomae_ssl.models import sizes

PACKAGE = Path(videomae_ssl.__file__).parent
HOME = "videomae_ssl.models.sizes"
# Encoder widths of the published sizes: a literal table keyed by several of them is a copy.
WIDTHS = {384, 768, 1024, 1280, 1408}
# What a size decides (the input geometry is a run's).
SIZE_FIELDS = {
    "embed_dim",
    "depth",
    "num_heads",
    "decoder_embed_dim",
    "decoder_depth",
    "decoder_num_heads",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def size_definitions(tree: ast.Module) -> list[str]:
    """What in `tree` defines size numbers: `vit_*` builders, a `SIZES` table, `VideoMAEConfig(...)`
    calls with numeric widths, depths or heads, literal tables keyed by the published widths."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("vit_"):
            found.append(f"def {node.name}")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "SIZES" for t in targets):
                found.append("SIZES =")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "VideoMAEConfig":
            sized = [
                k
                for k in node.keywords
                if k.arg in SIZE_FIELDS and isinstance(k.value, ast.Constant)
            ]
            if sized:
                found.append(f"VideoMAEConfig(...) with numbers at line {node.lineno}")
        elif isinstance(node, ast.Dict):
            keys = [k for k in node.keys if isinstance(k, ast.Constant)]
            keys += [e for k in node.keys if isinstance(k, ast.Tuple) for e in k.elts[:1]]
            ints = {
                k.value for k in keys if isinstance(k, ast.Constant) and isinstance(k.value, int)
            }
            if len(ints & WIDTHS) >= 3:
                found.append(f"a table keyed by widths at line {node.lineno}")
    return found


def definitions_by_module() -> dict[str, list[str]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if found := size_definitions(ast.parse(path.read_text(), str(path))):
            out[module_name(path)] = found
    return out


def test_the_size_numbers_are_defined_in_one_module():
    found = definitions_by_module()
    assert HOME in found and "def vit_base" in found[HOME] and "SIZES =" in found[HOME]
    elsewhere = {name: what for name, what in found.items() if name != HOME}
    assert not elsewhere, f"size numbers defined outside {HOME}: {elsewhere}"


def test_a_copied_table_is_caught():
    """The check itself: a head table written out by width, or a builder, is reported."""
    assert size_definitions(ast.parse("HEADS = {384: 6, 768: 12, 1024: 16}\n"))
    assert size_definitions(
        ast.parse("NAMES = {(768, 12): 'B', (1024, 24): 'L', (1280, 32): 'H'}\n")
    )
    assert size_definitions(ast.parse("def vit_base():\n    return 1\n"))
    assert size_definitions(ast.parse("c = VideoMAEConfig(embed_dim=384, depth=12)\n"))


def test_the_former_homes_are_gone():
    """No alias module (`videomae_ssl.model_sizes`) and no lazy attribute on the sizes module
    that imported the builders back (the cycle build.py <-> sizes.py)."""
    code = "import importlib.util as u; print(u.find_spec('videomae_ssl.model_sizes'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None", out.stderr
    assert not hasattr(sizes, "__getattr__")
    for name in ("videomae_pretrain", "videomae_classifier"):
        assert not hasattr(sizes, name)


def models_imports() -> dict[str, set[str]]:
    """models/<module> -> the models/ modules it imports (at the top or inside functions)."""
    found = {}
    for path in sorted((PACKAGE / "models").glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "videomae_ssl.models"
            ):
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
        found[f"videomae_ssl.models.{path.stem}"] = names
    return found


def test_no_import_cycle_in_models():
    graph = models_imports()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()) & set(graph):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(m for m in graph if m != "videomae_ssl.models.__init__" and reaches(m, m, {m}))
    assert not cycles, f"modules of models/ that import themselves back: {cycles}"


def test_the_sizes_import_no_torch():
    code = "import sys, videomae_ssl.models.sizes; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_the_resolver_reads_the_sizes_module():
    OmegaConf.clear_resolver("model_size")
    run_resolvers.register_resolvers()
    cfg = OmegaConf.create({"size": "giant", "patch": "${model_size:${size},patch_size}"})
    assert cfg.patch == sizes.get_size("giant").patch_size == 14
    with pytest.raises(Exception, match="no field 'width'"):
        OmegaConf.to_container(OmegaConf.create({"x": "${model_size:base,width}"}), resolve=True)


def test_the_checkpoint_tables_come_from_the_sizes():
    from videomae_ssl.checkpoints import state_dicts as layouts

    for name in sizes.SIZES:
        s = sizes.get_size(name)
        assert layouts.STANDARD_HEADS[s.embed_dim] == s.num_heads
        assert layouts.STANDARD_DECODER_HEADS[s.decoder_embed_dim] == s.decoder_num_heads
    assert layouts.SIZE_NAMES[(768, 12)] == "ViT-B" and layouts.SIZE_NAMES[(1408, 40)] == "ViT-g"
