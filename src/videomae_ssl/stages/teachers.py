"""`target=teacher` in the stages: its teachers checked before anything is built, and the
student built with one decoder per teacher, each as wide as that teacher's features.

The teachers' widths are known only once their checkpoints are read, so the net is built here,
after them, instead of by Hydra from `model.net` alone.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from videomae_ssl.stages.build import instantiate

TEACHER_TARGET = "videomae_ssl.checkpoints.teachers.teacher_target"


def uses_teachers(cfg: DictConfig) -> bool:
    """Whether the run pretrains with `target=teacher`."""
    return OmegaConf.select(cfg, "model.target._target_", default=None) == TEACHER_TARGET


def check_teachers(cfg: DictConfig) -> None:
    """Each teacher read and matched to the student's token grid now, so that a missing file, a
    file without an encoder or a grid that cannot be matched is one error line naming its key
    before Lightning is imported."""
    if uses_teachers(cfg):
        instantiate(cfg.model.target, "target")


def teacher_parts(cfg: DictConfig) -> dict[str, Any]:
    """For `target=teacher`: the built target and a net with one decoder per teacher (the
    arguments `build_module` passes in place of `model.target` and `model.net`); else none."""
    if not uses_teachers(cfg):
        return {}
    target = instantiate(cfg.model.target, "target")
    first, *rest = target.dims
    net = instantiate(cfg.model.net, "model.net", decoder_out_dim=first, extra_decoder_dims=rest)
    return {"target": target, "net": net}
