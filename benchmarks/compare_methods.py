"""The methods side by side on the demo, each with several seeds, in one table.

    uv run python benchmarks/compare_methods.py
    uv run python benchmarks/compare_methods.py --seeds 0 1 2 --rows pixel hog tube
    uv run python benchmarks/compare_methods.py --dry-run

Every pretraining row is `experiment=demo_pretrain` with its own overrides (the target, the
mask), at the demo's budget, followed by the kNN probe of its encoder (`experiment=demo_probe`)
and the fine-tuning and multi-view test of a classifier started from it
(`experiment=demo_finetune`). The distillation rows train the demo's classifier from scratch,
once without a teacher and once distilled from the fine-tuned classifier of the `pixel` row
with the same seed (`experiment=demo_distill`); the `teacher` row pretrains against the
features of the `pixel` row's encoder with the same seed (MVD's video teacher).

Each stage runs as its own process (`python -m videomae_ssl.train`'s composition and stages, in
a fresh interpreter) in `<out>/<row>/seed_<s>/<stage>/`, and leaves `result.json` there: a
later call reuses the stages that finished (`--fresh` runs them again), so rows and seeds can
be added one at a time. The table gives, per row, the kNN and fine-tuned top-1 as the mean and
the range (min-max) over the seeds, and the pretraining time (wall clock and CPU seconds of
its process and its workers); it is printed and written as CSV to `--csv`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Row:
    """One method: `pretrain` overrides of experiment=demo_pretrain (None: no pretraining),
    or a classifier trained `distill`-ed from the pixel row's fine-tuned classifier."""

    name: str
    description: str
    pretrain: tuple[str, ...] | None = ()
    teacher_from_pixel: bool = False
    distill: bool = False
    needs: tuple[str, ...] = field(default=())


ROWS = {
    row.name: row
    for row in (
        Row("pixel", "VideoMAE: pixels, random masking 0.75 (the demo's recipe)"),
        Row("hog", "MaskFeat's HOG target, random masking 0.75", ("target=hog",)),
        Row(
            "teacher",
            "MVD: features of the pixel row's encoder (video teacher), random masking 0.75",
            ("target=teacher",),
            teacher_from_pixel=True,
            needs=("pixel",),
        ),
        Row("tube", "pixels, tube masking 0.75 (VideoMAE's mask)", ("masking=tube",)),
        Row("motion", "pixels, motion-guided masking 0.75 (MGM)", ("masking=motion",)),
        Row("scratch", "no pretraining: the classifier fine-tuned from scratch", None),
        Row(
            "distilled",
            "no pretraining: the classifier distilled from the pixel row's fine-tuned classifier",
            None,
            distill=True,
            needs=("pixel",),
        ),
    )
}


@dataclass
class Stage:
    """One command of a row: its experiment, overrides and folder."""

    experiment: str
    overrides: list[str]
    folder: Path

    def command(self) -> list[str]:
        return [sys.executable, __file__, "--stage", json.dumps(self.spec())]

    def spec(self) -> dict:
        return {
            "overrides": [f"experiment={self.experiment}", *self.overrides],
            "folder": str(self.folder),
        }

    @property
    def result_file(self) -> Path:
        return self.folder / "result.json"


def checkpoint_of(folder: Path) -> Path:
    return folder / "checkpoints" / "last.ckpt"


def budget_folder(out: Path, pretrain_epochs: int | None) -> Path:
    """Where the runs of one pretraining budget live (None: the demo's own)."""
    return out / (
        "demo_budget" if pretrain_epochs is None else f"pretrain_{pretrain_epochs}_epochs"
    )


def stages_of(
    row: Row, seed: int, out: Path, pretrain_epochs: int | None = None
) -> dict[str, Stage]:
    """The stages of one row and seed, by name, in the order they run; `pretrain_epochs`
    shortens (or lengthens) pretraining (None: the demo's 64 epochs)."""
    out = budget_folder(out, pretrain_epochs)
    base = out / row.name / f"seed_{seed}"
    common = [f"seed={seed}"]
    pixel = out / "pixel" / f"seed_{seed}"
    stages: dict[str, Stage] = {}
    if row.pretrain is not None:
        extra = list(row.pretrain)
        if row.teacher_from_pixel:
            extra.append(f"target.video_teacher={checkpoint_of(pixel / 'pretrain')}")
        if pretrain_epochs is not None:
            extra.append(f"trainer.max_epochs={pretrain_epochs}")
        stages["pretrain"] = Stage("demo_pretrain", [*common, *extra], base / "pretrain")
        encoder = f"pretrained={checkpoint_of(base / 'pretrain')}"
        stages["knn"] = Stage("demo_probe", [*common, encoder], base / "knn")
        stages["finetune"] = Stage("demo_finetune", [*common, encoder], base / "finetune")
    elif row.distill:
        teacher = f"distill.teacher={checkpoint_of(pixel / 'finetune')}"
        stages["finetune"] = Stage("demo_distill", [*common, teacher], base / "finetune")
    else:
        stages["finetune"] = Stage("demo_finetune", common, base / "finetune")
    return stages


