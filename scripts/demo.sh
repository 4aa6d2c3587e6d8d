#!/usr/bin/env bash
# The main job on its embedded defaults: build nimbus and the hello-cli example,
# then run the example with one variable and one read-only directory granted.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -p nimbus
cargo build --release --quiet --target wasm32-wasip2 --manifest-path examples/hello-cli/Cargo.toml
set -x
target/debug/nimbus run \
  --env NAME=Nimbus \
  --dir examples/hello-cli/data::/data:ro \
  examples/hello-cli/target/wasm32-wasip2/release/hello-cli.wasm
