#!/usr/bin/env python3
"""Nimbus benchmarks: per-request cost, cold start and scaling, against
`wasmtime serve` 48.0.8 and a native hyper server in the same run.

Usage: bench/run.sh [--quick]   (see bench/README.md)

Writes bench/RESULTS.md, bench/results.csv and bench/chart.svg. Every figure
is the median (and min-max) of interleaved repetitions; each row names the
exact command that produced it.
"""

import csv
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = ROOT / "target" / "bench-work"
TOOLS = ROOT / "target" / "bench-tools"
QUICK = "--quick" in sys.argv
REPS = 1 if QUICK else 3
DURATION = 3 if QUICK else 5
WARMUP = 1
CONNECTIONS = 32
THREADS = 2
WASMTIME_VERSION = "48.0.8"


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, timeout=120.0, method="GET"):
    """Polls until GET path answers 200; returns seconds waited."""
    start = time.perf_counter()
    request = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    while time.perf_counter() - start < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(request)
                data = b""
                while b"\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"HTTP/1.1 200"):
                    return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"server on port {port} never answered 200 on {path}")


# ---------------------------------------------------------------- building


def build():
    # A target dir of its own: a release build must not hold the lock on the
    # shared one that tests use.
    run(["cargo", "build", "--release", "-p", "nimbus", "--target-dir", str(ROOT / "target" / "bench-release")],
        cwd=ROOT)
    run(["cargo", "build", "--release", "--manifest-path", str(BENCH / "native-hello" / "Cargo.toml"),
         "--target-dir", str(ROOT / "target" / "bench-native")], cwd=ROOT)
    for example in ["hello", "hash", "image-resize"]:
        run([str(NIMBUS), "build", "-f", str(ROOT / "examples" / example)])
    run(["cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path",
         str(ROOT / "tests" / "guests" / "Cargo.toml"), "--target-dir", str(ROOT / "target" / "guests")])
    wasmtime = TOOLS / "bin" / "wasmtime"
    if not wasmtime.exists():
        log("installing wasmtime-cli %s (once; cached in %s)" % (WASMTIME_VERSION, TOOLS))
        run(["cargo", "install", "wasmtime-cli", "--version", WASMTIME_VERSION, "--locked",
             "--root", str(TOOLS), "--target-dir", str(ROOT / "target" / "bench-build")])
    return wasmtime


NIMBUS = ROOT / "target" / "bench-release" / "release" / "nimbus"
NATIVE = ROOT / "target" / "bench-native" / "release" / "native-hello"


def wasm(example, name):
    return ROOT / "examples" / example / "target" / "wasm32-wasip2" / "release" / name


SCENARIOS = {
    # name: (wasm file, URL path, wrk lua script or None, native applies)
    "hello": (lambda: wasm("hello", "hello.wasm"), "/hello", None, True),
    "sha256": (lambda: wasm("hash", "hash.wasm"), "/hash/nimbus-benchmark-input", None, True),
    "64KiB body": (lambda: ROOT / "target" / "guests" / "wasm32-wasip2" / "release" / "http-probe.wasm",
                   "/big?do=big&kib=64", None, True),
    "image-resize": (lambda: wasm("image-resize", "image_resize.wasm"), "/resize?w=32", "resize.lua", False),
}


