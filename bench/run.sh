#!/usr/bin/env bash
# Runs every benchmark and writes bench/RESULTS.md, bench/results.csv and
# bench/chart.svg. Builds what it needs (nimbus in release mode, the native
# baseline, the example guests) and installs wasmtime-cli 48.0.8 once into
# target/bench-tools. `--quick` runs one short repetition (for a smoke test).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk
fi
bash scripts/setup.sh
exec python3 bench/run.py "$@"
