"""The model card (README.md) of an exported Hugging Face folder.

The card states what config.json holds in words (size, width, depth, patch, frames, input
size), what the source checkpoint recorded of its training (recipe, test protocol, metrics),
how the folder was made (videomae_ssl version, source file, command) and how to load it with
transformers. Its YAML front matter is what the Hub reads: library, pipeline, tags, license.

A README.md that this module did not write (it lacks `CARD_MARKER`) is never replaced.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videomae_ssl.checkpoints.reading import CheckpointError, read_weights
from videomae_ssl.checkpoints.state_dicts import SIZE_NAMES
from videomae_ssl.models.config import VideoMAEConfig

CARD_MARKER = "<!-- model card written by videomae_ssl; delete this line to keep your edits -->"
# What the original VideoMAE scripts record in `args` that says how the weights were trained.
ORIGINAL_ARGS = (
    "model",
    "data_set",
    "nb_classes",
    "mask_type",
    "mask_ratio",
    "epochs",
    "batch_size",
    "lr",
    "min_lr",
    "warmup_epochs",
    "weight_decay",
    "layer_decay",
    "num_frames",
    "sampling_rate",
    "input_size",
    "num_segments",
    "smoothing",
    "mixup",
    "cutmix",
    "drop_path",
    "normlize_target",
)
# The config groups of the run that wrote a checkpoint worth naming in its card.
RUN_CHOICES = ("experiment", "data", "model", "masking")
PROTOCOL_NAMES = {
    "num_frames": "frames",
    "sampling_rate": "sampling rate",
    "sampling": "sampling",
    "input_size": "input size",
    "test_clips": "test clips",
    "test_crops": "test crops",
}


@dataclass
class CardFacts:
    """What the card says beyond config.json; all optional.

    `source` names the converted checkpoint (a file name or a Hub id, never a full local path,
    which a public card should not show); `recipe` and `metrics` are what it recorded.
    """

    source: str | None = None
    source_format: str | None = None
    command: str | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    license: str | None = None
    repo_id: str | None = None


def _plain(value: Any) -> Any:
    """A number, string or bool as the card shows it (a 0-d tensor becomes a float)."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    return value if isinstance(value, (bool, int, float, str)) else None


def _lightning_metrics(callbacks: Any) -> dict[str, float]:
    """Best scores of ModelCheckpoint callbacks (`best <monitor>`) and the online probe's last
    scores (`probe/<name>`), from a Lightning checkpoint's `callbacks` states."""
    metrics: dict[str, float] = {}
    for state in (callbacks or {}).values():
        if not isinstance(state, dict):
            continue
        score = _plain(state.get("best_model_score"))
        if state.get("monitor") and isinstance(score, (int, float)) and math.isfinite(score):
            metrics[f"best {state['monitor']}"] = float(score)
        history = state.get("history")
        if isinstance(history, dict):
            for name, points in history.items():
                if points and isinstance(_plain(points[-1][1]), (int, float)):
                    epoch, value = points[-1]
                    metrics[f"probe/{name} (epoch {int(epoch)})"] = float(_plain(value))
    return metrics


def read_card_facts(path: str | Path) -> CardFacts:
    """What a checkpoint records beyond its weights: for our Lightning checkpoints the
    hyperparameters, epoch and step, best monitored scores and test protocol; for original
    `.pth` files the scripts' `args`; for a Hugging Face folder the license of its card."""
    path = Path(path)
    facts = CardFacts()
    if path.is_dir():
        facts.license = _front_matter_license(path / "README.md")
        return facts
    try:
        obj = read_weights(path)
    except CheckpointError:
        return facts
    if not isinstance(obj, dict):
        return facts
    hparams = obj.get("hyper_parameters")
    if isinstance(hparams, dict):
        facts.recipe = {str(k): v for k, v in hparams.items() if _plain(v) is not None}
    for key in ("epoch", "global_step"):
        if _plain(obj.get(key)) is not None:
            facts.recipe[key] = obj[key]
    if isinstance(obj.get("args"), argparse.Namespace):
        args = vars(obj["args"])
        facts.recipe.update({k: args[k] for k in ORIGINAL_ARGS if _plain(args.get(k)) is not None})
    ours = obj.get("videomae_ssl")
    if isinstance(ours, dict) and isinstance(ours.get("eval"), dict):
        facts.protocol = {k: v for k, v in ours["eval"].items() if _plain(v) is not None}
    facts.metrics = _lightning_metrics(obj.get("callbacks"))
    facts.run = _run_record(path)
    return facts


