"""What the project's commands share: user errors as one line and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

from videomae_ssl.errors import UserInputError


def run_command(work: Callable[[], list[str]]) -> int:
    """Run `work`, print the lines it returns; a UserInputError prints `error: <message>` to
    stderr instead (no traceback: the message names the file or flag at fault). -> exit status."""
    try:
        lines = work()
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines), flush=True)
    return 0
