"""Density: thousands of distinct apps on one `nimbus node`.

Each app is a distinct manifest (its own application name and an `APP_ID`
environment variable) of one module, the hello example, packed as a bundle
(the format of crates/platform/src/bundle.rs) and deployed through the admin
API. Measured: deploy time, RSS after deploying, p50/p99 of requests spread
uniformly over every app (wrk picks a random app's Host per request) once
every app has been loaded, RSS then, and the same after a restart of the node
(apps registered but not loaded until their first request).

Usable alone: `python3 bench/density.py 1000` (after bench/run.sh built
nimbus in release mode and the hello example).
"""

import gzip
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "bench-work"
NIMBUS = ROOT / "target" / "bench-release" / "release" / "nimbus"
HELLO = ROOT / "examples" / "hello" / "target" / "wasm32-wasip2" / "release" / "hello.wasm"
TOKEN = "bench-density-token"
DEPLOY_THREADS = 4


def log(msg):
    print(f"[density] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bundle(app_id, wasm):
    """A bundle holding `nimbus.toml` (distinct per app) and the shared Wasm."""
    manifest = (
        'spin_manifest_version = 2\n'
        f'[application]\nname = "app{app_id}"\nversion = "0.1.0"\n'
        '[[trigger.http]]\nroute = "/..."\ncomponent = "hello"\n'
        '[component.hello]\nsource = "hello.wasm"\n'
        f'environment = {{ APP_ID = "{app_id}" }}\n'
    ).encode()
    files = {"hello.wasm": wasm, "nimbus.toml": manifest}
    index = {
        "format": 1,
        "manifest": "nimbus.toml",
        "files": [
            {"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
            for p, b in sorted(files.items())
        ],
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        entries = [("nimbus-bundle.json", json.dumps(index).encode())]
        entries += [("files/" + p, b) for p, b in sorted(files.items())]
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=1)


def rss_kib(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


class Node:
    def __init__(self, data_dir, cache_dir):
        self.port = free_port()
        self.admin = free_port()
        self.cmd = [
            str(NIMBUS), "node", "--listen", f"127.0.0.1:{self.port}", "--admin", f"127.0.0.1:{self.admin}",
            "--data-dir", str(data_dir), "--cache-dir", str(cache_dir),
        ]
        env = dict(os.environ, RUST_LOG="warn", NIMBUS_ADMIN_TOKEN=TOKEN)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ready_s = self.wait_ready()

    def wait_ready(self):
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return time.perf_counter() - self.started
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"nimbus node exited with {self.proc.returncode}")
                time.sleep(0.005)
        raise RuntimeError("nimbus node did not start listening")

    def command(self):
        return "nimbus " + " ".join(a.replace(str(ROOT) + "/", "") for a in self.cmd[1:])

    def deploy(self, app_id, body):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.admin}/v1/apps/app{app_id}", data=body, method="PUT",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            if resp.status != 200:
                raise RuntimeError(f"deploy app{app_id}: {resp.status}")

    def get(self, app_id):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/", headers={"Host": f"app{app_id}.localhost"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def parallel(count, work, threads=DEPLOY_THREADS):
    """Runs work(i) for i in 0..count on `threads` threads; re-raises the first error."""
    next_id = iter(range(count))
    lock = threading.Lock()
    errors = []

    def worker():
        while not errors:
            with lock:
                i = next(next_id, None)
            if i is None:
                return
            try:
                work(i)
            except Exception as err:  # noqa: BLE001 - reported below
                errors.append(err)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def touch_all(node, apps):
    """One request to every app (loads each); checks each answers 200."""
    def one(i):
        status, _ = node.get(i)
        if status != 200:
            raise RuntimeError(f"app{i}: status {status}")
    started = time.perf_counter()
    parallel(apps, one, threads=8)
    return time.perf_counter() - started


def spread_load(node, apps, wrk, duration):
    script = WORK / f"density-{apps}.lua"
    script.write_text(
        f"request = function()\n"
        f"  return wrk.format(nil, '/', {{Host = 'app' .. math.random(0, {apps - 1}) .. '.localhost'}})\n"
        f"end\n"
    )
    return wrk(node.port, "/", 32, duration, script=script)


def scenario(apps, wrk, duration, cache_dir):
    """Deploys `apps` apps on a fresh node and measures it; returns a dict of figures."""
    data_dir = WORK / f"density-{apps}"
    subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    wasm = HELLO.read_bytes()
    out = {"apps": apps}
    node = Node(data_dir, cache_dir)
    try:
        out["command"] = node.command()
        bundles_started = time.perf_counter()
        bodies = [bundle(i, wasm) for i in range(apps)]
        log(f"{apps} bundles packed in {time.perf_counter() - bundles_started:.1f} s; deploying")
        started = time.perf_counter()
        parallel(apps, lambda i: node.deploy(i, bodies[i]))
        out["deploy_s"] = time.perf_counter() - started
        out["rss_deployed_mib"] = rss_kib(node.proc.pid)[0] / 1024
        log(f"deployed {apps} apps in {out['deploy_s']:.1f} s; RSS {out['rss_deployed_mib']:.0f} MiB")
        out["touch_all_s"] = touch_all(node, apps)
        result = spread_load(node, apps, wrk, duration)
        out["rps"], out["p50"], out["p99"], out["non2xx"] = result["rps"], result["p50_ms"], result["p99_ms"], result["non2xx"]
        out["rss_loaded_mib"], hwm = rss_kib(node.proc.pid)
        out["hwm_mib"] = hwm / 1024
        out["rss_loaded_mib"] /= 1024
        log(f"loaded: {out['rps']:.0f} req/s p50 {out['p50']} ms p99 {out['p99']} ms RSS {out['rss_loaded_mib']:.0f} MiB")
    finally:
        node.stop()
    # Restart: every app is registered from disk, none loaded until asked.
    node = Node(data_dir, cache_dir)
    try:
        out["restart_s"] = node.ready_s
        out["rss_restarted_mib"] = rss_kib(node.proc.pid)[0] / 1024
        result = spread_load(node, apps, wrk, duration)
        out["restart_rps"], out["restart_p50"], out["restart_p99"] = result["rps"], result["p50_ms"], result["p99_ms"]
        out["restart_non2xx"] = result["non2xx"]
        out["rss_restarted_loaded_mib"] = rss_kib(node.proc.pid)[0] / 1024
        log(f"restarted in {out['restart_s'] * 1000:.0f} ms; first load over all apps p99 {out['restart_p99']} ms")
    finally:
        node.stop()
    subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run as bench  # noqa: E402

    WORK.mkdir(parents=True, exist_ok=True)
    counts = [int(a) for a in sys.argv[1:]] or [1000]
    for count in counts:
        print(json.dumps(scenario(count, bench.wrk, 10, WORK / "density-cache"), indent=2))
