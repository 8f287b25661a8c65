"""The stages below the training command: the config checks load without torch or Lightning,
so that bad input is answered in a second or two."""

import subprocess
import sys

CHECK = """
import sys
import videomae_ssl.stages.checks, videomae_ssl.stages.pipeline
print(",".join(n for n in ("torch", "lightning", "timm") if n in sys.modules))
"""


def test_the_checks_load_without_torch_or_lightning():
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == ""
