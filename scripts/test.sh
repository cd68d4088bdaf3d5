#!/usr/bin/env bash
# Set up the environment if needed, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
venv="${SPIKEBRIDGE_VENV:-.venv}"
exec "$venv/bin/python" -m pytest -q "$@"
