#!/usr/bin/env python3
"""Nimbus message-trigger benchmarks: throughput and latency (publish ->
handler done) of the Redis and NATS triggers, against the same broker with a
native relay (bench/msgbench) in the same run.

Usage: python3 bench/messages.py [--quick] [--reps N] [--count N]
           [--brokers redis,nats] [--relays native,nimbus] [--nimbus PATH]
(see bench/README.md, "Message triggers")

Each relay subscribes to a channel (Redis) or subject (NATS) IN and
republishes every payload to OUT: natively (`msgbench relay`) or as a Wasm
component under `nimbus up` (bench/relay-guests). `msgbench drive` publishes
timestamped messages on IN and times their return on OUT. Writes
bench/MESSAGES.md and bench/messages.csv. Every figure is the median (and
min-max) of interleaved repetitions; each row names the exact command that
produced it.
"""

import csv
import json
import os
import platform
import re
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
# Where the builds go (default: this checkout's target/); another checkout's
# target/ keeps a release build of nimbus incremental.
TARGET = Path(os.environ.get("NIMBUS_BENCH_TARGET", ROOT / "target"))
WORK = TARGET / "bench-work" / "messages"


def option(name, default, convert=str):
    if name in sys.argv:
        return convert(sys.argv[sys.argv.index(name) + 1])
    return default


QUICK = "--quick" in sys.argv
REPS = option("--reps", 1 if QUICK else 3, int)
COUNT = option("--count", 2000 if QUICK else 20000, int)
WINDOW = 512  # below max_concurrency (64) + the trigger's waiting room (1024)
RATE = 2000
RATE_SECONDS = 2 if QUICK else 5
SIZE = 64
BROKERS = option("--brokers", "redis,nats").split(",")
RELAYS = option("--relays", "native,nimbus").split(",")

NIMBUS = Path(option("--nimbus", TARGET / "bench-release" / "release" / "nimbus"))
MSGBENCH = TARGET / "bench-msgbench" / "release" / "msgbench"
GUESTS = TARGET / "bench-relay-guests" / "wasm32-wasip2" / "release"

MODES = {
    # name: (extra drive arguments, what it measures)
    "flat out": (lambda: ["--count", str(COUNT)],
                 f"{COUNT} messages published as fast as the driver can (open loop); losses counted"),
    f"window {WINDOW}": (lambda: ["--count", str(COUNT), "--window", str(WINDOW)],
                         f"{COUNT} messages, at most {WINDOW} published and not back yet (closed loop)"),
    f"{RATE}/s": (lambda: ["--count", str(RATE * RATE_SECONDS), "--rate", str(RATE)],
                  f"{RATE} messages per second for {RATE_SECONDS} s (a load both relays sustain)"),
}


def log(msg):
    print(f"[messages] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30.0):
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port}")


def short(cmd):
    """A command as the report shows it: paths relative, ports as PORT."""
    text = " ".join("''" if c == "" else str(c) for c in cmd)
    text = text.replace(str(TARGET) + "/", "target/").replace(str(ROOT) + "/", "")
    text = re.sub(r"(--port|-p) \d+", r"\1 PORT", text)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


# ---------------------------------------------------------------- building


def build():
    run(["cargo", "build", "--release", "--manifest-path", str(BENCH / "msgbench" / "Cargo.toml"),
         "--target-dir", str(TARGET / "bench-msgbench")], cwd=ROOT)
    run(["cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path",
         str(BENCH / "relay-guests" / "Cargo.toml"), "--target-dir", str(TARGET / "bench-relay-guests")], cwd=ROOT)
    if "nimbus" in RELAYS and "--nimbus" not in sys.argv:
        # As bench/run.py: a target dir of its own, so that a release build
        # does not hold the lock on the shared one that tests use.
        run(["cargo", "build", "--release", "-p", "nimbus", "--target-dir", str(TARGET / "bench-release")],
            cwd=ROOT)


# ---------------------------------------------------------------- processes