def write_png(path, width=128, height=96):
    """A small RGB PNG, written with the standard library only."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(((x * 7 + y * 3) % 256 for x in range(width * 3))) for y in range(height))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    path.write_bytes(png)


def resize_script():
    png = WORK / "bench.png"
    write_png(png)
    lua = WORK / "resize.lua"
    lua.write_text(
        'local f = assert(io.open("%s", "rb"))\n'
        'wrk.method = "POST"\nwrk.body = f:read("*all")\nf:close()\n'
        'wrk.headers["Content-Type"] = "image/png"\n' % png
    )
    return lua


# ---------------------------------------------------------------- servers


class Server:
    def __init__(self, kind, scenario, timeout=False, cache_dir=None):
        self.kind = kind
        self.port = free_port()
        wasm_file = SCENARIOS[scenario][0]() if scenario else None
        env = dict(os.environ, RUST_LOG="warn")
        if kind == "native":
            self.cmd = [str(NATIVE), f"127.0.0.1:{self.port}"]
        elif kind == "wasmtime":
            self.cmd = [str(TOOLS / "bin" / "wasmtime"), "serve", "-Scli=y", "--addr", f"127.0.0.1:{self.port}"]
            if timeout:
                self.cmd += ["-Wtimeout=5s"]
            self.cmd += [str(wasm_file)]
        else:
            manifest = WORK / f"{scenario.replace(' ', '-')}{'-timeout' if timeout else ''}.toml"
            limits = '\n[component.app.limits]\ntimeout = "5s"\n' if timeout else ""
            manifest.write_text(
                'spin_manifest_version = 2\n[application]\nname = "bench"\n'
                '[[trigger.http]]\nroute = "/..."\ncomponent = "app"\n'
                f'[component.app]\nsource = "{wasm_file}"\n{limits}'
            )
            self.cmd = [str(NIMBUS), "up", "-f", str(manifest), "--listen", f"127.0.0.1:{self.port}"]
            if cache_dir:
                self.cmd += ["--cache-dir", str(cache_dir)]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def command(self):
        return " ".join(Path(c).name if c.startswith(str(ROOT)) and i == 0 else c for i, c in enumerate(self.cmd))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- wrk


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_latency(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(port, path, connections, duration, script=None):
    cmd = ["wrk", "-t", str(min(THREADS, connections)), "-c", str(connections), "-d", f"{duration}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_latency(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = parse_latency(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps, "p50_ms": p50, "p99_ms": p99,
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
        "command": " ".join(cmd[:-1]) + " URL",
    }


# ---------------------------------------------------------------- scenarios


def throughput(results):
    script = resize_script()
    cases = []
    for scenario, (_, path, lua, native) in SCENARIOS.items():
        kinds = (["native"] if native else []) + ["wasmtime", "nimbus"]
        for kind in kinds:
            cases.append((scenario, kind, False))
        if scenario == "hello":
            cases += [(scenario, "wasmtime", True), (scenario, "nimbus", True)]
    for rep in range(REPS):
        for scenario, kind, timeout in cases:
            path, lua = SCENARIOS[scenario][1], SCENARIOS[scenario][2]
            server = Server(kind, scenario, timeout=timeout)
            try:
                wait_http(server.port, path, method="GET" if not lua else "GET")
            except RuntimeError:
                pass  # image-resize answers GET with 405; wrk will tell
            try:
                wrk(server.port, path, CONNECTIONS, WARMUP, script if lua else None)
                r = wrk(server.port, path, CONNECTIONS, DURATION, script if lua else None)
            finally:
                server.stop()
            name = scenario + (" (5 s timeout)" if timeout else "")
            log(f"{name:28} {kind:9} rep {rep}: {r['rps']:10.0f} req/s p50 {r['p50_ms']:.3f} ms p99 {r['p99_ms']:.3f} ms")
            results.append({"section": "throughput", "scenario": name, "target": kind, "rep": rep,
                            "connections": CONNECTIONS, **r,
                            "server": server.command()})


def scaling(results):
    for rep in range(REPS):
        for connections in [1, 8, 32, 128]:
            for kind in ["native", "wasmtime", "nimbus"]:
                server = Server(kind, "hello")
                wait_http(server.port, "/hello")
                try:
                    wrk(server.port, "/hello", connections, WARMUP)
                    r = wrk(server.port, "/hello", connections, DURATION)
                finally:
                    server.stop()
                log(f"scaling c={connections:<4} {kind:9} rep {rep}: {r['rps']:10.0f} req/s")
                results.append({"section": "scaling", "scenario": f"hello c={connections}", "target": kind,
                                "rep": rep, "connections": connections, **r, "server": server.command()})


def cold_start(results):
    for rep in range(REPS):
        for label, warm in [("cache cold", False), ("cache warm", True)]:
            cache = Path(tempfile.mkdtemp(prefix="nimbus-bench-cache-"))
            if warm:
                s = Server("nimbus", "hello", cache_dir=cache)
                wait_http(s.port, "/hello")
                s.stop()
            s = Server("nimbus", "hello", cache_dir=cache)
            waited = wait_http(s.port, "/hello")
            s.stop()
            shutil.rmtree(cache, ignore_errors=True)
            log(f"cold start nimbus {label} rep {rep}: {waited * 1000:.1f} ms")
            results.append({"section": "cold start", "scenario": f"process start to first 200 ({label})",
                            "target": "nimbus", "rep": rep, "ms": waited * 1000, "server": s.command()})
        s = Server("wasmtime", "hello")
        waited = wait_http(s.port, "/hello")
        s.stop()
        log(f"cold start wasmtime rep {rep}: {waited * 1000:.1f} ms")
        results.append({"section": "cold start", "scenario": "process start to first 200 (wasmtime defaults)",
                        "target": "wasmtime", "rep": rep, "ms": waited * 1000, "server": s.command()})
        # First request to an app that has never been instantiated: the
        # server is up (its port answers), the first request instantiates.
        s = Server("nimbus", "hello")
        first = None
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            try:
                socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.001)
        start = time.perf_counter()
        wait_http(s.port, "/hello")
        first = (time.perf_counter() - start) * 1000
        s.stop()
        log(f"first request nimbus rep {rep}: {first:.3f} ms")
        results.append({"section": "cold start", "scenario": "first request, never instantiated (incl. connect)",
                        "target": "nimbus", "rep": rep, "ms": first, "server": s.command()})


def instantiate_histogram(results):
    """Per-request instantiation time as nimbus measures it (access log)."""
    port = free_port()
    manifest = WORK / "hello.toml"
    env = dict(os.environ, RUST_LOG="warn,nimbus::access=info")
    proc = subprocess.Popen([str(NIMBUS), "up", "-f", str(manifest), "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_http(port, "/hello")
    wrk(port, "/hello", 1, 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    values = [int(m) for m in re.findall(r"instantiate_us=(\d+)", err)]
    values.sort()
    if values:
        pct = lambda p: values[min(len(values) - 1, int(len(values) * p))]
        results.append({"section": "instantiate", "scenario": "instantiate (in nimbus, wrk -c1)", "target": "nimbus",
                        "rep": 0, "count": len(values), "p50_us": pct(0.5), "p99_us": pct(0.99),
                        "max_us": values[-1], "server": "nimbus up (RUST_LOG=nimbus::access=info)"})
        log(f"instantiate: n={len(values)} p50 {pct(0.5)} us p99 {pct(0.99)} us")


def density(results):
    """1,000 and 10,000 apps on one node (bench/density.py); one run each."""
    import density as d
    cache = WORK / "density-cache"
    counts = [100, 1000] if QUICK else [1000, 10000]
    for apps in counts:
        out = d.scenario(apps, wrk, DURATION, cache)
        results.append({"section": "density", "scenario": f"{apps} apps", "target": "nimbus", "rep": 0,
                        "server": out.pop("command"), **out})


# ---------------------------------------------------------------- report


def summarize(rows, key):
    values = [r[key] for r in rows]
    return statistics.median(values), min(values), max(values)


def fmt(v, digits=0):
    return f"{v:,.{digits}f}"


def report(results, versions):
    md = []
    md.append("# Nimbus benchmark results\n")
    md.append(f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    md.append(f"- machine: {versions['cpu']}, {os.cpu_count()} cores, {versions['mem']}, {platform.platform()}")
    md.append(f"- versions: {versions['nimbus']}; {versions['wasmtime']}; {versions['wrk']}")
    md.append(f"- command: `bench/run.sh{' --quick' if QUICK else ''}`; {REPS} interleaved repetition(s); "
              f"wrk {DURATION} s after {WARMUP} s warm-up, {THREADS} threads, -c{CONNECTIONS} unless stated")
    md.append("- load generator and servers share the same cores: compare rows of the same run, not absolute figures\n")

    targets = {}
    md.append("## Throughput and latency\n")
    md.append("| scenario | target | req/s median (min–max) | p50 ms | p99 ms | non-2xx |")
    md.append("|---|---|---|---|---|---|")
    seen = []
    for r in results:
        if r["section"] == "throughput" and (r["scenario"], r["target"]) not in seen:
            seen.append((r["scenario"], r["target"]))
    for scenario, target in seen:
        rows = [r for r in results if r["section"] == "throughput" and r["scenario"] == scenario and r["target"] == target]
        med, lo, hi = summarize(rows, "rps")
        p50 = statistics.median(r["p50_ms"] for r in rows)
        p99 = statistics.median(r["p99_ms"] for r in rows)
        non2xx = sum(r["non2xx"] for r in rows)
        targets[(scenario, target)] = (med, p99)
        md.append(f"| {scenario} | {target} | {fmt(med)} ({fmt(lo)}–{fmt(hi)}) | {p50:.3f} | {p99:.3f} | {non2xx} |")
    md.append("")
    servers = []
    for r in results:
        if r["section"] == "throughput":
            command = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", r["server"]).replace(str(ROOT) + "/", "")
            if command not in servers:
                servers.append(command)
    md.append("Servers (one fresh process per run):\n")
    md.extend(f"- `{c}`" for c in servers)
    md.append("")

    md.append("## Scaling (hello, req/s by connections)\n")
    md.append("| connections | native | wasmtime serve | nimbus |")
    md.append("|---|---|---|---|")
    for c in [1, 8, 32, 128]:
        cells = []
        for t in ["native", "wasmtime", "nimbus"]:
            rows = [r for r in results if r["section"] == "scaling" and r["connections"] == c and r["target"] == t]
            cells.append(fmt(summarize(rows, "rps")[0]) if rows else "–")
        md.append(f"| {c} | " + " | ".join(cells) + " |")
    md.append("")

    md.append("## Cold start\n")
    md.append("| measurement | target | ms median (min–max) |")
    md.append("|---|---|---|")
    cold = {}
    for r in results:
        if r["section"] == "cold start":
            cold.setdefault((r["scenario"], r["target"]), []).append(r)
    for (scenario, target), rows in cold.items():
        med, lo, hi = summarize(rows, "ms")
        md.append(f"| {scenario} | {target} | {med:.2f} ({lo:.2f}–{hi:.2f}) |")
    inst = [r for r in results if r["section"] == "instantiate"]
    if inst:
        r = inst[0]
        md.append(f"\nInstantiation inside nimbus (access log, {r['count']} requests, wrk -c1): "
                  f"p50 {r['p50_us']} µs, p99 {r['p99_us']} µs, max {r['max_us']} µs.\n")

    md.append("## Density\n")
    dens = [r for r in results if r["section"] == "density"]
    if dens:
        md.append("Distinct manifests of one module (the hello example; each app its own name and an `APP_ID` "
                  "variable), each packed as a bundle and deployed through the admin API (4 concurrent clients) "
                  "on one `nimbus node`. Load: wrk -c32, each request to a uniformly random app's host name, "
                  f"{DURATION} s, after one request to every app (which loads it). Then the node is restarted "
                  "and the same load hits apps that are registered but not loaded.\n")
        md.append("| apps | deploy all (s) | RSS deployed | RSS loaded (peak) | req/s | p50 ms | p99 ms | non-2xx "
                  "| restart to listening | RSS restarted | p99 after restart (first loads) |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in dens:
            md.append(f"| {r['apps']:,} | {r['deploy_s']:.1f} | {r['rss_deployed_mib']:.0f} MiB | "
                      f"{r['rss_loaded_mib']:.0f} MiB ({r['hwm_mib']:.0f}) | {fmt(r['rps'])} | {r['p50']:.2f} | "
                      f"{r['p99']:.2f} | {r['non2xx'] + r['restart_non2xx']} | {r['restart_s'] * 1000:.0f} ms | "
                      f"{r['rss_restarted_mib']:.0f} MiB | {r['restart_p99']:.2f} |")
        md.append(f"\nNode: `{re.sub(r'127[.]0[.]0[.]1:[0-9]+', '127.0.0.1:PORT', dens[0]['server'])}`\n")
    else:
        md.append("Not run.\n")

    md.append("## Targets\n")
    md.append("| target | measured | met |")
    md.append("|---|---|---|")

    def check(name, ok, measured):
        md.append(f"| {name} | {measured} | {'yes' if ok else 'no'} |")

    n = targets.get(("hello", "nimbus"))
    w = targets.get(("hello", "wasmtime"))
    nat = targets.get(("hello", "native"))
    nt = targets.get(("hello (5 s timeout)", "nimbus"))
    if n and w:
        check("hello req/s ≥ 1.25× wasmtime serve", n[0] >= 1.25 * w[0], f"{n[0] / w[0]:.2f}×")
        check("hello p99 ≤ wasmtime serve's", n[1] <= w[1], f"{n[1]:.3f} ms vs {w[1]:.3f} ms")
    if n and nat:
        check("hello req/s ≥ 50% of native", n[0] >= 0.5 * nat[0], f"{100 * n[0] / nat[0]:.0f}%")
    if n and nt:
        check("with a 5 s timeout ≥ 95% of own throughput", nt[0] >= 0.95 * n[0], f"{100 * nt[0] / n[0]:.0f}%")
    first = cold.get(("first request, never instantiated (incl. connect)", "nimbus"))
    if first:
        med = summarize(first, "ms")[0]
        check("first response of a never-instantiated cached app < 1 ms", med < 1.0, f"{med:.3f} ms")
    if inst:
        check("instantiate p50 < 20 µs", inst[0]["p50_us"] < 20, f"{inst[0]['p50_us']} µs")
    warm = cold.get(("process start to first 200 (cache warm)", "nimbus"))
    if warm:
        med = summarize(warm, "ms")[0]
        check("process start to serving one cached app < 50 ms", med < 50, f"{med:.1f} ms")
    big = [r for r in dens if r["apps"] == 10000]
    if big:
        r = big[0]
        check("10,000 apps in one process ≤ 2 GiB RSS", r["hwm_mib"] <= 2048, f"{r['hwm_mib']:.0f} MiB (peak)")
        check("requests over all 10,000 apps p99 < 10 ms", r["p99"] < 10, f"{r['p99']:.2f} ms")
    else:
        md.append("| 10,000 apps ≤ 2 GiB RSS, p99 < 10 ms | not measured in this run | no |")
    md.append("\nAll rows: `bench/results.csv`. Chart: `bench/chart.svg`.\n")
    (BENCH / "RESULTS.md").write_text("\n".join(md))

    keys = sorted({k for r in results for k in r})
    with open(BENCH / "results.csv", "w", newline="") as f:
        w_ = csv.DictWriter(f, fieldnames=keys)
        w_.writeheader()
        for r in results:
            w_.writerow(r)
    chart(targets)


def chart(targets):
    """A bar chart of median req/s per scenario and target, as SVG."""
    colors = {"native": "#888888", "wasmtime": "#d9822b", "nimbus": "#2b7bd9"}
    scenarios = []
    for (s, _) in targets:
        if s not in scenarios:
            scenarios.append(s)
    peak = max(v[0] for v in targets.values()) or 1
    width, row = 760, 26
    height = 40 + row * sum(1 for _ in targets) + 12 * len(scenarios)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           '<text x="10" y="20" font-size="14">Median req/s (wrk -c%d), higher is better</text>' % CONNECTIONS]
    y = 36
    for s in scenarios:
        for t in ["native", "wasmtime", "nimbus"]:
            if (s, t) not in targets:
                continue
            v = targets[(s, t)][0]
            w = int((width - 330) * v / peak)
            out.append(f'<text x="10" y="{y + 15}">{s} — {t}</text>')
            out.append(f'<rect x="230" y="{y + 3}" width="{max(w, 1)}" height="{row - 8}" fill="{colors[t]}"/>')
            out.append(f'<text x="{236 + w}" y="{y + 15}">{v:,.0f}</text>')
            y += row
        y += 12
    out.append("</svg>")
    (BENCH / "chart.svg").write_text("\n".join(out))


def versions(wasmtime):
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip() or \
                subprocess.run(cmd, capture_output=True, text=True).stderr.strip().splitlines()[0]
        except Exception as e:  # noqa: BLE001
            return f"{cmd[0]}: {e}"
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = [l for l in open("/proc/meminfo") if l.startswith("MemTotal")][0].split(":")[1].strip()
    except OSError:
        mem = "?"
    return {"cpu": cpu, "mem": mem, "nimbus": out([str(NIMBUS), "--version"]),
            "wasmtime": out([str(wasmtime), "--version"]), "wrk": out(["wrk", "-v"]).splitlines()[0]}


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    wasmtime = build()
    results = []
    throughput(results)
    scaling(results)
    cold_start(results)
    instantiate_histogram(results)
    density(results)
    report(results, versions(wasmtime))
    log("wrote bench/RESULTS.md, bench/results.csv, bench/chart.svg")


if __name__ == "__main__":
    main()
