"""What the project's commands share: user errors as one line and exit status 2.

Imports nothing heavy: the training command uses this before Lightning is loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from videomae_ssl.errors import ConfigError, UserInputError

if TYPE_CHECKING:
    import torch

# Exit status of every command for an error in the user's input.
INPUT_ERROR_STATUS = 2


def run_command(work: Callable[[], list[str]]) -> int:
    """Run `work`, print the lines it returns; a UserInputError prints `error: <message>` to
    stderr instead (no traceback: the message names the file or flag at fault). -> exit status."""
    try:
        lines = work()
    except UserInputError as err:
        report_input_error(str(err))
        return INPUT_ERROR_STATUS
    print("\n".join(lines), flush=True)
    return 0


def report_input_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU; "cuda" without a GPU is an error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available; use --device cpu or auto.")
    return torch.device(name)


def one_line(text: str) -> str:
    """`text` with its lines joined by spaces: messages from Hydra and OmegaConf span lines."""
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def is_lightning_misconfiguration(err: BaseException) -> bool:
    """Whether `err` is Lightning's MisconfigurationException (e.g. a GPU asked for and absent).
    Looked up among loaded modules: where Lightning was never imported, it raised nothing."""
    module = sys.modules.get("lightning.fabric.utilities.exceptions")
    return module is not None and isinstance(err, module.MisconfigurationException)


# Hydra plugins a config can name, and how to install each (pyproject's optional dependencies).
HYDRA_PLUGINS = {
    "hydra_plugins.hydra_submitit_launcher": ("hydra-submitit-launcher", "slurm"),
    "hydra_plugins.hydra_optuna_sweeper": ("hydra-optuna-sweeper", "sweep"),
}


def missing_plugin(err: BaseException) -> str | None:
    """Hydra's "Unknown plugin class : '<class>'" (a launcher or sweeper whose package is not
    installed) as one line naming the package and the command that installs it."""
    prefix = "Unknown plugin class : "
    if not isinstance(err, RuntimeError) or not str(err).startswith(prefix):
        return None
    name = str(err)[len(prefix) :].strip("'")
    for module, (package, extra) in HYDRA_PLUGINS.items():
        if name.startswith(module + "."):
            return (
                f"the Hydra plugin {name} is not installed; install it with "
                f"`uv sync --locked --extra {extra}` (pip: pip install '{package}')."
            )
    return f"the Hydra plugin {name} is not installed; install the package that provides it."


def input_error(err: BaseException) -> str | None:
    """The one-line message for an error in the user's input, or None for any other error (a bug,
    which keeps its traceback).

    Input errors are the project's UserInputError, Hydra's errors in composing the config (an
    override it cannot parse, a key the config lacks, a config group option that does not exist),
    OmegaConf's (e.g. an interpolation of a missing key), a Hydra plugin that is not installed
    and Lightning's MisconfigurationException.
    """
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(err, UserInputError):
        return str(err)
    if isinstance(err, OmegaConfBaseException):
        # Raised by a resolver (a classes.txt read while composing): OmegaConf keeps it as the
        # exception being handled, not as the cause.
        inner = err.__cause__ or err.__context__
        if isinstance(inner, UserInputError):
            return str(inner)
    if (plugin := missing_plugin(err)) is not None:
        return plugin
    if isinstance(err, MissingConfigException) and err.options and err.missing_cfg_file:
        group, _, name = err.missing_cfg_file.rpartition("/")
        # Options starting with "_" are bases that other options include.
        options = [o for o in err.options if not o.startswith("_")]
        if group:
            return (
                f"{group.replace('/', '.')}={name}: no such option; choose one of "
                f"{', '.join(options)}."
            )
    if isinstance(err, OverrideParseException):
        detail = " ".join(
            line.strip()
            for line in err.message.splitlines()
            if line.strip() and not line.startswith("Error parsing override")
        )
        return f"cannot parse the override {err.override!r}: {detail}"
    if isinstance(err, ConfigCompositionException):
        cause = err.__cause__
        reason = f" ({str(cause).splitlines()[0]})" if cause is not None and str(cause) else ""
        return one_line(str(err)) + reason
    if isinstance(err, OmegaConfBaseException) or is_lightning_misconfiguration(err):
        return one_line(str(err))
    return None