def _run_record(path: Path) -> dict[str, Any]:
    """The config choices (experiment, data, model, masking) and mask ratio of the training
    run that wrote `path`, from Hydra's record beside it (<run>/.hydra/ for
    <run>/checkpoints/<name>.ckpt); empty when there is none."""
    hydra_dir = path.parent.parent / ".hydra"
    if path.parent.name != "checkpoints" or not hydra_dir.is_dir():
        return {}
    from omegaconf import OmegaConf

    try:
        hydra = OmegaConf.load(hydra_dir / "hydra.yaml")
        config = OmegaConf.load(hydra_dir / "config.yaml")
        choices = OmegaConf.to_container(OmegaConf.select(hydra, "hydra.runtime.choices") or {})
        mask_ratio = OmegaConf.select(config, "mask_ratio", throw_on_resolution_failure=False)
    except Exception:  # a damaged or partial record describes nothing; the export goes on
        return {}
    run = {k: choices[k] for k in RUN_CHOICES if isinstance(choices.get(k), str)}
    if "pretrain" in run.get("model", "") and isinstance(mask_ratio, float):
        run["mask_ratio"] = mask_ratio
    return run


def _front_matter_license(readme: Path) -> str | None:
    """`license:` of a model card's YAML front matter, if it has one."""
    if not readme.is_file():
        return None
    match = re.match(r"---\n(.*?)\n---", readme.read_text(errors="replace"), re.S)
    found = re.search(r"^license:\s*(\S+)\s*$", match[1], re.M) if match else None
    return found[1].strip("'\"") if found else None


