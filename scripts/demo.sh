#!/usr/bin/env bash
# The main job on its embedded defaults: build nimbus and the examples, run a
# WASI program with `nimbus run`, then serve examples/hello with `nimbus up` on
# 127.0.0.1:3000 and answer one request. With --once it stops after that
# request; otherwise it keeps serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

once=false
[ "${1:-}" = "--once" ] && once=true

cargo build -p nimbus
nimbus=target/debug/nimbus

echo "== nimbus run: a WASI program that sees one read-only directory and one variable"
cargo build --release --quiet --target wasm32-wasip2 --manifest-path examples/hello-cli/Cargo.toml
"$nimbus" run --env NAME=Nimbus --dir examples/hello-cli/data::/data:ro \
  examples/hello-cli/target/wasm32-wasip2/release/hello-cli.wasm

echo "== nimbus build && nimbus up: serving examples/hello"
"$nimbus" build -f examples/hello
"$nimbus" up -f examples/hello --listen 127.0.0.1:3000 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:3000/hello 2>/dev/null && break
  sleep 0.1
done
echo "== curl http://127.0.0.1:3000/hello answered above"
if $once; then
  exit 0
fi
echo "== serving until Ctrl-C"
wait $server
