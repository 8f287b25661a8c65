"""Hugging Face Hub ids wherever a checkpoint path is taken, and uploads to the Hub.

    resolve_checkpoint("weights/vit_b_k400_pretrain.pth", "pretrained")  # a local path, as is
    resolve_checkpoint("MCG-NJU/videomae-base", "pretrained")            # the cached snapshot
    resolve_checkpoint("MCG-NJU/videomae-base@main", "CKPT")             # at a revision

An id goes through huggingface_hub's cache (`HF_HUB_CACHE`, by default
~/.cache/huggingface/hub): downloaded once, then read from there, with `HF_HUB_OFFLINE=1`
too. Only the files a checkpoint needs are fetched (configs, weights, the model card), not a
repository's samples or logs. A local path always wins over an id, so a folder
`MCG-NJU/videomae-base` in the working directory is read as a folder.

No torch here, and huggingface_hub is imported only when an id is resolved: the training
command checks `pretrained=` before it imports torch or Lightning.
"""

from __future__ import annotations

import re
from pathlib import Path

from videomae_ssl.errors import ConfigError

# What a checkpoint on the Hub may consist of: transformers' configs and weights (sharded ones
# with their index), an original .pth, a Lightning .ckpt, and the model card (its license).
# transformers repositories often hold the same weights twice, model.safetensors and
# pytorch_model.bin: the pickled .bin is fetched only when nothing else holds weights.
_CONFIG_FILES = ["config.json", "preprocessor_config.json", "README.md"]
CHECKPOINT_FILES = [
    *_CONFIG_FILES,
    "*.safetensors",
    "*.safetensors.index.json",
    "*.pth",
    "*.pt",
    "*.ckpt",
]
PICKLED_HF_FILES = [*_CONFIG_FILES, "*.bin", "*.bin.index.json"]
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".ckpt")
# owner/name as the Hub spells repositories (huggingface_hub's validate_repo_id), optionally
# @revision (a branch, tag or commit; branches may hold slashes, e.g. refs/pr/1).
_NAME = r"[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?"
HUB_ID = re.compile(rf"(?P<repo>{_NAME}/{_NAME})(?:@(?P<revision>[\w./-]+))?")


class HubError(ConfigError):
    """A checkpoint reference that is neither a local path nor a usable Hub id; the message
    names the key it was given to and says how to get the weights."""


def parse_hub_id(reference: str) -> tuple[str, str | None] | None:
    """(repo id, revision or None) when `reference` is shaped like a Hub id, else None.

    Names of weight files (`x/model.pth`) and `--` or `..` (which the Hub refuses) are paths.
    """
    match = HUB_ID.fullmatch(reference)
    if match is None or "--" in match["repo"] or ".." in match["repo"]:
        return None
    if match["repo"].endswith(WEIGHT_SUFFIXES):
        return None
    return match["repo"], match["revision"]


def _label(key: str, reference: str) -> str:
    """How the message names the input: `pretrained=x` for a config key, `--flag x` or
    `SRC x` for a command-line argument."""
    return f"{key} {reference}" if key.startswith("-") or key.isupper() else f"{key}={reference}"


def resolve_checkpoint(reference: str | Path, key: str) -> Path:
    """The local file or folder `reference` names: an existing path as is, else a Hub id
    (`owner/name[@revision]`) resolved through huggingface_hub's cache.

    `key` names the input in errors (`pretrained`, `SRC`, `--teacher`, ...). Raises HubError
    (one line) for a path that does not exist and is no Hub id, an id the Hub does not know,
    and an id that is not cached while the Hub cannot be reached or `HF_HUB_OFFLINE=1`.
    """
    path = Path(reference).expanduser()
    if path.exists():
        return path
    reference = str(reference)
    parsed = parse_hub_id(reference)
    if parsed is None:
        raise HubError(
            f"{_label(key, reference)}: no such file or folder, and not a Hugging Face Hub id "
            "(owner/name, optionally @revision); give a checkpoint file (.pth, .ckpt, .bin, "
            ".safetensors), a Hugging Face model folder or a Hub id such as MCG-NJU/videomae-base."
        )
    repo_id, revision = parsed
    snapshot = _snapshot(repo_id, revision, _label(key, reference))
    return _checkpoint_in(snapshot, _label(key, reference))


def _download_hint(repo_id: str, revision: str | None) -> str:
    at = f" --revision {revision}" if revision else ""
    return f"uv run hf download {repo_id}{at}"


