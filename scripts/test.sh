#!/usr/bin/env bash
# Runs every test of the workspace. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo test --workspace "$@"