def run_stage(stage: Stage, fresh: bool) -> dict:
    """Run one stage in its own process (unless its result is there and not `fresh`); returns
    its result with the stage's wall-clock and CPU seconds."""
    if stage.result_file.exists() and not fresh:
        return json.loads(stage.result_file.read_text())
    stage.folder.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(stage.folder / "log.txt", "w") as log:
        done = subprocess.run(stage.command(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        tail = (stage.folder / "log.txt").read_text().strip().splitlines()[-5:]
        raise RuntimeError(
            f"{' '.join(stage.spec()['overrides'])} failed (exit {done.returncode}); "
            f"the end of {stage.folder / 'log.txt'}:\n" + "\n".join(tail)
        )
    result = json.loads(stage.result_file.read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.update(wall_s=wall, cpu_s=cpu)
    stage.result_file.write_text(json.dumps(result, indent=1))
    return result


def stage_main(spec: dict) -> None:
    """In the child process: compose the training command's config with these overrides,
    run it (`videomae_ssl.stages.fit.run`) in `folder` and write its numbers to result.json."""
    from hydra import compose, initialize_config_dir

    from videomae_ssl.stages.fit import run
    from videomae_ssl.train import CONFIG_DIR

    folder = Path(spec["folder"])
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                *spec["overrides"],
                f"paths.root_dir={ROOT}",
                f"paths.output_dir={folder}",
                "overwrite=true",
            ],
        )
    result = run(cfg)
    numbers = {
        k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    (folder / "result.json").write_text(json.dumps(numbers, indent=1))


def compose_check(stage: Stage) -> None:
    """Compose a stage's config without running it (--dry-run)."""
    from hydra import compose, initialize_config_dir

    from videomae_ssl.train import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        compose(
            config_name="train",
            overrides=[
                *stage.spec()["overrides"],
                f"paths.root_dir={ROOT}",
                f"paths.output_dir={stage.folder}",
            ],
        )


def spread(values: list[float]) -> tuple[float, float, float] | None:
    """(mean, min, max), or None without values."""
    if not values:
        return None
    return statistics.fmean(values), min(values), max(values)


def summarise(row: Row, results: list[dict[str, dict]]) -> dict[str, object]:
    """One table row from the results of each seed ({stage: result})."""

    def pick(stage: str, key: str, scale: float = 1.0) -> tuple[float, float, float] | None:
        values = [r[stage][key] * scale for r in results if key in r.get(stage, {})]
        return spread(values)

    return {
        "row": row.name,
        "method": row.description,
        "seeds": len(results),
        "knn_top1": pick("knn", "knn/top1", 100),
        "finetune_top1": pick("finetune", "test/top1", 100),
        "pretrain_wall_s": pick("pretrain", "wall_s"),
        "pretrain_cpu_s": pick("pretrain", "cpu_s"),
    }


def cell(value: tuple[float, float, float] | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    mean, low, high = value
    return f"{mean:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def table(summaries: list[dict[str, object]]) -> str:
    """A Markdown table: mean (min-max) over the seeds."""
    lines = [
        "| row | method | seeds | kNN top-1 % | fine-tuned top-1 % | pretraining s (wall) | "
        "pretraining s (CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s['row']} | {s['method']} | {s['seeds']} | {cell(s['knn_top1'])} | "
            f"{cell(s['finetune_top1'])} | {cell(s['pretrain_wall_s'], 0)} | "
            f"{cell(s['pretrain_cpu_s'], 0)} |"
        )
    return "\n".join(lines)


def write_csv(path: Path, summaries: list[dict[str, object]]) -> None:
    """One line per row: each measure's mean, min and max over the seeds (empty where none)."""
    measures = ("knn_top1", "finetune_top1", "pretrain_wall_s", "pretrain_cpu_s")
    header = ["row", "method", "seeds"] + [
        f"{m}_{part}" for m in measures for part in ("mean", "min", "max")
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for s in summaries:
            numbers = []
            for m in measures:
                value = s[m]
                numbers += ["", "", ""] if value is None else [f"{v:.4f}" for v in value]
            writer.writerow([s["row"], s["method"], s["seeds"], *numbers])


def ordered(names: list[str]) -> list[Row]:
    """The rows asked for, with the rows they need first (the pixel row before teacher)."""
    chosen: list[Row] = []
    for name in names:
        for needed in (*ROWS[name].needs, name):
            if ROWS[needed] not in chosen:
                chosen.append(ROWS[needed])
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "compare_methods")
    p.add_argument("--csv", type=Path, default=None, help="default: <out>/<budget>/comparison.csv")
    p.add_argument(
        "--pretrain-epochs",
        type=int,
        default=None,
        help="pretraining epochs of every row (default: the demo's, 64)",
    )
    p.add_argument("--fresh", action="store_true", help="run stages that have a result again")
    p.add_argument("--dry-run", action="store_true", help="compose every stage, run none")
    p.add_argument(
        "--report",
        action="store_true",
        help="run nothing: the table of the stages that have finished (seeds counted per row)",
    )
    p.add_argument("--stage", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.stage:
        stage_main(json.loads(a.stage))
        return 0
    rows = ordered(a.rows)
    out = a.out.resolve()
    per_row: dict[str, list[dict[str, dict]]] = {row.name: [] for row in rows}
    for seed in a.seeds:
        for row in rows:
            results: dict[str, dict] = {}
            for name, stage in stages_of(row, seed, out, a.pretrain_epochs).items():
                if a.dry_run:
                    compose_check(stage)
                    print(" ".join(["train", *stage.spec()["overrides"]]))
                    continue
                if a.report:
                    if stage.result_file.exists():
                        results[name] = json.loads(stage.result_file.read_text())
                    continue
                print(f"{row.name} seed {seed}: {name} ...", flush=True)
                results[name] = run_stage(stage, a.fresh)
            if len(results) == len(stages_of(row, seed, out, a.pretrain_epochs)):
                per_row[row.name].append(results)
    if a.dry_run:
        return 0
    summaries = [summarise(row, per_row[row.name]) for row in rows if per_row[row.name]]
    budget = "the demo's 64" if a.pretrain_epochs is None else str(a.pretrain_epochs)
    text = table(summaries)
    print(f"\nPretraining epochs: {budget}; seeds {' '.join(map(str, a.seeds))}.\n{text}")
    path = a.csv or budget_folder(out, a.pretrain_epochs) / "comparison.csv"
    write_csv(path, summaries)
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
