"""The speed benchmark on a tiny configuration: its rows, its JSON and its FLOP count."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from test_flops import hand_count_tiny_pretrain_step

pytest.importorskip("transformers")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "model_speed.py"
_spec = importlib.util.spec_from_file_location("model_speed", SCRIPT)
bench = importlib.util.module_from_spec(_spec)
sys.modules["model_speed"] = bench
_spec.loader.exec_module(bench)

ARGS = [
    "--sizes",
    "tiny",
    "--frames",
    "4",
    "--img-size",
    "32",
    "--batches",
    "2",
    "--repeats",
    "2",
    "--mask-ratios",
    "0.9,0.5",
    "--threads",
    "1",
]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    assert bench.main([*ARGS, "--json", str(path)]) == 0
    return json.loads(path.read_text())


def test_rows_hold_the_fields(result):
    rows = result["rows"]
    # The second mask ratio runs on the same models: both libraries start it from equal weights.
    assert [(r["what"], r["mask_ratio"], r["decoder_mask_ratio"]) for r in rows] == [
        ("pretrain_step", 0.9, 0.0),
        ("pretrain_step", 0.9, 0.5),
        ("pretrain_step", 0.5, 0.0),
        ("pretrain_step", 0.5, 0.5),
        ("classify", None, 0.0),
    ]
    for r in rows:
        for key in (
            "what",
            "model",
            "batch",
            "mask_ratio",
            "decoder_mask_ratio",
            "ours_clips_per_s",
            "hf_clips_per_s",
            "ratio",
            "flops_fraction",
        ):
            assert key in r, key
        assert r["batch"] == 2 and r["ours_clips_per_s"] > 0 and r["flops_fraction"] > 0
    plain, decoder_masked, _, _, classify = rows
    assert plain["ratio"] == pytest.approx(plain["ours_clips_per_s"] / plain["hf_clips_per_s"])
    assert decoder_masked["hf_clips_per_s"] is None  # transformers has no decoder masking
    assert decoder_masked["ratio"] == pytest.approx(
        decoder_masked["ours_clips_per_s"] / plain["hf_clips_per_s"]
    )
    assert classify["mask_ratio"] is None and classify["hf_clips_per_s"] > 0
    assert result["machine"]["torch_threads"] == 1 and result["matmul_gflops"] > 0


def test_flop_count_is_the_hand_count(result):
    assert result["rows"][0]["gflop_per_clip"] * 1e9 == pytest.approx(
        hand_count_tiny_pretrain_step()
    )


def test_table_has_a_line_per_row(result):
    lines = result["table"].splitlines()
    assert lines[0].startswith("| what | model | batch")
    assert len(lines) == 2 + len(result["rows"])
