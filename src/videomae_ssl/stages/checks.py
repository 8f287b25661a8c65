"""The config checks of the training command: impossible values, missing files and machines
that cannot run the trainer are rejected before anything is built, naming the key at fault.

Importable without torch or Lightning: a check answers in a second or two. Only the checks of
the token grid (the mask generator's `check`, the target's `dim`) and of the accelerator import
torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from omegaconf import DictConfig, OmegaConf

from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.models.config import VideoMAEConfig
from videomae_ssl.models.sizes import size_config
from videomae_ssl.stages.build import instantiate
from videomae_ssl.stages.distill import check_distill
from videomae_ssl.stages.teachers import check_teachers, uses_teachers

STAGES = ("fit", "test", "probe", "distill")
# The stages that train: a plain fit, and a fit with a teacher (stages.distill).
FIT_STAGES = ("fit", "distill")
GPU_ACCELERATORS = ("gpu", "cuda")
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


def model_config(cfg: DictConfig) -> VideoMAEConfig:
    """The model's `VideoMAEConfig` for the data's clips: its size's, with the patch and
    tubelet sizes set in the model config in their place."""
    net, data = cfg.model.net, cfg.data
    return size_config(
        net.get("size", "base"),
        img_size=data.input_size,
        num_frames=data.num_frames,
        patch_size=net.get("patch_size"),
        tubelet_size=net.get("tubelet_size"),
    )


def fitting(cfg: DictConfig) -> bool:
    """Whether the run trains: stage=fit, or stage=distill (a fit with a teacher)."""
    return cfg.get("stage", "fit") in FIT_STAGES


def testing(cfg: DictConfig) -> bool:
    """Whether the run tests: stage=test, or a fit with `test_after_fit`."""
    return cfg.get("stage", "fit") == "test" or bool(cfg.get("test_after_fit", False))


def check_config(cfg: DictConfig) -> None:
    """Reject impossible values before anything is built, naming the key at fault. The cheap
    checks come first: those on the token grid import torch."""
    if cfg.get("stage", "fit") not in STAGES:
        raise ConfigError(
            f"stage={cfg.stage}: choose fit (train), test (evaluate ckpt_path), probe (frozen "
            f"evaluation of pretrained) or distill (train from a teacher's predictions)."
        )
    for spec in NUMBERS:
        _check_number(cfg, spec)
    data = cfg.data
    for key in ("num_frames", "input_size", "batch_size"):
        value = data.get(key)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"data.{key}={value} must be a positive integer.")
    check_checkpoint_keys(cfg)
    arch = model_config(cfg)
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
    if uses_teachers(cfg):  # target=teacher: the teachers' files and token grids
        check_teachers(cfg)
    elif cfg.model.get("target") is not None:  # pretraining: the target's cells fit the patch
        instantiate(cfg.model.target, "target").dim(arch.patch_size, arch.tubelet_size)


def stage_list_keys(cfg: DictConfig) -> list[str]:
    """The annotation-file keys the stage reads."""
    stage = cfg.get("stage", "fit")
    keys = ["data.train_list", "data.val_list"] if stage in (*FIT_STAGES, "probe") else []
    if testing(cfg) or stage == "probe":
        keys.append("data.test_list")
    return keys


def check_lists_exist(cfg: DictConfig) -> None:
    """A missing annotation file of the stage, named with its key, before anything is imported
    or built; the data module checks the files' contents later (see `validate_inputs`)."""
    if OmegaConf.select(cfg, "data.stream", default=None):
        return  # the lists are read from data.stream's shards; the data module checks them
    for key in stage_list_keys(cfg):
        path = OmegaConf.select(cfg, key)
        if path and not os.path.exists(path):
            fmt = cfg.data.get("annotation_format", "v1")
            raise DataError(
                f"{key}={path}: no such file; set {key} to an annotation file in the {fmt} "
                f"format (see the README's Data section)."
            )


def check_list_contents(cfg: DictConfig) -> None:
    """The stage's annotation files and classes.txt parsed as the data module will (format,
    labels, class names), so that an error in a file's contents is one line in a second, before
    Lightning is imported; the data module checks the videos themselves later."""
    from videomae_ssl.data.annotations import checked_class_names, read_annotations

    if OmegaConf.select(cfg, "data.stream", default=None):
        return
    data = cfg.data
    num_classes = data.get("num_classes")
    names = data.get("class_names")
    if names and os.path.isfile(names) and isinstance(num_classes, int):
        checked_class_names(names, num_classes)
    for key in stage_list_keys(cfg):
        path = OmegaConf.select(cfg, key)
        if path and os.path.isfile(path):
            read_annotations(
                path,
                format=data.get("annotation_format", "v1"),
                num_classes=num_classes if isinstance(num_classes, int) else None,
                names=f"data.class_names={names}" if names and os.path.isfile(names) else None,
            )


def check_checkpoint_keys(cfg: DictConfig) -> None:
    """`ckpt_path` and `pretrained`: files that exist (or Hub ids, for the checkpoints a run
    reads), and the one each stage reads."""
    from videomae_ssl.checkpoints.hub import resolve_checkpoint

    ckpt_path, pretrained = cfg.get("ckpt_path"), cfg.get("pretrained")
    if cfg.get("stage", "fit") == "test":
        if not ckpt_path:
            raise ConfigError(
                "stage=test evaluates a fine-tuned classifier: set ckpt_path=<checkpoint> (ours, "
                "an original fine-tuned .pth or a Hugging Face classification folder)."
            )
        resolve_checkpoint(str(ckpt_path), "ckpt_path")
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
    if pretrained:
        # A file, a Hugging Face folder or a Hub id (fetched into huggingface_hub's cache now,
        # before anything is built; the loaders resolve the same id from the cache).
        resolve_checkpoint(str(pretrained), "pretrained")
    if pretrained and ckpt_path:
        raise ConfigError(
            "pretrained and ckpt_path are both set: ckpt_path resumes a run with all its "
            "weights, pretrained only initialises a new one; keep one of them."
        )


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


def check_inputs(cfg: DictConfig) -> None:
    """Every check of a stage's config, in the order the command runs them."""
    check_lists_exist(cfg)
    check_config(cfg)
    check_distill(cfg)
    check_list_contents(cfg)
    check_accelerator(cfg)
