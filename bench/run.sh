#!/usr/bin/env bash
# Runs every benchmark and writes bench/RESULTS.md, bench/results.csv and
# bench/chart.svg. Builds what it needs (nimbus in release mode, the native
# baseline, the example guests) and installs wasmtime-cli 48.0.8 once into
# target/bench-tools. `--quick` runs one short repetition (for a smoke test).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench: wrk is missing: apt-get install wrk" >&2; exit 1; }
bash scripts/setup.sh
exec python3 bench/run.py "$@"
