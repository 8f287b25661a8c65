"""Training entry point.

    python -m videomae_ssl.train experiment=demo
    python -m videomae_ssl.train experiment=k400_pretrain mask_ratio=0.95
    python -m videomae_ssl.train experiment=ucf101_finetune pretrained=<checkpoint>
    python -m videomae_ssl.train experiment=ucf101_finetune stage=test ckpt_path=<classifier>
    python -m videomae_ssl.train experiment=ucf101_probe pretrained=<checkpoint> probe=[knn,linear]
    python -m videomae_ssl.train experiment=ucf101_pipeline

Composes configs/ with Hydra, checks the inputs before any work, then builds the Trainer (with
its loggers and callbacks), the data module and the LightningModule, and fits and/or tests;
pipeline experiments run several such stages in turn. This is the only module that reads a
DictConfig: everything below it takes built objects and plain values. Every error in the input
ends the command with one line `error: ...` on stderr and exit status 2.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from videomae_ssl.cli import (
    INPUT_ERROR_STATUS,
    input_error,
    is_lightning_misconfiguration,
    one_line,
    report_input_error,
)
from videomae_ssl.console import LOG, say
from videomae_ssl.errors import ConfigError, DataError, UserInputError
from videomae_ssl.models.sizes import size_config

if TYPE_CHECKING:
    import lightning as L
    from torch import nn

# Torch, Lightning and timm are imported inside the functions that build things: `--help`,
# `--cfg job` and the input checks answer in a second or two instead of half a minute.


def config_dir() -> str:
    """The configs: inside the installed package (a wheel ships configs/ as videomae_ssl/configs,
    see pyproject.toml), else the source tree's top-level configs/ (a checkout or an editable
    install)."""
    package = Path(__file__).resolve().parent
    shipped = package / "configs"
    return str(shipped if shipped.is_dir() else package.parents[1] / "configs")


CONFIG_DIR = config_dir()


STAGES = ("fit", "test", "probe")
_ABSENT = object()


class Number(NamedTuple):
    """A config key that a constructor receives as a number."""

    key: str
    integer: bool
    minimum: float | None
    expected: str
    nullable: bool = False


# Checked by type before anything is built, so that a typo names the key rather than the class
# it reached (`mask_ratio=abc` used to fail inside TubeMaskGenerator). The mask ratio's range
# depends on the token grid and is checked with it, in check_config.
NUMBERS = (
    Number("mask_ratio", False, None, "a number in (0, 1)"),
    Number("seed", True, 0, "an integer >= 0"),
    Number("split", True, 1, "an integer >= 1"),
    Number("optim.base_lr", False, 0, "a number >= 0"),
    Number("optim.min_lr", False, 0, "a number >= 0"),
    Number("optim.warmup_lr", False, 0, "a number >= 0"),
    Number("optim.warmup_epochs", False, 0, "a number >= 0"),
    Number("optim.weight_decay", False, 0, "a number >= 0"),
    Number("optim.layer_decay", False, 0, "a number >= 0"),
    Number("trainer.max_epochs", True, -1, "an integer, -1 for no limit", nullable=True),
    Number("trainer.max_steps", True, -1, "an integer, -1 for no limit"),
    Number("trainer.accumulate_grad_batches", True, 1, "an integer >= 1"),
    Number("trainer.num_nodes", True, 1, "an integer >= 1"),
    Number("data.num_workers", True, 0, "an integer >= 0"),
    Number("data.num_sample", True, 1, "an integer >= 1"),
)


def _check_number(cfg: DictConfig, spec: Number) -> None:
    value = OmegaConf.select(cfg, spec.key, default=_ABSENT)
    if value is _ABSENT or (value is None and spec.nullable):
        return
    kinds = (int,) if spec.integer else (int, float)
    wrong_kind = isinstance(value, bool) or not isinstance(value, kinds)
    if wrong_kind or (spec.minimum is not None and value < spec.minimum):
        raise ConfigError(f"{spec.key}={value!r}: expected {spec.expected}.")


def _model_config(cfg: DictConfig) -> Any:
    """The model's `VideoMAEConfig` for the data's clips: its size's, with the patch and
    tubelet sizes set in the model config in their place."""
    net, data = cfg.model.net, cfg.data
    return size_config(net.get("size", "base"), img_size=data.input_size,
                       num_frames=data.num_frames, patch_size=net.get("patch_size"),
                       tubelet_size=net.get("tubelet_size"))  # fmt: skip


def _testing(cfg: DictConfig) -> bool:
    return cfg.get("stage", "fit") == "test" or bool(cfg.get("test_after_fit", False))


def check_config(cfg: DictConfig) -> None:
    """Reject impossible values before anything is built, naming the key at fault. The cheap
    checks come first: those on the token grid import torch."""
    if cfg.get("stage", "fit") not in STAGES:
        raise ConfigError(
            f"stage={cfg.stage}: choose fit (train), test (evaluate ckpt_path) or probe (frozen "
            f"evaluation of pretrained)."
        )
    for spec in NUMBERS:
        _check_number(cfg, spec)
    data = cfg.data
    for key in ("num_frames", "input_size", "batch_size"):
        value = data.get(key)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"data.{key}={value} must be a positive integer.")
    _check_checkpoint_keys(cfg)
    arch = _model_config(cfg)
    if data.num_frames % arch.tubelet_size:
        raise ConfigError(
            f"data.num_frames={data.num_frames} must be a multiple of "
            f"model.net.tubelet_size={arch.tubelet_size}."
        )
    if data.input_size % arch.patch_size:
        raise ConfigError(
            f"data.input_size={data.input_size} must be a multiple of "
            f"model.net.patch_size={arch.patch_size}."
        )
    if "mask_generator" in data:
        instantiate(cfg.masking, "masking").check(arch.grid)


def check_lists_exist(cfg: DictConfig) -> None:
    """A missing annotation file of the stage, named with its key, before anything is imported
    or built; the data module checks the files' contents later (see `validate_inputs`)."""
    stage = cfg.get("stage", "fit")
    keys = ["data.train_list", "data.val_list"] if stage in ("fit", "probe") else []
    if _testing(cfg) or stage == "probe":
        keys.append("data.test_list")
    if OmegaConf.select(cfg, "data.stream", default=None):
        return  # the lists are read from data.stream's shards; the data module checks them
    for key in keys:
        path = OmegaConf.select(cfg, key)
        if path and not os.path.exists(path):
            fmt = cfg.data.get("annotation_format", "v1")
            raise DataError(
                f"{key}={path}: no such file; set {key} to an annotation file in the {fmt} "
                f"format (see the README's Data section)."
            )


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
    if cfg.get("stage", "fit") == "probe" and ckpt_path:
        raise ConfigError(
            "stage=probe evaluates the encoder of pretrained=<checkpoint>; ckpt_path resumes "
            "training: set pretrained instead (run_name=<name> resume=auto continues an "
            "attentive probe)."
        )
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


