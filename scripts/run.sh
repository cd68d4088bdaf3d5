#!/usr/bin/env bash
# Set up the environment if needed, then reproduce the study on the shipped recordings into a report.
# Extra arguments go to `spikebridge study` (see `spikebridge study --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
venv="${SPIKEBRIDGE_VENV:-.venv}"
exec "$venv/bin/spikebridge" study "$@"
