#!/usr/bin/env bash
# Create the project's virtual environment and install spikebridge with everything it needs.
# Idempotent: re-installs only when pyproject.toml changed since the last install.
# SPIKEBRIDGE_VENV: where the environment lives (default .venv in the checkout).
# SPIKEBRIDGE_TORCH: the torch requirement installed first (default torch==2.13.0; a machine with
#   a GPU can set e.g. SPIKEBRIDGE_TORCH="torch" to take its CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SPIKEBRIDGE_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.spikebridge-installed"
want="$(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "setting up $venv (first run takes a few minutes)..." >&2
  pip_quiet() { "$venv/bin/python" -m pip install -q "$@" 2>&1 | grep -v -e "^WARNING: Location" -e "^ *$" || true; }
  pip_quiet --upgrade pip
  if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    pip_quiet "${SPIKEBRIDGE_TORCH:-torch==2.13.0}"
  fi
  pip_quiet -e ".[dev]"
  "$venv/bin/python" -c "import spikebridge, torch, lightning, sklearn" || { echo "set-up failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
# The report's browser test opens the report in Debian's Chromium: install it when missing.
bash scripts/install_browser.sh || echo "warning: Chromium is not installed; the report's browser test will be skipped" >&2
