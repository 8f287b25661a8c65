"""Write our models as Hugging Face directories, original VideoMAE `.pth` files or our
Lightning checkpoints.

Each file carries what is needed to rebuild the model: config.json for transformers, and a
`videomae_ssl` block (kind, `model_args` and `options`, class names) in the two `.pth` layouts,
which the original scripts ignore.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import torch
from torch import nn

from videomae_ssl.checkpoints.hf_config import hf_config_for, hf_processor_config
from videomae_ssl.checkpoints.hf_keys import to_hf
from videomae_ssl.checkpoints.model_card import CardFacts, write_model_card
from videomae_ssl.checkpoints.reading import CheckpointError
from videomae_ssl.models import VideoMAEClassifier, VideoMAEPretrainModel
from videomae_ssl.models.build import model_record

Model = VideoMAEPretrainModel | VideoMAEClassifier


def _encoder(model: Model) -> nn.Module:
    return model.encoder if isinstance(model, VideoMAEPretrainModel) else model


def _metadata(model: Model, id2label: dict[int, str] | None) -> dict[str, Any]:
    """Our block: enough to rebuild the model without Hydra (see `load_checkpoint`)."""
    meta = model_record(model)
    _check_labels(model, id2label)
    if id2label:
        meta["id2label"] = {int(k): str(v) for k, v in id2label.items()}
    if isinstance(_encoder(model).pos_embed, nn.Parameter):
        meta["pos_embed"] = "learned"
    return meta


def _check_labels(model: Model, id2label: dict[int, str] | None) -> None:
    if id2label and isinstance(model, VideoMAEClassifier) and len(id2label) != model.num_classes:
        raise CheckpointError(
            f"{len(id2label)} class names for a head of {model.num_classes} classes."
        )


def _cpu_state(model: Model) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies, so no two saved tensors share memory."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def _new_file_mode(directory: Path) -> int:
    """The permissions a file created in `directory` gets (0666 less the umask, or what the
    directory's default ACL gives), read off a fresh file: reading the umask means setting it,
    which other threads would see."""
    probe = directory / f".mode-probe-{os.getpid()}-{threading.get_ident()}"
    fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    try:
        return stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
        probe.unlink()


def export_hf(
    model: Model,
    out_dir: str | Path,
    id2label: dict[int, str] | None = None,
    norm_pix_loss: bool = True,
    card: CardFacts | None = None,
) -> Path:
    """Write `model` as a transformers directory: config.json, model.safetensors,
    preprocessor_config.json and the model card README.md (from the config and `card`; a
    README.md not written by us is kept), with the permissions of any new file (0644 under
    umask 022).

    `VideoMAEForPreTraining` / `VideoMAEForVideoClassification.from_pretrained(out_dir)` load it
    (transformers 4 and 5: the q and v biases keep their version 4 names, which version 5
    renames on load); `AutoImageProcessor` and the `video-classification` pipeline find the
    input processing (resize, crop, normalisation) in preprocessor_config.json.
    `norm_pix_loss` goes into the config for the pretraining loss.
    """
    from safetensors.torch import save_file

    kind = model_record(model)["kind"]
    if "pos_embed" in _encoder(model).state_dict():
        raise CheckpointError(
            "this model's position table was rebuilt for a new token grid or learned; "
            "transformers' VideoMAE always uses the 1-D sinusoid over the token count, so the "
            "exported model would give different outputs. Export to --to original instead."
        )
    _check_labels(model, id2label)
    state = to_hf(_cpu_state(model), legacy_bias_names=True)
    config = hf_config_for(
        {**model.config.as_dict(), **model.options}, kind, id2label, norm_pix_loss
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    processor = hf_processor_config(model.config.img_size)
    (out / "preprocessor_config.json").write_text(json.dumps(processor, indent=2) + "\n")
    write_model_card(out, config, card)
    weights = out / "model.safetensors"
    save_file(state, str(weights), metadata={"format": "pt"})
    # safetensors writes through a private temporary file and renames it: mode 0600.
    weights.chmod(_new_file_mode(out))
    return out


def export_original(model: Model, path: str | Path, id2label: dict[int, str] | None = None) -> Path:
    """Write `model` in the original VideoMAE layout: `{'model': state_dict}`.

    The original scripts read the weights under 'model' (pretraining and fine-tuning alike). A
    rebuilt or learned position table goes under `pos_embed` as (1, N, D), as the original code
    stores learnable ones.
    """
    state = _cpu_state(model)
    key = "encoder.pos_embed" if isinstance(model, VideoMAEPretrainModel) else "pos_embed"
    if key in state:
        state[key] = state[key].unsqueeze(0)  # (1, N, D)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "videomae_ssl": _metadata(model, id2label)}, path)
    return path


def export_lightning(
    model: Model, path: str | Path, id2label: dict[int, str] | None = None
) -> Path:
    """Write `model` as our Lightning checkpoints hold it: `net.`-prefixed weights plus the
    `videomae_ssl` block. A weights file (for `load_checkpoint` or `pretrained=`); it holds no
    optimizer state, so it does not resume a run."""
    import lightning

    state = {f"net.{k}": v for k, v in _cpu_state(model).items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": state,
            "videomae_ssl": _metadata(model, id2label),
            "pytorch-lightning_version": lightning.__version__,
        },
        path,
    )
    return path