def instantiate(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate(node)`, with a bad argument reported as a ConfigError naming
    `key`, the node's place in the config, instead of Hydra's "Error in call to target"."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, UserInputError):
            raise cause from None
        # TypeError: an argument the class does not take (`+model.foo=1`), ValueError: a value
        # it refuses, ImportError: a `_target_` that does not exist; anything else is a bug.
        if cause is None or isinstance(cause, ImportError):
            raise ConfigError(f"{key}: {one_line(str(err))}") from err
        if isinstance(cause, (TypeError, ValueError)) or is_lightning_misconfiguration(cause):
            raise ConfigError(f"{key}: {one_line(str(cause))}") from err
        raise


def build_module(
    cfg: DictConfig, datamodule: L.LightningDataModule | None = None, **built: Any
) -> L.LightningModule:
    """The LightningModule, its encoder initialised from `cfg.pretrained` when that is set
    (any supported format; the decoder keeps its initialisation, see docs/checkpoints.md).
    A fine-tuning module also gets the data module's class names and test views; `built`
    replaces config nodes with objects (e.g. `net=` a classifier read from a checkpoint).
    With `compile=true` the network is compiled with torch.compile."""
    from lightning.pytorch.utilities import rank_zero_info

    from videomae_ssl.checkpoints import load_pretrained_encoder
    from videomae_ssl.data.datamodules import FinetuneDataModule

    if isinstance(datamodule, FinetuneDataModule):
        built = {
            "class_names": datamodule.class_names,
            "test_views": datamodule.test_clips * datamodule.test_crops,
            "eval_settings": datamodule.eval_settings(),
            **built,
        }
    module = instantiate(cfg.model, "model", **built)
    if cfg.get("pretrained"):
        load_pretrained_encoder(module.encoder, cfg.pretrained, log=rank_zero_info)
    if cfg.get("compile"):
        # In place: the parameter names (and so the checkpoints) stay those of the network.
        module.net.compile()
    return module


def classifier_from_checkpoint(cfg: DictConfig) -> tuple[nn.Module, list[str] | None]:
    """The classifier in `ckpt_path` (any supported format) and its class names, checked
    against the data settings it will be tested with."""
    from videomae_ssl.checkpoints import build_model, load_checkpoint

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


GPU_ACCELERATORS = ("gpu", "cuda")


def check_accelerator(cfg: DictConfig) -> None:
    """A GPU trainer on a machine without one: say how to run on the CPU instead of Lightning's
    "No supported gpu backend found!"."""
    accelerator = cfg.trainer.get("accelerator")
    if accelerator not in GPU_ACCELERATORS:
        return
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={accelerator}: this machine has no usable GPU (CUDA); add "
            f"trainer=cpu to the command to run on the CPU (slow for the paper's models), or "
            f"trainer=ddp_cpu for two CPU processes."
        )


def step_checkpoint(cfg: DictConfig) -> Any:
    """With `checkpoint_every_n_steps=N`, a second ModelCheckpoint like `model_checkpoint` that
    writes the same last.ckpt every N optimizer steps (the first keeps the epoch ends), so that
    a job killed mid-epoch loses at most N steps."""
    every = cfg.get("checkpoint_every_n_steps")
    node = (cfg.get("callbacks") or {}).get("model_checkpoint")
    if not every or node is None:
        return None
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ConfigError(f"checkpoint_every_n_steps={every!r}: expected an integer >= 1 or null.")
    fields = OmegaConf.to_container(node, resolve=True)
    fields.update(every_n_train_steps=every, every_n_epochs=None)
    return instantiate(OmegaConf.create(fields), "checkpoint_every_n_steps")


def build_trainer(cfg: DictConfig, **overrides: Any) -> L.Trainer:
    """The Trainer with the configured callbacks and loggers; a callback or logger set to null
    (as `debug=fdr` does for those that write files) is left out. `overrides` replace
    Trainer arguments of the config."""
    groups = {"callbacks": [], "logger": []}
    for group, built in groups.items():
        for name, node in (cfg.get(group) or {}).items():
            if node is not None:
                built.append(instantiate(node, f"{group}.{name}"))
    steps = step_checkpoint(cfg)
    if steps is not None:
        groups["callbacks"].append(steps)
    return instantiate(
        cfg.trainer,
        "trainer",
        callbacks=groups["callbacks"],
        logger=groups["logger"] or False,
        **overrides,
    )


def resume_checkpoint(cfg: DictConfig) -> str | None:
    """The checkpoint `fit` starts from: `ckpt_path`, or with `resume=auto` the run folder's
    last.ckpt when there is one (a restarted job; `run_name` keeps the folder across restarts)."""
    resume, ckpt_path = cfg.get("resume"), cfg.get("ckpt_path")
    if resume is None:
        return ckpt_path
    if resume != "auto":
        raise ConfigError(
            f"resume={resume}: choose auto (continue from the run folder's last checkpoint "
            f"when there is one) or null."
        )
    if ckpt_path:
        raise ConfigError(
            "resume=auto and ckpt_path are both set: resume=auto continues this run's own "
            "folder; keep one of them."
        )
    node = (cfg.get("callbacks") or {}).get("model_checkpoint")
    folder = Path(node.dirpath if node is not None else Path(cfg.paths.output_dir) / "checkpoints")
    last = folder / "last.ckpt"
    from lightning.pytorch.utilities import rank_zero_only

    if not last.is_file():
        if rank_zero_only.rank == 0:
            say(f"resume=auto: no checkpoint in {folder} yet; starting from the beginning.")
        return None
    if rank_zero_only.rank == 0:
        import torch

        # Memory-mapped: only the two counters are read, whatever the checkpoint's size.
        state = torch.load(last, map_location="cpu", mmap=True, weights_only=True)
        say(
            f"resume=auto: continuing from {last} (epoch {state['epoch']}, step "
            f"{state['global_step']})."
        )
    return str(last)


def say_on_rank_zero(text: str) -> None:
    """`say` in the process of rank 0 only: with DDP every rank runs this command (Lightning's
    launcher and torchrun start it once per process), and one copy of a line is enough."""
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank == 0:
        say(text)


def _lightning_logs_to_the_run_log() -> None:
    """Lightning gives its `lightning` logger a stderr handler of its own when imported. Where
    the command's logging is set up (configs/hydra/default.yaml: the terminal and train.log),
    its records reach both through the root logger, and that handler would print them twice."""
    if logging.getLogger().hasHandlers():
        logging.getLogger("lightning").handlers.clear()


def run(cfg: DictConfig) -> dict[str, Any]:
    """One stage: fit (then test when `test_after_fit`), test `ckpt_path`, or probe
    `pretrained` (`run_probe`). Returns the test metrics (empty without a test) and, after
    fitting, the last checkpoint's path."""
    check_lists_exist(cfg)
    check_config(cfg)
    check_accelerator(cfg)
    if cfg.stage == "probe":
        return run_probe(cfg)
    import lightning as L

    from videomae_ssl.data.datamodules import FinetuneDataModule

    _lightning_logs_to_the_run_log()
    L.seed_everything(cfg.seed, workers=True)
    # The Trainer first: a setting the machine cannot honour (trainer=gpu without a GPU) stops
    # the run before the data is read.
    trainer = build_trainer(cfg)
    datamodule = instantiate(cfg.data, "data")
    testing = _testing(cfg)
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
    say_on_rank_zero(f"Run folder: {cfg.paths.output_dir}")
    result: dict[str, Any] = {}
    if cfg.stage == "fit":
        ckpt_path = resume_checkpoint(cfg)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        result["checkpoint"] = getattr(trainer.checkpoint_callback, "last_model_path", "") or None
    if testing:
        trainer.test(module, datamodule=datamodule)
        result.update(module.test_result)
    return result


def probe_settings(cfg: DictConfig) -> Any:
    """`cfg.probe` as `ProbeSettings`: the probes chosen (`probe=knn`, `probe=[knn,linear]`,
    ...: the option files of configs/probe/ add their nodes) and their settings."""
    from videomae_ssl.probe.evaluate import PROBE_NAMES
    from videomae_ssl.probe.settings import PROBE_SETTINGS
    from videomae_ssl.probe.stage import ProbeSettings

    node = cfg.probe
    probes = [name for name in PROBE_NAMES if node.get(name) is not None]
    if not probes:
        raise ConfigError(
            "stage=probe: no probe chosen; add probe=knn, probe=linear, probe=attentive or a "
            "list such as 'probe=[knn,linear]'."
        )
    built = {}
    for name in probes:
        values = OmegaConf.to_container(node[name], resolve=True)
        try:
            built[name] = PROBE_SETTINGS[name](**values)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"probe.{name}: {err}.") from None
    metadata = {"pretrained": str(cfg.get("pretrained") or ""),
                "num_frames": str(cfg.data.num_frames), "input_size": str(cfg.data.input_size)}  # fmt: skip
    return ProbeSettings(
        probes, Path(cfg.paths.output_dir), **built,
        embedding_points=int(node.get("embedding_points", 5000)), seed=int(cfg.seed),
        metadata=metadata,
    )  # fmt: skip


def run_probe(cfg: DictConfig) -> dict[str, Any]:
    """stage=probe: frozen evaluation of `cfg.pretrained` (or of random weights, a baseline)
    with the chosen probes on the fine-tuning data's lists (`videomae_ssl.probe.stage`)."""
    import lightning as L
    from lightning.pytorch.utilities import rank_zero_info

    from videomae_ssl.data.datamodules import FinetuneDataModule
    from videomae_ssl.probe.stage import run_frozen_evaluation

    settings = probe_settings(cfg)
    _lightning_logs_to_the_run_log()
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data, "data")
    if not isinstance(datamodule, FinetuneDataModule):
        raise ConfigError(
            "stage=probe needs labelled lists: use a probe or fine-tuning data config (e.g. "
            "experiment=ucf101_probe), not a pretraining one."
        )
    datamodule.validate_inputs("features")
    encoder = instantiate(cfg.model.net, "model.net", pretrained=cfg.get("pretrained"),
                          log=rank_zero_info)  # fmt: skip
    say_on_rank_zero(f"Run folder: {cfg.paths.output_dir}")
    if not cfg.get("pretrained"):
        say_on_rank_zero("No pretrained=<checkpoint>: probing an encoder with random weights "
                         "(the weights pretraining starts from), a baseline.")  # fmt: skip

    def extraction_trainer() -> L.Trainer:
        # The extractor keeps its features (predict_step returns nothing), by design.
        warnings.filterwarnings("ignore", message=".*predict returned None.*")
        return instantiate(cfg.trainer, "trainer", callbacks=[], logger=False,
                           enable_checkpointing=False, enable_model_summary=False)  # fmt: skip

    def attentive_trainer() -> L.Trainer:
        return build_trainer(cfg, max_epochs=settings.attentive.epochs)

    ckpt = resume_checkpoint(cfg) if "attentive" in settings.probes else None
    return run_frozen_evaluation(
        settings, encoder, datamodule, extraction_trainer, attentive_trainer, ckpt
    )


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
    for each probe of a probe stage); a stage's `label` defaults to its name."""
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
    lines = [line for name, result in results.items() for line in result_lines(labels[name], result)]
    if lines:
        say_on_rank_zero("\n" + "\n".join(lines))
    return results


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _hydra_main(cfg: DictConfig) -> None:
    try:
        OmegaConf.resolve(cfg)
        if cfg.get("pipeline"):
            run_pipeline(cfg)
        else:
            run(cfg)
    except Exception as err:
        # Caught here, inside the job: past this point Hydra logs "Error executing job" first.
        message = input_error(err)
        if message is None:
            raise
        LOG.error(f"error: {message}")  # to train.log
        report_input_error(message)
        sys.exit(INPUT_ERROR_STATUS)


def main() -> None:
    """The command: every error in the user's input, whoever finds it, ends the same way, with
    `error: <message>` on stderr and exit status 2 (see `videomae_ssl.cli.input_error`)."""
    # Hydra reports an error in composing the config (an override it cannot parse, an unknown
    # key, a missing option) itself, with its own wording and exit status 1; with
    # HYDRA_FULL_ERROR it raises it here instead.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        _hydra_main()
    except Exception as err:
        message = input_error(err)
        if message is None:
            raise
        report_input_error(message)
        sys.exit(INPUT_ERROR_STATUS)


if __name__ == "__main__":
    main()