class Process:
    def __init__(self, cmd, logfile, env=None):
        self.cmd = [str(c) for c in cmd]
        self.logfile = logfile
        self.out = open(logfile, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()

    def tail(self, lines=5):
        try:
            return "\n".join(Path(self.logfile).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Broker:
    def __init__(self, kind, tmp):
        self.kind = kind
        self.port = free_port()
        data = Path(tmp) / kind
        data.mkdir()
        if kind == "redis":
            self.url = f"redis://127.0.0.1:{self.port}"
            cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(data)]
        else:
            self.url = f"nats://127.0.0.1:{self.port}"
            cmd = ["nats-server", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(data)]
        self.command = short(cmd)
        self.process = Process(cmd, data / "log")
        wait_port(self.port, self.process.proc)

    def stop(self):
        self.process.stop()


def manifest(broker, relay_in, relay_out):
    """A nimbus app whose one component relays broker's IN to OUT."""
    if broker.kind == "redis":
        return f"""spin_manifest_version = 2
[application]
name = "relay-redis"
[application.trigger.redis]
address = "{broker.url}"
[[trigger.redis]]
channel = "{relay_in}"
component = "relay"
[component.relay]
source = "{GUESTS / 'redis-relay.wasm'}"
allowed_outbound_hosts = ["{broker.url}"]
[component.relay.variables]
redis_address = "{broker.url}"
out = "{relay_out}"
"""
    return f"""spin_manifest_version = 2
[application]
name = "relay-nats"
[[trigger.nats]]
address = "{broker.url}"
subject = "{relay_in}"
component = "relay"
[component.relay]
source = "{GUESTS / 'nats-relay.wasm'}"
allowed_outbound_hosts = ["{broker.url}"]
[component.relay.variables]
nats_address = "{broker.url}"
out = "{relay_out}"
"""


class Relay:
    def __init__(self, kind, broker, name):
        self.kind = kind
        self.relay_in, self.relay_out = f"bench-in-{name}", f"bench-out-{name}"
        if kind == "native":
            cmd = [MSGBENCH, "relay", broker.kind, broker.url, self.relay_in, self.relay_out]
            env = {}
        else:
            path = WORK / f"{name}.toml"
            path.write_text(manifest(broker, self.relay_in, self.relay_out))
            # RUST_LOG=warn: no access-log line per message.
            cmd = [NIMBUS, "up", "-f", path, "--listen", f"127.0.0.1:{free_port()}"]
            env = {"RUST_LOG": "warn"}
        self.command = ("RUST_LOG=warn " if env else "") + short(cmd)
        self.process = Process(cmd, WORK / f"{name}.log", env)

    def stop(self):
        self.process.stop()


def drive(broker, relay, args):
    cmd = [MSGBENCH, "drive", broker.kind, broker.url, relay.relay_in, relay.relay_out, "--size", str(SIZE),
           "--timeout", "3"] + args
    log("$ " + " ".join(str(c) for c in cmd))
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"{p.stderr.strip()}; relay log: {relay.process.tail()}")
    result = json.loads(p.stdout.strip().splitlines()[-1])
    result["driver"] = short(cmd)
    log(f"  {result['received']}/{result['sent']} back, {result['throughput']} msg/s, "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
    return result


# ---------------------------------------------------------------- the runs


def measure(tmp):
    rows, failures = [], {}
    brokers = {kind: Broker(kind, tmp) for kind in BROKERS}
    try:
        for rep in range(REPS):
            for kind, broker in brokers.items():
                # Alternate which relay goes first.
                order = RELAYS if rep % 2 == 0 else list(reversed(RELAYS))
                for relay_kind in order:
                    if (kind, relay_kind) in failures:
                        continue
                    log(f"rep {rep + 1}/{REPS}: {kind}, {relay_kind} relay")
                    relay = Relay(relay_kind, broker, f"{kind}-{relay_kind}-{rep}")
                    try:
                        for mode, (args, _) in MODES.items():
                            r = drive(broker, relay, args())
                            rows.append(dict(r, rep=rep + 1, broker=kind, relay=relay_kind, mode=mode,
                                             lost=r["sent"] - r["received"], relay_command=relay.command,
                                             broker_command=broker.command))
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        log(f"  FAILED: {e}")
                        failures[(kind, relay_kind)] = str(e)
                    finally:
                        relay.stop()
    finally:
        for broker in brokers.values():
            broker.stop()
    return rows, failures


# ---------------------------------------------------------------- report


def versions():
    def out(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            return (p.stdout.strip() or p.stderr.strip()).splitlines()[0]
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
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True, cwd=ROOT).stdout.strip()
    commit = out(["git", "rev-parse", "--short", "HEAD"]) + (" (with uncommitted changes)" if dirty else "")
    return {"cpu": cpu, "mem": mem, "commit": commit,
            "nimbus": out([str(NIMBUS), "--version"]) if "nimbus" in RELAYS else "not run",
            "redis": out(["redis-server", "--version"]), "nats": out(["nats-server", "--version"])}


def summarize(rows, key):
    values = [r[key] for r in rows if r[key] is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def fmt(v, digits=0):
    return "–" if v is None else f"{v:,.{digits}f}"


def report(rows, failures, v, command):
    md = ["# Nimbus message-trigger benchmark results\n"]
    md.append(f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    md.append(f"- machine: {v['cpu']}, {os.cpu_count()} cores (nproc), {v['mem']}, {platform.platform()}")
    md.append(f"- versions: {v['nimbus']} (commit {v['commit']}); {v['redis']}; {v['nats']}")
    md.append(f"- command: `{command}`; {REPS} interleaved repetition(s); {SIZE}-byte payloads")
    md.append("- driver, broker and relay share the same cores: compare rows of the same run, "
              "not absolute figures\n")
    md.append("Each relay subscribes to IN and publishes every payload unchanged to OUT: natively "
              "(`msgbench relay`, the broker's own throughput with a native subscriber) or as a Wasm "
              "component under `nimbus up` (`bench/relay-guests`: Redis with Spin SDK 5 "
              "`#[redis_component]` and `spin_sdk::redis` publish; NATS with "
              "`wasi:messaging@0.2.0-draft` `incoming-handler` and `producer.send`). `msgbench drive` "
              "publishes on IN and times each message's return on OUT: latency is publish → handler "
              "done plus one publish through the broker. Throughput is messages back per second, "
              "first send to last receive.\n")
    md.append("| mode | what |")
    md.append("|---|---|")
    for mode, (_, what) in MODES.items():
        md.append(f"| {mode} | {what} |")
    md.append("")

    md.append("## Results\n")
    md.append("| broker | mode | relay | msg/s median (min–max) | p50 ms | p99 ms | max ms | lost |")
    md.append("|---|---|---|---|---|---|---|---|")
    groups = {}
    for r in rows:
        groups.setdefault((r["broker"], r["mode"], r["relay"]), []).append(r)
    for (broker, mode, relay), g in groups.items():
        med, lo, hi = summarize(g, "throughput")
        p50 = summarize(g, "p50_ms")[0]
        p99 = summarize(g, "p99_ms")[0]
        mx = summarize(g, "max_ms")[0]
        lost = sum(r["lost"] for r in g)
        sent = sum(r["sent"] for r in g)
        md.append(f"| {broker} | {mode} | {relay} | {fmt(med)} ({fmt(lo)}–{fmt(hi)}) | {fmt(p50, 2)} | "
                  f"{fmt(p99, 2)} | {fmt(mx, 2)} | {lost} of {sent} |")
    md.append("")

    md.append("Throughput counts the messages that came back. Where `lost` is not 0 (flat out), the relay "
              "dropped the rest (the trigger runs `max_concurrency` events and queues 1,024 more) and its "
              "figure is the rate of what it kept up with: compare the window rows for the throughput a relay "
              "sustains, and the 2000/s rows for latency without queueing.\n")
    md.append("## nimbus / native\n")
    md.append("| broker | mode | throughput ratio | p50 ms native → nimbus | p99 ms native → nimbus |")
    md.append("|---|---|---|---|---|")
    for broker in BROKERS:
        for mode in MODES:
            native, nimbus = groups.get((broker, mode, "native")), groups.get((broker, mode, "nimbus"))
            if not native or not nimbus:
                continue
            n, w = summarize(native, "throughput")[0], summarize(nimbus, "throughput")[0]
            ratio = f"{w / n:.1%}" if n and w is not None else "–"
            md.append(f"| {broker} | {mode} | {ratio} | {fmt(summarize(native, 'p50_ms')[0], 2)} → "
                      f"{fmt(summarize(nimbus, 'p50_ms')[0], 2)} | {fmt(summarize(native, 'p99_ms')[0], 2)} → "
                      f"{fmt(summarize(nimbus, 'p99_ms')[0], 2)} |")
    md.append("")

    if failures:
        md.append("## Not measured\n")
        for (broker, relay), why in failures.items():
            md.append(f"- {broker}, {relay} relay: {why.splitlines()[0][:300]}")
        md.append("")

    md.append("## Commands\n")
    md.append("One broker of each kind for the whole run; one fresh relay process per repetition, "
              "driven by the three modes in turn (fresh channel names each time).\n")
    seen = []
    for r in rows:
        for c in (r["broker_command"], r["relay_command"], r["driver"]):
            c = re.sub(r"bench-(in|out)-[a-z]+-[a-z]+-\d+", lambda m: m.group(1).upper(), c)
            c = re.sub(r"(bench-work/messages/[a-z]+-[a-z]+)-\d+", r"\1-REP", c)
            c = re.sub(r"-sd \S+", "-sd TMP", c)
            c = re.sub(r"--dir \S+", "--dir TMP", c)
            if c not in seen:
                seen.append(c)
    md.extend(f"- `{c}`" for c in seen)
    md.append("")
    for broker in BROKERS:
        if any(r["broker"] == broker and r["relay"] == "nimbus" for r in rows):
            fake = type("B", (), {"kind": broker, "url": f"{broker}://127.0.0.1:PORT"})
            text = manifest(fake, "IN", "OUT").replace(str(TARGET) + "/", "target/")
            md.append(f"The {broker} relay's manifest:\n\n```toml\n{text}```\n")
    (BENCH / "MESSAGES.md").write_text("\n".join(md))

    fields = ["rep", "broker", "relay", "mode", "count", "rate", "window", "size", "sent", "received", "lost",
              "seconds", "send_seconds", "publish_rate", "throughput", "p50_ms", "p90_ms", "p99_ms", "max_ms",
              "broker_command", "relay_command", "driver"]
    with open(BENCH / "messages.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def main():
    command = "python3 bench/messages.py" + "".join(f" {a}" for a in sys.argv[1:])
    if "NIMBUS_BENCH_TARGET" in os.environ:
        command = f"NIMBUS_BENCH_TARGET={os.environ['NIMBUS_BENCH_TARGET']} {command}"
    WORK.mkdir(parents=True, exist_ok=True)
    build()
    with tempfile.TemporaryDirectory(prefix="nimbus-messages-") as tmp:
        rows, failures = measure(tmp)
    report(rows, failures, versions(), command)
    log("wrote bench/MESSAGES.md, bench/messages.csv")


if __name__ == "__main__":
    main()