def _snapshot(repo_id: str, revision: str | None, label: str) -> Path:
    """snapshot_download of the checkpoint files, its errors turned into one line."""
    try:
        import huggingface_hub
        from huggingface_hub import constants, errors
        from huggingface_hub.errors import (
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise HubError(
            f"{label}: no such file or folder; reading it as a Hugging Face Hub id needs "
            "huggingface_hub (uv sync installs it)."
        ) from None
    # A cached snapshot that lacks requested files (recent huggingface_hub tells it apart).
    incomplete = getattr(errors, "IncompleteSnapshotError", LocalEntryNotFoundError)
    cache = constants.HF_HUB_CACHE
    hint = _download_hint(repo_id, revision)
    try:
        partial = None
        try:
            folder = huggingface_hub.snapshot_download(
                repo_id, revision=revision, allow_patterns=CHECKPOINT_FILES
            )
        except incomplete as err:  # offline, cached without these: maybe with a .bin
            folder, partial = None, err
        if folder is None or not _holds_weights(Path(folder)):
            folder = huggingface_hub.snapshot_download(
                repo_id, revision=revision, allow_patterns=PICKLED_HF_FILES
            )
            if partial is not None and not _holds_weights(Path(folder)):
                raise partial
    except RevisionNotFoundError:
        raise HubError(
            f"{label}: no such file or folder, and the Hugging Face Hub model {repo_id} has no "
            f"revision {revision!r}."
        ) from None
    except RepositoryNotFoundError:
        # The Hub answers the same for a private or gated model without a token.
        raise HubError(
            f"{label}: no such file or folder, and no Hugging Face Hub model {repo_id} that this "
            "machine may read (a private or gated one needs `uv run hf auth login`)."
        ) from None
    except LocalEntryNotFoundError as err:
        why = "HF_HUB_OFFLINE=1" if constants.HF_HUB_OFFLINE else "the Hub cannot be reached"
        if type(err).__name__ == "IncompleteSnapshotError":
            raise HubError(
                f"{label}: the Hugging Face cache ({cache}) holds only part of this model and "
                f"{why}; complete it where the Hub is reachable: {hint}"
            ) from None
        raise HubError(
            f"{label}: not in the Hugging Face cache ({cache}) and {why}; download it where "
            f"the Hub is reachable: {hint}"
        ) from None
    except (OSError, ValueError) as err:  # other HTTP errors (HfHubHTTPError is an OSError)
        reason = " ".join(str(err).split())
        raise HubError(f"{label}: downloading from the Hugging Face Hub failed: {reason}") from None
    return Path(folder)


def _holds_weights(folder: Path) -> bool:
    return any(p.name.endswith(WEIGHT_SUFFIXES) for p in folder.rglob("*"))


def _checkpoint_in(snapshot: Path, label: str) -> Path:
    """The snapshot folder when it holds a transformers model (config.json), else its one
    weights file (an original .pth or a Lightning .ckpt uploaded as is)."""
    if (snapshot / "config.json").is_file():
        return snapshot
    weights = sorted(p for p in snapshot.rglob("*") if p.name.endswith(WEIGHT_SUFFIXES))
    if len(weights) == 1:
        return weights[0]
    found = ", ".join(str(p.relative_to(snapshot)) for p in weights) or "no weights file"
    raise HubError(
        f"{label}: the Hub model has no config.json and not one weights file ({found}); "
        f"download it (uv run hf download) and give the file to use."
    )


def push_to_hub(folder: str | Path, repo_id: str, *, private: bool = False) -> str:
    """Upload an exported folder to the Hub model `repo_id` (created if missing); returns the
    model's URL. Needs a login (`uv run hf auth login`) or HF_TOKEN."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise HubError("--push-to-hub needs huggingface_hub (uv sync installs it).") from None
    from huggingface_hub.errors import HfHubHTTPError

    if parse_hub_id(repo_id) is None or "@" in repo_id:
        raise HubError(f"--push-to-hub {repo_id}: not a Hub model id (owner/name).")
    api = HfApi()
    try:
        url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            repo_type="model",
            folder_path=str(folder),
            commit_message="Upload VideoMAE exported by videomae_ssl",
        )
    except (HfHubHTTPError, OSError, ValueError) as err:
        reason = " ".join(str(err).split())
        raise HubError(
            f"--push-to-hub {repo_id}: the upload failed ({reason}); the folder {folder} is "
            "written. Log in with `uv run hf auth login` (or set HF_TOKEN) and run "
            f"`uv run hf upload {repo_id} {folder}`."
        ) from None
    return str(url)
