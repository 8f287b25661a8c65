"""Config values that depend on the process, the run folder or the files given, for
configs/hydra, configs/logger and configs/data: `${log_suffix:}` names each rank's log file,
`${wandb_id:<run folder>}` gives a run folder one wandb run that a resumed job continues,
`${wandb_offline:}` whether wandb has no credentials to log in with, `${classes_beside:<list>}`
the classes.txt beside an annotation file, `${class_count:<classes.txt>,<default>}` how many
names it lists, for configs/model `${model_size:<size>,<field>}` one number of a named
model size (`videomae_ssl.models.sizes`, which imports no torch), and for configs/target/hog
`${hog_dim:<patch>,<cell>,<bins>}` the decoder's output width for MaskFeat's HOG target."""

from __future__ import annotations

import hashlib
import netrc
import os
import re
from pathlib import Path
from urllib.parse import urlparse

from videomae_ssl.models.sizes import size_field

# Launchers that start every rank themselves say which one a process is: torchrun in RANK,
# SLURM's srun in SLURM_PROCID. Lightning's own launcher (trainer=ddp_cpu, trainer=ddp on one
# node) starts its ranks > 0 with hydra.job.name=train_ddp_process_<k>: a log file of their own.
RANK_VARIABLES = ("RANK", "SLURM_PROCID")


def launcher_rank() -> int:
    """This process's global rank as set by the launcher that started it, 0 when none did."""
    for name in RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def log_suffix() -> str:
    """'' for rank 0, `.rank<k>` for rank k: train.log is rank 0's, train.rank1.log rank 1's,
    instead of every rank appending to the same file."""
    rank = launcher_rank()
    return f".rank{rank}" if rank else ""


def wandb_id(run_dir: str) -> str:
    """`<folder name>-<8 hex digits of its absolute path>`: the same for every start of a run
    folder (`run_name=... resume=auto`), different for different folders (the stages of a
    pipeline, runs of the same name in other places). wandb refuses / \\ # ? % : in an id."""
    path = str(Path(run_dir).resolve())
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).name)[:48]
    return f"{name}-{digest}"


def wandb_offline() -> bool:
    """True when wandb cannot log in: WANDB_MODE is offline (or dryrun), or there is neither a
    WANDB_API_KEY nor a netrc entry (what `wandb login` writes) for its host. The run then
    writes its files under the run folder, to send later with `wandb sync`."""
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun"):
        return True
    if os.environ.get("WANDB_API_KEY"):
        return False
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    try:
        return netrc.netrc(path).authenticators(host or "") is None
    except (OSError, netrc.NetrcParseError):
        return True


CLASSES_FILE = "classes.txt"  # what prep.prepare writes beside the lists


def classes_beside(annotation_file: str | None) -> str | None:
    """The classes.txt in the folder of `annotation_file`, or None when there is none."""
    if not annotation_file:
        return None
    path = Path(annotation_file).parent / CLASSES_FILE
    return str(path) if path.is_file() else None


def class_count(class_names: str | None, default: int) -> int:
    """The number of names in the file `class_names` (one per non-empty line), or `default`
    when there is no file."""
    if not class_names or not Path(class_names).is_file():
        return int(default)
    from videomae_ssl.data.annotations import read_class_names

    return len(read_class_names(class_names, "data.class_names"))


def target_hog_dim(patch_size: int, cell_size: int, bins: int) -> int:
    """The width of a token's HOG target (`videomae_ssl.loss.hog.hog_dim`, 3 channels). A cell
    size that does not divide the patch is reported, naming the keys, by the target itself."""
    from videomae_ssl.loss.hog import hog_dim

    return hog_dim(int(patch_size), max(int(cell_size), 1), int(bins))


def register_resolvers() -> None:
    """Make the resolvers of this module known to OmegaConf (done when the package is
    imported)."""
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("log_suffix", log_suffix, replace=True)
    OmegaConf.register_new_resolver("wandb_id", wandb_id, replace=True)
    OmegaConf.register_new_resolver("wandb_offline", wandb_offline, replace=True)
    OmegaConf.register_new_resolver("classes_beside", classes_beside, replace=True)
    OmegaConf.register_new_resolver("class_count", class_count, replace=True)
    OmegaConf.register_new_resolver("model_size", size_field, replace=True)
    OmegaConf.register_new_resolver("hog_dim", target_hog_dim, replace=True)
