"""Training entry point.

    python -m videomae_ssl.train experiment=demo
    python -m videomae_ssl.train experiment=k400_pretrain mask_ratio=0.95
    python -m videomae_ssl.train experiment=ucf101_finetune pretrained=<checkpoint>
    python -m videomae_ssl.train experiment=ucf101_finetune stage=test ckpt_path=<classifier>
    python -m videomae_ssl.train experiment=ucf101_pipeline

Composes configs/ with Hydra, checks the inputs before any work, then builds the data module,
the LightningModule, loggers, callbacks and the Trainer, and fits and/or tests; pipeline
experiments run several such stages in turn. This is the only module that reads a DictConfig:
everything below it takes built objects and plain values.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from videomae_ssl.checkpoints import build_model, load_checkpoint, load_pretrained_encoder
from videomae_ssl.data.finetune_datamodule import FinetuneDataModule
from videomae_ssl.errors import ConfigError, UserInputError
from videomae_ssl.models.sizes import get_size

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


STAGES = ("fit", "test")
_ABSENT = object()


def _patch_and_tubelet(cfg: DictConfig) -> tuple[int, int]:
    """The model's patch and tubelet sizes: set in the model config, else the size's own."""
    net = cfg.model.net
    patch = net.get("patch_size") or get_size(net.get("size", "base")).patch_size
    return int(patch), int(net.get("tubelet_size") or 2)


def check_config(cfg: DictConfig) -> None:
    """Reject impossible values before anything is built, naming the key at fault."""
    if cfg.get("stage", "fit") not in STAGES:
        raise ConfigError(f"stage={cfg.stage}: choose fit (train) or test (evaluate ckpt_path).")
    data = cfg.data
    for key in ("num_frames", "input_size", "batch_size"):
        value = data.get(key)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"data.{key}={value} must be a positive integer.")
    patch_size, tubelet_size = _patch_and_tubelet(cfg)
    if data.num_frames % tubelet_size:
        raise ConfigError(
            f"data.num_frames={data.num_frames} must be a multiple of "
            f"model.net.tubelet_size={tubelet_size}."
        )
    if data.input_size % patch_size:
        raise ConfigError(
            f"data.input_size={data.input_size} must be a multiple of "
            f"model.net.patch_size={patch_size}."
        )
    if "mask_generator" in data:
        grid = (
            data.num_frames // tubelet_size,
            data.input_size // patch_size,
            data.input_size // patch_size,
        )
        hydra.utils.instantiate(cfg.masking).check(grid)
    _check_checkpoint_keys(cfg)


def _check_checkpoint_keys(cfg: DictConfig) -> None:
    ckpt_path, pretrained = cfg.get("ckpt_path"), cfg.get("pretrained")
    if cfg.get("stage", "fit") == "test":
        if not ckpt_path:
            raise ConfigError(
                "stage=test evaluates a fine-tuned classifier: set ckpt_path=<checkpoint> (ours, "
                "an original fine-tuned .pth or a Hugging Face classification folder)."
            )
        if not Path(ckpt_path).exists():
            raise ConfigError(f"ckpt_path={ckpt_path}: no such file or folder.")
        if pretrained:
            raise ConfigError(
                "stage=test evaluates ckpt_path as it is; pretrained only initialises training."
            )
        return
    if ckpt_path and not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: no such file.")
    if pretrained and not Path(pretrained).exists():
        raise ConfigError(
            f"pretrained={pretrained}: no such file or folder; give a checkpoint file "
            f"(.pth, .ckpt, .bin, .safetensors) or a Hugging Face model folder."
        )
    if pretrained and ckpt_path:
        raise ConfigError(
            "pretrained and ckpt_path are both set: ckpt_path resumes a run with all its "
            "weights, pretrained only initialises a new one; keep one of them."
        )


def build_module(
    cfg: DictConfig, datamodule: L.LightningDataModule | None = None, **built: Any
) -> L.LightningModule:
    """The LightningModule, its encoder initialised from `cfg.pretrained` when that is set
    (any supported format; the decoder keeps its initialisation, see docs/checkpoints.md).
    A fine-tuning module also gets the data module's class names and test views; `built`
    replaces config nodes with objects (e.g. `net=` a classifier read from a checkpoint)."""
    if isinstance(datamodule, FinetuneDataModule):
        built = {
            "class_names": datamodule.class_names,
            "test_views": datamodule.test_clips * datamodule.test_crops,
            "eval_settings": datamodule.eval_settings(),
            **built,
        }
    module = hydra.utils.instantiate(cfg.model, **built)
    if cfg.get("pretrained"):
        load_pretrained_encoder(module.encoder, cfg.pretrained, log=rank_zero_info)
    return module


def classifier_from_checkpoint(cfg: DictConfig) -> tuple[nn.Module, list[str] | None]:
    """The classifier in `ckpt_path` (any supported format) and its class names, checked
    against the data settings it will be tested with."""
    loaded = load_checkpoint(cfg.ckpt_path)
    if loaded.kind != "classifier":
        raise ConfigError(
            f"ckpt_path={cfg.ckpt_path}: holds {loaded.kind} weights, not a classifier; "
            f"fine-tune it first (pretrained=<checkpoint> with a *_finetune experiment)."
        )
    net = build_model(loaded)
    own = {
        "data.num_frames": (cfg.data.num_frames, loaded.config["num_frames"]),
        "data.input_size": (cfg.data.input_size, loaded.config["img_size"]),
        "data.num_classes": (cfg.data.num_classes, loaded.config["num_classes"]),
    }
    for key, (value, trained) in own.items():
        if value != trained:
            raise ConfigError(
                f"{key}={value}, but the classifier in {cfg.ckpt_path} was trained with "
                f"{trained}; set {key}={trained}."
            )
    names = [loaded.id2label[i] for i in sorted(loaded.id2label)] if loaded.id2label else None
    return net, names


def build_trainer(cfg: DictConfig) -> L.Trainer:
    callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    loggers = [hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values()]
    return hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)


def run(cfg: DictConfig) -> dict[str, Any]:
    """One stage: fit (then test when `test_after_fit`), or test `ckpt_path`. Returns the test
    metrics (empty without a test) and, after fitting, the last checkpoint's path."""
    check_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    testing = cfg.stage == "test" or cfg.get("test_after_fit", False)
    if testing and not isinstance(datamodule, FinetuneDataModule):
        raise ConfigError(
            "testing needs a classifier and labelled data: use a fine-tuning experiment "
            "(e.g. experiment=ucf101_finetune), not a pretraining one."
        )
    if cfg.stage == "fit":
        datamodule.validate_inputs("fit")
    if testing:
        datamodule.validate_inputs("test")
    built: dict[str, Any] = {}
    if cfg.stage == "test":
        built["net"], names = classifier_from_checkpoint(cfg)
        if datamodule.class_names is None and names is not None:
            datamodule.class_names = names
    module = build_module(cfg, datamodule, **built)
    trainer = build_trainer(cfg)
    print(f"Run folder: {cfg.paths.output_dir}", flush=True)
    result: dict[str, Any] = {}
    if cfg.stage == "fit":
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        result["checkpoint"] = getattr(trainer.checkpoint_callback, "last_model_path", "") or None
    if testing:
        trainer.test(module, datamodule=datamodule)
        result.update(module.test_result)
    return result


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
    command line's overrides, in `<run folder>/<stage name>/`; a stage with `init` starts
    from that earlier stage's last checkpoint. Prints `<stage> top-1: <accuracy>` for every
    stage that tested."""
    root = Path(cfg.paths.output_dir)
    results: dict[str, dict[str, Any]] = {}
    for stage in cfg.pipeline:
        kept, skipped = stage_overrides(stage.experiment, task_overrides())
        overrides = [
            f"experiment={stage.experiment}",
            *kept,
            f"paths.output_dir={root / stage.name}",
        ]
        if stage.get("init"):
            source = results.get(stage.init, {}).get("checkpoint")
            if not source:
                raise ConfigError(
                    f"pipeline stage {stage.name!r}: init={stage.init!r} names no earlier stage "
                    f"that wrote a checkpoint."
                )
            overrides.append(f"pretrained={source}")
        print(f"\n=== Stage {stage.name}: experiment={stage.experiment} ===", flush=True)
        if skipped:
            print(f"(not used by this stage: {' '.join(skipped)})", flush=True)
        stage_cfg = compose(config_name="train", overrides=overrides)
        OmegaConf.resolve(stage_cfg)
        results[stage.name] = run(stage_cfg)
    lines = [
        f"{name} top-1: {100 * result['test/top1']:.1f}%"
        for name, result in results.items()
        if "test/top1" in result
    ]
    if lines:
        print("\n" + "\n".join(lines), flush=True)
    return results


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        OmegaConf.resolve(cfg)
        if cfg.get("pipeline"):
            run_pipeline(cfg)
        else:
            run(cfg)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OmegaConfBaseException as err:
        print(f"config error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
