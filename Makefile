# Two commands do everything on a fresh machine with Python >= 3.10 and pip:
#   make demo   set up, then pretrain a tiny VideoMAE on a generated demo dataset (CPU, minutes)
#   make test   set up, then run the test suite
PYTHON ?= python3
# uv: from PATH, else the Python's own (`python3 -m uv`), else a private copy in .tools/,
# installed by pip inside a virtual environment: Debian's and Ubuntu's Pythons refuse pip
# installs outside one (PEP 668, "externally-managed-environment").
TOOLS_UV := .tools/bin/uv
UV ?= $(shell command -v uv 2>/dev/null || { $(PYTHON) -m uv --version >/dev/null 2>&1 && echo "$(PYTHON) -m uv"; } || echo $(TOOLS_UV))

.PHONY: setup demo test lint lint-only

$(TOOLS_UV):
	@$(PYTHON) -m venv .tools || { echo "error: '$(PYTHON) -m venv' failed, so uv cannot be installed; install uv (e.g. 'pipx install uv') or Python's venv module (Debian and Ubuntu: apt-get install python3-venv), then run make again" >&2; exit 1; }
	.tools/bin/python -m pip install --quiet uv

# decord's wheel declares CPython 3.6 inside (its WHEEL file), which makes uv reinstall it on
# every `uv run`; tools/repair_wheel_tags.py writes the tag of the wheel uv installed.
setup: $(filter $(TOOLS_UV),$(UV))
	$(UV) sync --locked $(SYNC_FLAGS)
	@$(UV) run --locked --no-sync python tools/repair_wheel_tags.py

demo: setup
	$(UV) run --locked python -m videomae_ssl.train experiment=demo

# The suite starts Python in many subprocesses; where PYTHONDONTWRITEBYTECODE is set, each
# would compile torch, Lightning and their imports from source again (24 s instead of 11 s for
# `import lightning, timm` on a 2-core EPYC), so the test set-up compiles them once.
# The tests also run a sweep with Hydra's Optuna sweeper: the sweep extra.
test: SYNC_FLAGS = --compile-bytecode --extra sweep
# The formatting and lint checks run first: a change that ruff would rewrite fails the suite.
test: setup lint-only
	$(UV) run --locked pytest

LINTED := src tests benchmarks tools
lint: setup lint-only

lint-only:
	$(UV) run --locked ruff format --check $(LINTED)
	$(UV) run --locked ruff check $(LINTED)
