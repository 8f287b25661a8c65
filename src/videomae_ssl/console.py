"""Lines a run prints for people (a line per epoch, the run summary, the test result), also kept
in the run's log file."""

from __future__ import annotations

import logging
import sys

# configs/hydra/default.yaml sends this logger to the run's train.log only, not to the console:
# the line is already on stdout. Without that setup (a script, a notebook, a test) the record
# goes wherever logging is configured, or nowhere.
LOG = logging.getLogger("videomae_ssl.console")


def say(text: str) -> None:
    """Print `text` above any live progress bar (tqdm's, which Lightning and the commands use:
    the bar is cleared, the text written on lines of its own, the bar drawn again), flushed so
    that runs whose output goes to a file show progress while they run, and log it to the run's
    log file."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stdout)
    sys.stdout.flush()
    for line in text.splitlines():
        if line.strip():
            LOG.info(line)


def count(n: int, noun: str) -> str:
    """`n` and the noun, plural unless n is 1: "1 crop", "3 crops"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