def _number(value: Any) -> str:
    value = _plain(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _architecture(config: dict[str, Any]) -> list[tuple[str, str]]:
    width, depth = config["hidden_size"], config["num_hidden_layers"]
    frames, size = config["num_frames"], config["image_size"]
    patch, tubelet = config["patch_size"], config["tubelet_size"]
    side = size // patch
    rows = [
        ("size", SIZE_NAMES.get((width, depth), "custom ViT")),
        ("width", str(width)),
        ("depth", str(depth)),
        ("attention heads", str(config["num_attention_heads"])),
        ("MLP width", str(config["intermediate_size"])),
        ("patch", f"{patch} px, tubelet {tubelet} frames"),
        (
            "input",
            f"{frames} frames at {size}x{size} px ({frames // tubelet}x{side}x{side} tokens)",
        ),
    ]
    if "decoder_hidden_size" in config and _is_pretrain(config):
        rows.append(
            (
                "decoder",
                f"width {config['decoder_hidden_size']}, depth "
                f"{config['decoder_num_hidden_layers']}, "
                f"{config['decoder_num_attention_heads']} heads",
            )
        )
    if not _is_pretrain(config):
        rows.append(("classes", str(config.get("num_labels") or len(config.get("id2label") or {}))))
    return rows


def _is_pretrain(config: dict[str, Any]) -> bool:
    return "VideoMAEForPreTraining" in (config.get("architectures") or [])


def _front_matter(config: dict[str, Any], facts: CardFacts) -> str:
    lines = ["---", "library_name: transformers"]
    if facts.license:
        lines.append(f"license: {facts.license}")
    if _is_pretrain(config):
        tags = ["video", "videomae", "self-supervised", "videomae_ssl"]
    else:
        lines.append("pipeline_tag: video-classification")
        tags = ["video-classification", "videomae", "videomae_ssl"]
    lines += ["tags:", *(f"- {t}" for t in tags), "---"]
    return "\n".join(lines)


def _table(rows: list[tuple[str, str]]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def _usage(config: dict[str, Any], where: str) -> str:
    frames, size = config["num_frames"], config["image_size"]
    tokens = VideoMAEConfig(
        img_size=size,
        num_frames=frames,
        patch_size=config["patch_size"],
        tubelet_size=config["tubelet_size"],
    ).num_tokens
    if _is_pretrain(config):
        body = f"""import torch
import transformers

model = transformers.VideoMAEForPreTraining.from_pretrained("{where}")
processor = transformers.AutoImageProcessor.from_pretrained("{where}")
# {frames} RGB frames, each (height, width, 3) uint8; here random ones
video = list(torch.randint(0, 256, ({frames}, {size}, {size}, 3), dtype=torch.uint8).numpy())
pixel_values = processor(video, return_tensors="pt").pixel_values  # (1, {frames}, 3, {size}, {size})
# Hide 90% of the {tokens} tokens (True = hidden), the same number in every clip of a batch.
bool_masked_pos = torch.zeros(1, {tokens}, dtype=torch.bool)
bool_masked_pos[:, torch.randperm({tokens})[: int(0.9 * {tokens})]] = True
with torch.no_grad():
    outputs = model(pixel_values, bool_masked_pos=bool_masked_pos)
print(outputs.loss)  # reconstruction loss of the hidden tokens
# Features for a downstream task: transformers.VideoMAEModel.from_pretrained("{where}")"""
    else:
        body = f"""import torch
import transformers

model = transformers.VideoMAEForVideoClassification.from_pretrained("{where}")
processor = transformers.AutoImageProcessor.from_pretrained("{where}")
# {frames} RGB frames, each (height, width, 3) uint8; here random ones
video = list(torch.randint(0, 256, ({frames}, {size}, {size}, 3), dtype=torch.uint8).numpy())
inputs = processor(video, return_tensors="pt")  # resize, centre crop, normalise
with torch.no_grad():
    logits = model(**inputs).logits
print(model.config.id2label[int(logits.argmax(-1))])
# or: transformers.pipeline("video-classification", model="{where}")("video.mp4")"""
    return f"```python\n{body}\n```"


def model_card_text(
    config: dict[str, Any], facts: CardFacts | None = None, where: str = "path/to/this/folder"
) -> str:
    """README.md for an exported folder whose config.json is `config`; the usage snippet
    loads from `facts.repo_id` when it will be pushed there, else from `where`."""
    from videomae_ssl import __version__

    facts = facts or CardFacts()
    where = facts.repo_id or where
    width, depth = config["hidden_size"], config["num_hidden_layers"]
    patch = config["patch_size"]
    name = SIZE_NAMES.get((width, depth))
    name = f"{name}/{patch}" if name else f"ViT/{patch} (width {width}, depth {depth})"
    task = "pretraining (masked autoencoder)" if _is_pretrain(config) else "video classification"
    arch = (config.get("architectures") or ["VideoMAE"])[0]
    parts = [
        _front_matter(config, facts),
        CARD_MARKER,
        "",
        f"# VideoMAE {name}, {config['num_frames']} frames at {config['image_size']} px: {task}",
        "",
        f"A VideoMAE model for transformers' `{arch}`, exported by videomae_ssl {__version__}.",
        "",
        "## Architecture",
        "",
        *_table(_architecture(config)),
        "",
    ]
    if facts.recipe or facts.protocol or facts.metrics or facts.run:
        parts += ["## Training", "", "As recorded in the source checkpoint and its run.", ""]
        if facts.run:
            rows = [(k, _number(v)) for k, v in facts.run.items()]
            parts += ["Run (its Hydra config choices):", "", *_table(rows), ""]
        if facts.recipe:
            parts += [
                "Recipe:",
                "",
                *_table([(k, _number(v)) for k, v in facts.recipe.items()]),
                "",
            ]
        if facts.protocol:
            rows = [(PROTOCOL_NAMES.get(k, k), _number(v)) for k, v in facts.protocol.items()]
            parts += ["Test protocol:", "", *_table(rows), ""]
        if facts.metrics:
            parts += [
                "Metrics:",
                "",
                *_table([(k, f"{v:.4g}") for k, v in facts.metrics.items()]),
                "",
            ]
    made = [("videomae_ssl", __version__)]
    if facts.source:
        what = f" ({facts.source_format})" if facts.source_format else ""
        made.append(("converted from", f"`{facts.source}`{what}"))
    if facts.command:
        made.append(("command", f"`{facts.command}`"))
    parts += [
        "## How it was made",
        "",
        *_table(made),
        "",
        "## Usage",
        "",
        _usage(config, where),
        "",
    ]
    return "\n".join(parts)


def users_readme(out_dir: str | Path) -> Path | None:
    """out_dir/README.md when it is there and was not written by this module, else None."""
    readme = Path(out_dir) / "README.md"
    if readme.is_file() and CARD_MARKER not in readme.read_text(errors="replace"):
        return readme
    return None


def write_model_card(
    out_dir: str | Path, config: dict[str, Any], facts: CardFacts | None = None
) -> Path | None:
    """Write out_dir/README.md; returns its path, or None when a README.md that this module
    did not write is there (it is kept as it is)."""
    if users_readme(out_dir) is not None:
        return None
    readme = Path(out_dir) / "README.md"
    readme.write_text(model_card_text(config, facts, where=Path(out_dir).name))
    return readme
