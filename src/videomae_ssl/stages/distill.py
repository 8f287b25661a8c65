"""stage=distill: fine-tuning a student classifier from a fine-tuned teacher's predictions.

The stage is a fit (then the multi-view test) of `lightning.distill_module.DistillationModule`,
which the distillation experiments (`<dataset>_distill`, configs/experiment/_distill.yaml)
choose; here are its config checks and the teacher it is given. The `distill` block:
`teacher` (a classifier in any format the project reads, or a Hub id), `temperature`, `alpha`
(the teacher term's weight) and `hard`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from videomae_ssl.checkpoints.file_hash import file_sha256
from videomae_ssl.errors import ConfigError

if TYPE_CHECKING:
    from videomae_ssl.data.datamodules import FinetuneDataModule

DISTILL_MODULE = "videomae_ssl.lightning.distill_module.DistillationModule"
EXPERIMENTS = "experiment=demo_distill, ucf101_distill or k400_distill"


def distilling(cfg: DictConfig) -> bool:
    """Whether the config is a distillation experiment's (its model is the distillation
    module)."""
    return cfg.model.get("_target_") == DISTILL_MODULE


def check_distill(cfg: DictConfig) -> None:
    """stage=distill with a distillation experiment and a `distill.teacher` that exists (a Hub
    id is fetched now), its numbers in range; a distillation experiment run as a plain fit. No
    torch: the teacher's contents are checked when it is loaded (`teacher_arguments`)."""
    from videomae_ssl.checkpoints.hub import resolve_checkpoint

    stage = cfg.get("stage", "fit")
    if stage == "fit" and distilling(cfg):
        raise ConfigError(
            "stage=fit with a distillation experiment would fine-tune without its teacher: keep "
            "stage=distill, or fine-tune with the <dataset>_finetune experiment."
        )
    if stage != "distill":
        return
    node = cfg.get("distill")
    if node is None or not distilling(cfg):
        raise ConfigError(
            f"stage=distill trains a student from a teacher classifier's predictions: use a "
            f"distillation experiment ({EXPERIMENTS}) with distill.teacher=<classifier>."
        )
    teacher = node.get("teacher")
    if not teacher:
        raise ConfigError(
            "distill.teacher is not set: give the fine-tuned classifier the student learns from "
            "(a fine-tuning run's last.ckpt, an original fine-tuned .pth, a Hugging Face "
            "classification folder or Hub id)."
        )
    resolve_checkpoint(str(teacher), "distill.teacher")
    temperature, alpha, hard = node.get("temperature"), node.get("alpha"), node.get("hard")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ConfigError(f"distill.temperature={temperature!r}: expected a number > 0.")
    if temperature <= 0:
        raise ConfigError(f"distill.temperature={temperature}: expected a number > 0.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ConfigError(
            f"distill.alpha={alpha!r}: expected a number in [0, 1], the weight of the teacher's "
            f"term (1 - alpha weighs the label loss; 1 learns from the teacher only)."
        )
    if not isinstance(hard, bool):
        raise ConfigError(
            f"distill.hard={hard!r}: expected true (the teacher's top class) or false (its "
            f"softened probabilities)."
        )


def _reason(message: str, path: Path) -> str:
    """A loader's message without the path it starts with (the caller names the key and it)."""
    return message.removeprefix(f"{path}: ")


def teacher_arguments(cfg: DictConfig, datamodule: FinetuneDataModule) -> dict[str, Any]:
    """The frozen teacher classifier of `distill.teacher` and what identifies it, as arguments
    of the distillation module (`teacher`, `teacher_file`, `teacher_sha256`). A file that
    holds no classifier, or one of other classes or another frame count than the data's, is a
    ConfigError naming the key and the file."""
    from videomae_ssl.checkpoints import CheckpointError, build_model, load_checkpoint
    from videomae_ssl.checkpoints.hub import resolve_checkpoint
    from videomae_ssl.stages.build import say_on_rank_zero

    reference = str(cfg.distill.teacher)
    key = f"distill.teacher={reference}"
    path = resolve_checkpoint(reference, "distill.teacher")
    try:
        loaded = load_checkpoint(path, key="distill.teacher")
        if loaded.kind != "classifier":
            raise ConfigError(
                f"{key}: holds {loaded.kind} weights, not a classifier; the teacher is a "
                f"fine-tuned classifier (fine-tune it first with a *_finetune experiment)."
            )
        net = build_model(loaded)
    except CheckpointError as err:
        raise ConfigError(f"{key}: {_reason(str(err), path)}") from None
    trained = loaded.config
    if trained["num_classes"] != cfg.data.num_classes:
        raise ConfigError(
            f"{key}: predicts {trained['num_classes']} classes, but data.num_classes="
            f"{cfg.data.num_classes}; the teacher must be fine-tuned on the student's classes."
        )
    if trained["num_frames"] != cfg.data.num_frames:
        raise ConfigError(
            f"{key}: was trained on {trained['num_frames']} frames, but data.num_frames="
            f"{cfg.data.num_frames}; teacher and student see the same clips: set "
            f"data.num_frames={trained['num_frames']} (a clip is resized in space for the "
            f"teacher, never resampled in time)."
        )
    names = [loaded.id2label[i] for i in sorted(loaded.id2label)] if loaded.id2label else None
    if names and datamodule.class_names and list(datamodule.class_names) != names:
        differ = next(
            i for i, (a, b) in enumerate(zip(names, datamodule.class_names, strict=True)) if a != b
        )
        raise ConfigError(
            f"{key}: its class {differ} is {names[differ]!r}, the data's "
            f"{datamodule.class_names[differ]!r} ({datamodule.class_count_file() or 'data'}); the "
            f"teacher must be fine-tuned on the same classes in the same order."
        )
    sha256 = file_sha256(path)
    resized = (
        f"; clips resized from {cfg.data.input_size} to {trained['img_size']} px for it"
        if trained["img_size"] != cfg.data.input_size
        else ""
    )
    model = loaded.summary().splitlines()[1].strip().removeprefix("model: ")
    say_on_rank_zero(f"Teacher: {path} ({model}; sha256 {sha256[:16]}){resized}.")
    return {"teacher": net, "teacher_file": str(path), "teacher_sha256": sha256}
