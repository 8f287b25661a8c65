"""`python -m videomae_ssl.bench ARGS` runs `benchmarks/model_speed.py ARGS` of a source checkout.

The model-speed benchmark needs transformers, a development dependency, so it lives beside the
other benchmarks rather than in the package; this command keeps the old spelling working.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "model_speed.py"


def main() -> None:
    if not SCRIPT.is_file():
        sys.exit(
            f"the model-speed benchmark is benchmarks/model_speed.py of a source checkout; "
            f"{SCRIPT} does not exist (an installed package does not ship it)."
        )
    sys.argv[0] = str(SCRIPT)
    runpy.run_path(str(SCRIPT), run_name="__main__")


if __name__ == "__main__":
    main()
