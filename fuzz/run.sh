#!/usr/bin/env bash
# Runs every fuzz target (`cargo fuzz list`: manifest, cgi, runtime_config)
# for SECONDS each (default 30) on a copy of the
# corpus in fuzz/corpus/ (new inputs stay in target/, not in the repo; copy the
# interesting ones into fuzz/corpus/ by hand). A crash fails the script and
# leaves the input in fuzz/artifacts/.
#   bash fuzz/run.sh 30       # the bounded run CI does
#   bash fuzz/run.sh 3600     # a long run
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). It uses nightly-only
# flags, so on a stable toolchain it runs with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
  work="../target/fuzz-corpus/$target"
  mkdir -p "$work"
  cp -r "corpus/$target/." "$work/"
  echo "== fuzzing $target for ${seconds}s"
  cargo fuzz run "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
