"""Pipeline experiments: several stages in turn (e.g. pretrain, fine-tune and test, probe), each
composed from its own experiment plus the command line's overrides, a later stage starting from
an earlier one's checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from videomae_ssl.errors import ConfigError
from videomae_ssl.stages.build import say_on_rank_zero
from videomae_ssl.stages.fit import run

_ABSENT = object()


def result_lines(label: str, result: dict[str, Any]) -> list[str]:
    """`<label> top-1: x%` for a test, `<label> <probe> top-1: x%` for each probe."""
    from videomae_ssl.probe.evaluate import PROBE_NAMES

    lines = [f"{label} top-1: {100 * result['test/top1']:.1f}%"] if "test/top1" in result else []
    lines += [
        f"{label} {shown} top-1: {100 * result[f'{name}/top1']:.1f}%"
        for name, shown in PROBE_NAMES.items()
        if f"{name}/top1" in result
    ]
    return lines


def _numbers(result: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Every number of a result by name; a pipeline's stages' as `<stage>/<name>`."""
    found: dict[str, float] = {}
    for key, value in result.items():
        if isinstance(value, dict):
            found.update(_numbers(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[f"{prefix}{key}"] = float(value)
    return found


def optimized_value(result: dict[str, Any], name: str) -> float:
    """The value `optimized_metric=name` names in a run's result, or in a pipeline's (results
    by stage: `<stage>/<name>`), for a sweeper to optimise."""
    numbers = _numbers(result)
    if name not in numbers:
        raise ConfigError(
            f"optimized_metric={name}: the run logged no such value; it has "
            f"{', '.join(sorted(numbers)) or 'none'}."
        )
    return numbers[name]


def task_overrides() -> list[str]:
    """The command line's overrides of this run, less the experiment that chose a pipeline."""
    overrides = HydraConfig.get().overrides.task
    return [o for o in overrides if not o.lstrip("+~").startswith("experiment=")]


def stage_overrides(experiment: str, overrides: list[str]) -> tuple[list[str], list[str]]:
    """The overrides that apply to a stage, and those left out.

    A key that the stage's config lacks is left out: in a pipeline, keys that only some stages
    have (e.g. `+data.crop_scale=[0.5,1]` for fine-tuning) are written with `+` on the command
    line, which the stages that have the key receive as a plain override.
    """
    base = compose(config_name="train", overrides=[f"experiment={experiment}"])
    kept, skipped = [], []
    for override in overrides:
        key, _, value = override.partition("=")
        name = key.lstrip("+~")
        if "@" in name or OmegaConf.select(base, name, default=_ABSENT) is _ABSENT:
            # Group choices (trainer=cpu) are not values of the config.
            if "." not in name and "@" not in name and not key.startswith(("+", "~")):
                kept.append(override)
            else:
                skipped.append(override)
        elif key.startswith("+"):
            kept.append(f"{name}={value}")
        else:
            kept.append(override)
    return kept, skipped


def run_pipeline(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """Run `cfg.pipeline`'s stages in order, each composed from its own experiment plus the
    command line's overrides, in `<run folder>/<stage name>/` (its composed config in
    `.hydra/config.yaml` there); a stage with `init` starts from that earlier stage's last
    checkpoint (under fast_dev_run, which writes none, from its own initialisation). Prints
    `<label> top-1: <accuracy>` for every stage that tested (and `<label> kNN top-1: ...`
    for each probe of a probe stage); a stage's `label` defaults to its name. Returns each
    stage's result by name."""
    root = Path(cfg.paths.output_dir)
    results: dict[str, dict[str, Any]] = {}
    for stage in cfg.pipeline:
        kept, skipped = stage_overrides(stage.experiment, task_overrides())
        overrides = [
            f"experiment={stage.experiment}",
            *kept,
            f"paths.output_dir={root / stage.name}",
        ]
        say_on_rank_zero(f"\n=== Stage {stage.name}: experiment={stage.experiment} ===")
        if skipped:
            say_on_rank_zero(f"(not used by this stage: {' '.join(skipped)})")
        if stage.get("init"):
            source = results.get(stage.init, {}).get("checkpoint")
            if source:
                overrides.append(f"pretrained={source}")
            elif cfg.trainer.get("fast_dev_run"):
                say_on_rank_zero(
                    f"(fast_dev_run wrote no checkpoint: {stage.name} starts without {stage.init})"
                )
            else:
                raise ConfigError(
                    f"pipeline stage {stage.name!r}: init={stage.init!r} names no earlier stage "
                    f"that wrote a checkpoint."
                )
        stage_cfg = compose(config_name="train", overrides=overrides)
        OmegaConf.resolve(stage_cfg)
        saved = root / stage.name / ".hydra" / "config.yaml"
        saved.parent.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(stage_cfg, saved)
        results[stage.name] = run(stage_cfg)
    labels = {stage.name: stage.get("label") or stage.name for stage in cfg.pipeline}
    lines = [
        line for name, result in results.items() for line in result_lines(labels[name], result)
    ]
    if lines:
        say_on_rank_zero("\n" + "\n".join(lines))
    return results
