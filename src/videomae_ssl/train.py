"""Training entry point.

    python -m videomae_ssl.train experiment=demo
    python -m videomae_ssl.train experiment=k400_pretrain mask_ratio=0.95

Composes configs/ with Hydra, checks the inputs before any work, then builds the data module,
the LightningModule, loggers, callbacks and the Trainer, and fits. This is the only module that
reads a DictConfig: everything below it takes built objects and plain values.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import lightning as L
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from videomae_ssl.checkpoints import load_pretrained_encoder
from videomae_ssl.errors import ConfigError, UserInputError

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


def check_config(cfg: DictConfig) -> None:
    """Reject impossible values before anything is built, naming the key at fault."""
    data = cfg.data
    for key in ("num_frames", "input_size", "batch_size", "patch_size", "tubelet_size"):
        value = data.get(key)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"data.{key}={value} must be a positive integer.")
    if data.num_frames % data.tubelet_size:
        raise ConfigError(
            f"data.num_frames={data.num_frames} must be a multiple of "
            f"model.net.tubelet_size={data.tubelet_size}."
        )
    if data.input_size % data.patch_size:
        raise ConfigError(
            f"data.input_size={data.input_size} must be a multiple of "
            f"model.net.patch_size={data.patch_size}."
        )
    grid = (
        data.num_frames // data.tubelet_size,
        data.input_size // data.patch_size,
        data.input_size // data.patch_size,
    )
    hydra.utils.instantiate(cfg.masking).check(grid)
    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={cfg.ckpt_path}: no such file.")
    if cfg.get("pretrained") and not Path(cfg.pretrained).exists():
        raise ConfigError(
            f"pretrained={cfg.pretrained}: no such file or folder; give a checkpoint file "
            f"(.pth, .ckpt, .bin, .safetensors) or a Hugging Face model folder."
        )
    if cfg.get("pretrained") and cfg.get("ckpt_path"):
        raise ConfigError(
            "pretrained and ckpt_path are both set: ckpt_path resumes a run with all its "
            "weights, pretrained only initialises a new one; keep one of them."
        )


def build_module(cfg: DictConfig) -> L.LightningModule:
    """The LightningModule, its encoder initialised from `cfg.pretrained` when that is set
    (any supported format; the decoder keeps its initialisation, see docs/checkpoints.md)."""
    module = hydra.utils.instantiate(cfg.model)
    if cfg.get("pretrained"):
        load_pretrained_encoder(module.net.encoder, cfg.pretrained, log=rank_zero_info)
    return module


def build_and_fit(cfg: DictConfig) -> L.Trainer:
    check_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.validate_inputs()
    module = build_module(cfg)
    callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    loggers = [hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values()]
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    print(f"Run folder: {cfg.paths.output_dir}", flush=True)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    return trainer


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        OmegaConf.resolve(cfg)
        build_and_fit(cfg)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OmegaConfBaseException as err:
        print(f"config error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
