"""What the stages build from the config: the Trainer (with its loggers and callbacks), the
LightningModule, the classifier a test reads, and the checkpoint a fit resumes from. A bad
argument is a ConfigError naming its place in the config (`instantiate`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from videomae_ssl.cli import is_lightning_misconfiguration, one_line
from videomae_ssl.console import say
from videomae_ssl.errors import ConfigError, UserInputError

if TYPE_CHECKING:
    import lightning as L
    from torch import nn


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
    from videomae_ssl.stages.teachers import teacher_parts

    if isinstance(datamodule, FinetuneDataModule):
        built = {
            "class_names": datamodule.class_names,
            "test_views": datamodule.test_clips * datamodule.test_crops,
            "eval_settings": datamodule.eval_settings(),
            **built,
        }
    built = {**teacher_parts(cfg), **built}  # target=teacher: the net sized by its teachers
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


def build_loggers(cfg: DictConfig) -> list[Any]:
    """The configured loggers (one set to null is left out), each given the run's resolved
    config: the dataset, mask ratio, seed and the rest, beside the module's hyperparameters
    that Lightning logs itself."""
    from videomae_ssl.callbacks.logger_media import log_config

    loggers = [
        instantiate(node, f"logger.{name}")
        for name, node in (cfg.get("logger") or {}).items()
        if node is not None
    ]
    # fast_dev_run (debug=fdr) writes no metrics: Lightning swaps the loggers for a dummy.
    if not OmegaConf.select(cfg, "trainer.fast_dev_run", default=None):
        log_config(loggers, OmegaConf.to_container(cfg, resolve=True))
    return loggers


def build_trainer(cfg: DictConfig, loggers: list[Any] | None = None, **overrides: Any) -> L.Trainer:
    """The Trainer with the configured callbacks and loggers (`loggers`: ones built already,
    see `build_loggers`); a callback or logger set to null (as `debug=fdr` does for those that
    write files) is left out. `overrides` replace Trainer arguments of the config."""
    callbacks = [
        instantiate(node, f"callbacks.{name}")
        for name, node in (cfg.get("callbacks") or {}).items()
        if node is not None
    ]
    steps = step_checkpoint(cfg)
    if steps is not None:
        callbacks.append(steps)
    if loggers is None:
        loggers = build_loggers(cfg)
    return instantiate(
        cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False, **overrides
    )


def resume_checkpoint(cfg: DictConfig) -> str | None:
    """The checkpoint `fit` starts from: `ckpt_path`, or with `resume=auto` the newest (by step)
    of the run folder's last.ckpt and the `hpc_ckpt_<n>.ckpt` Lightning saves there when SLURM
    signals a requeue (a restarted job; `run_name` keeps the folder across restarts)."""
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
    candidates = [folder / "last.ckpt", *sorted(Path(cfg.paths.output_dir).glob("hpc_ckpt_*.ckpt"))]
    from lightning.pytorch.utilities import rank_zero_only

    newest, newest_state = None, None
    for path in candidates:
        if not path.is_file():
            continue
        import torch

        # Memory-mapped: only the two counters are read, whatever the checkpoint's size. Every
        # rank reads them, so that all start from the same file.
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        if newest_state is None or state["global_step"] > newest_state["global_step"]:
            newest, newest_state = path, state
    if newest is None:
        if rank_zero_only.rank == 0:
            say(f"resume=auto: no checkpoint in {folder} yet; starting from the beginning.")
        return None
    if rank_zero_only.rank == 0:
        say(
            f"resume=auto: continuing from {newest} (epoch {newest_state['epoch']}, step "
            f"{newest_state['global_step']})."
        )
    return str(newest)


def say_on_rank_zero(text: str) -> None:
    """`say` in the process of rank 0 only: with DDP every rank runs the command (Lightning's
    launcher and torchrun start it once per process), and one copy of a line is enough."""
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank == 0:
        say(text)


def lightning_logs_to_the_run_log() -> None:
    """Lightning gives its `lightning` logger a stderr handler of its own when imported. Where
    the command's logging is set up (configs/hydra/default.yaml: the terminal and train.log),
    its records reach both through the root logger, and that handler would print them twice."""
    if logging.getLogger().hasHandlers():
        logging.getLogger("lightning").handlers.clear()
