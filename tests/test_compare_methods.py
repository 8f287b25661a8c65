"""The method comparison (benchmarks/compare_methods.py): which commands each row runs, and the
table and CSV it makes of the seeds' results."""

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_methods.py"
_spec = importlib.util.spec_from_file_location("compare_methods", SCRIPT)
compare = importlib.util.module_from_spec(_spec)
sys.modules["compare_methods"] = compare
_spec.loader.exec_module(compare)


def test_rows_that_need_the_pixel_row_run_after_it():
    names = [row.name for row in compare.ordered(["teacher", "hog", "distilled"])]
    assert names.index("pixel") < names.index("teacher")
    assert names.index("pixel") < names.index("distilled")
    assert names.count("pixel") == 1


def test_teacher_and_distilled_rows_read_the_pixel_row_of_their_seed(tmp_path):
    out = tmp_path
    tmp_path = tmp_path / "demo_budget"
    teacher = compare.stages_of(compare.ROWS["teacher"], 2, out)
    pixel_ckpt = tmp_path / "pixel" / "seed_2" / "pretrain" / "checkpoints" / "last.ckpt"
    assert f"target.video_teacher={pixel_ckpt}" in teacher["pretrain"].overrides
    assert "seed=2" in teacher["pretrain"].overrides
    own = tmp_path / "teacher" / "seed_2" / "pretrain" / "checkpoints" / "last.ckpt"
    assert f"pretrained={own}" in teacher["finetune"].overrides
    assert f"pretrained={own}" in teacher["knn"].overrides
    distilled = compare.stages_of(compare.ROWS["distilled"], 1, out)
    assert list(distilled) == ["finetune"]
    classifier = tmp_path / "pixel" / "seed_1" / "finetune" / "checkpoints" / "last.ckpt"
    assert distilled["finetune"].experiment == "demo_distill"
    assert f"distill.teacher={classifier}" in distilled["finetune"].overrides
    scratch = compare.stages_of(compare.ROWS["scratch"], 0, out)
    assert [(s.experiment, s.overrides) for s in scratch.values()] == [
        ("demo_finetune", ["seed=0"])
    ]


def test_summary_is_mean_and_range_over_seeds():
    results = [
        {"knn": {"knn/top1": 0.5}, "finetune": {"test/top1": 0.25}, "pretrain": {"wall_s": 10}},
        {"knn": {"knn/top1": 0.7}, "finetune": {"test/top1": 0.75}, "pretrain": {"wall_s": 30}},
        {"knn": {"knn/top1": 0.9}, "finetune": {"test/top1": 0.5}, "pretrain": {"wall_s": 20}},
    ]
    s = compare.summarise(compare.ROWS["pixel"], results)
    assert s["seeds"] == 3
    assert s["knn_top1"] == pytest.approx((70.0, 50.0, 90.0))
    assert s["finetune_top1"] == pytest.approx((50.0, 25.0, 75.0))
    assert s["pretrain_wall_s"] == pytest.approx((20.0, 10.0, 30.0))
    assert s["pretrain_cpu_s"] is None
    line = compare.table([s]).splitlines()[-1]
    assert "| 70.0 (50.0-90.0) | 50.0 (25.0-75.0) | 20 (10-30) | - |" in line


def test_csv_has_one_line_per_row_with_empty_cells_for_missing_measures(tmp_path):
    results = [{"finetune": {"test/top1": 0.125}}, {"finetune": {"test/top1": 0.375}}]
    s = compare.summarise(compare.ROWS["scratch"], results)
    path = tmp_path / "table.csv"
    compare.write_csv(path, [s])
    (line,) = list(csv.DictReader(path.open()))
    assert line["row"] == "scratch" and line["seeds"] == "2"
    assert float(line["finetune_top1_mean"]) == pytest.approx(25.0)
    assert float(line["finetune_top1_min"]) == pytest.approx(12.5)
    assert float(line["finetune_top1_max"]) == pytest.approx(37.5)
    assert line["knn_top1_mean"] == line["pretrain_wall_s_max"] == ""


def test_finished_stages_are_reused_not_run_again(tmp_path):
    stage = compare.Stage("demo_finetune", ["seed=0"], tmp_path / "finetune")
    stage.folder.mkdir()
    stage.result_file.write_text(json.dumps({"test/top1": 0.5, "wall_s": 1.0}))
    assert compare.run_stage(stage, fresh=False) == {"test/top1": 0.5, "wall_s": 1.0}


def test_a_failing_stage_names_its_log(tmp_path):
    stage = compare.Stage("no_such_experiment", ["seed=0"], tmp_path / "bad")
    with pytest.raises(RuntimeError, match="log.txt"):
        compare.run_stage(stage, fresh=False)
    assert (tmp_path / "bad" / "log.txt").read_text().strip()


@pytest.mark.parametrize("row", ["pixel", "hog", "tube", "scratch"])
def test_every_stage_of_a_row_composes(row, tmp_path):
    for stage in compare.stages_of(compare.ROWS[row], 0, tmp_path).values():
        compare.compose_check(stage)


def test_a_pretraining_budget_shortens_pretraining_only_in_its_own_folder(tmp_path):
    stages = compare.stages_of(compare.ROWS["hog"], 0, tmp_path, pretrain_epochs=16)
    assert "trainer.max_epochs=16" in stages["pretrain"].overrides
    assert not any("max_epochs" in o for o in stages["finetune"].overrides)
    assert stages["pretrain"].folder.is_relative_to(tmp_path / "pretrain_16_epochs")
    default = compare.stages_of(compare.ROWS["hog"], 0, tmp_path)
    assert not any("max_epochs" in o for o in default["pretrain"].overrides)
    assert default["pretrain"].folder.is_relative_to(tmp_path / "demo_budget")


def test_report_tables_the_finished_seeds_of_each_row_and_runs_nothing(tmp_path, capsys):
    def finish(row, seed, numbers):
        for name, stage in compare.stages_of(compare.ROWS[row], seed, tmp_path).items():
            stage.folder.mkdir(parents=True)
            stage.result_file.write_text(json.dumps(numbers[name]))

    finish("pixel", 0, {"pretrain": {"wall_s": 5}, "knn": {"knn/top1": 0.5}, "finetune": {}})
    finish("scratch", 0, {"finetune": {"test/top1": 0.25}})
    finish("scratch", 1, {"finetune": {"test/top1": 0.5}})
    hog = compare.stages_of(compare.ROWS["hog"], 0, tmp_path)["pretrain"]  # unfinished row
    hog.folder.mkdir(parents=True)
    hog.result_file.write_text("{}")
    argv = ["--report", "--out", str(tmp_path), "--rows", "pixel", "hog", "scratch"]
    assert compare.main(argv) == 0
    with open(tmp_path / "demo_budget" / "comparison.csv") as f:
        rows = {line["row"]: line for line in csv.DictReader(f)}
    assert set(rows) == {"pixel", "scratch"}
    assert rows["pixel"]["seeds"] == "1" and rows["scratch"]["seeds"] == "2"
    assert float(rows["scratch"]["finetune_top1_mean"]) == pytest.approx(37.5)
    assert float(rows["pixel"]["knn_top1_max"]) == pytest.approx(50.0)
    assert "..." not in capsys.readouterr().out  # no stage was started
