#!/usr/bin/env python3
"""A/B: hello req/s and p99 of two nimbus binaries, in one run, interleaved.

Usage: python3 bench/ab.py BEFORE AFTER [REPS] [LABEL]

Both serve the hello example (examples/hello, built by bench/run.sh or the
tests) with `nimbus up`; each repetition runs wrk (-c32, 2 threads, 1 s
warm-up, 5 s) against BEFORE, then AFTER, so drift on the shared 2-core
machine hits both alike. Prints the medians and min-max, and appends a
section to bench/RESULTS.md when LABEL is given.
"""

import os
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the harness's helpers: Server, wrk, wait_http)


def measure(binary):
    bench.NIMBUS = Path(binary)
    bench.WORK.mkdir(parents=True, exist_ok=True)
    server = bench.Server("nimbus", "hello")
    try:
        bench.wait_http(server.port, "/hello")
        bench.wrk(server.port, "/hello", bench.CONNECTIONS, bench.WARMUP)
        return bench.wrk(server.port, "/hello", bench.CONNECTIONS, bench.DURATION), server.command()
    finally:
        server.stop()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    before, after = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    label = sys.argv[4] if len(sys.argv) > 4 else None
    if not bench.wasm("hello", "hello.wasm").exists():
        subprocess.run(["cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path",
                        str(bench.ROOT / "examples" / "hello" / "Cargo.toml")], check=True)
    rows = {"before": [], "after": []}
    command = ""
    for rep in range(reps):
        for name, binary in (("before", before), ("after", after)):
            result, command = measure(binary)
            rows[name].append(result)
            print(f"rep {rep + 1} {name}: {result['rps']:.0f} req/s, p99 {result['p99_ms']:.2f} ms", flush=True)
    lines = []
    for name in ("before", "after"):
        rps = [r["rps"] for r in rows[name]]
        p99 = [r["p99_ms"] for r in rows[name]]
        lines.append(f"| {name} | {statistics.median(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f}) "
                     f"| {statistics.median(p99):.2f} ({min(p99):.2f}–{max(p99):.2f}) |")
    print("\n".join(lines))
    if label:
        machine = subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout.strip()
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
        section = [
            f"\n## A/B: {label}\n",
            f"{datetime.now(timezone.utc):%Y-%m-%d}, {machine}, {cpu}, {os.cpu_count()} cores shared with wrk. "
            f"`python3 bench/ab.py BEFORE AFTER {reps}`: {reps} interleaved repetitions of "
            f"`{rows['after'][0]['command']} http://127.0.0.1:PORT/hello` against `{command}`.\n",
            "| binary | hello req/s, median (min–max) | p99 ms, median (min–max) |",
            "|---|---|---|",
            *lines,
            "",
        ]
        with open(bench.BENCH / "RESULTS.md", "a") as out:
            out.write("\n".join(section))


if __name__ == "__main__":
    main()
