"""What the benchmark sections share: CPU pinning, redis-server processes,
the loadgen runner and report formatting."""
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections import namedtuple
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
LOADGEN_SRC = ROOT / "bench" / "loadgen.c"
LOADGEN_BIN = ROOT / "build" / "bench" / "loadgen"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

# CPU pinning. The server runs on SERVER_CPU. A single client shares that CPU:
# with one request in flight client and server never run at once, and on a
# small VM a wake-up across CPUs costs ~50-80 us and depends on where the
# scheduler happens to put the two processes, which made 1-client rows flip
# between ~7 and ~70 us from run to run. With more clients the load generator
# gets another CPU so both run in parallel.
PIN = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
SERVER_CPU = 0
ALL_CPUS = f"0-{(os.cpu_count() or 1) - 1}"


def pinned(cmd, cpus):
    """`cmd` run on the CPU list `cpus` (an int or a taskset list like "0-1")."""
    return ["taskset", "-c", str(cpus), *cmd] if PIN else cmd


def loadgen_cpu(clients):
    return SERVER_CPU if clients == 1 else SERVER_CPU + 1


@contextlib.contextmanager
def pinned_self(cpu):
    """Runs the enclosed code of this process on one CPU (when pinning)."""
    before = os.sched_getaffinity(0)
    if PIN:
        os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# ---- servers ----------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def redis_server(workdir, module=None, module_args=(), cpus=SERVER_CPU):
    """A redis-server on a free loopback port; yields (port, client).
    `module_args` follow the module path in --loadmodule."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "redis.log"
    cmd = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
           "--dir", str(workdir), "--logfile", str(log),
           "--save", "", "--appendonly", "no",
           # Redis 7 refuses MODULE LOAD at runtime unless this is set
           "--enable-module-command", "yes"]
    if module:
        cmd += ["--loadmodule", str(module), *map(str, module_args)]
    proc = subprocess.Popen(pinned(cmd, cpus), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        yield port, wait_ready(port, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(port, proc, log, timeout=30):
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            client.ping()
            return client
        except redis.ConnectionError:
            time.sleep(0.02)
    raise RuntimeError(f"redis-server on port {port} did not start within {timeout} s")


def server_rss(client):
    """The server's resident set size in bytes, read from /proc now (INFO's
    used_memory_rss is only refreshed by the server's cron)."""
    pid = client.info("server")["process_id"]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/<pid>/status")


# ---- load generator -----------------------------------------------------------

def build_loadgen():
    LOADGEN_BIN.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cc", "-O2", "-Wall", "-o", str(LOADGEN_BIN), str(LOADGEN_SRC)], check=True)


def loadgen_cmd(port, template, clients, *options):
    """The loadgen command line; `options` are extra flags such as
    ("-d", secs, "-w", warmup), ("-n", N), ("-s", size, "-k", prefix)."""
    return [str(LOADGEN_BIN), "-p", str(port), "-c", str(clients), *map(str, options),
            "--", *template]


def loadgen_result(returncode, stdout, stderr):
    if returncode != 0:
        return {"ops": 0, "ops_per_sec": 0.0, "p50_us": 0.0, "p99_us": 0.0, "max_us": 0.0,
                "max_at": 0.0, "errors": 1, "first_error": stderr.strip()[-200:]}
    return json.loads(stdout)


def run_loadgen(port, template, clients, *options):
    """Runs loadgen to completion on loadgen_cpu(clients); returns its JSON."""
    cmd = loadgen_cmd(port, template, clients, *options)
    proc = subprocess.run(pinned(cmd, loadgen_cpu(clients)), capture_output=True,
                          text=True, timeout=120)
    return loadgen_result(proc.returncode, proc.stdout, proc.stderr)


@contextlib.contextmanager
def background_loadgen(port, template, warmup):
    """One loadgen connection running until the block ends (loadgen -d 0 stops
    on SIGINT); the result dict is filled in on exit."""
    cmd = loadgen_cmd(port, template, 1, "-d", 0, "-w", warmup)
    proc = subprocess.Popen(pinned(cmd, loadgen_cpu(1)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    result = {}
    try:
        time.sleep(warmup + 0.05)
        yield result
    finally:
        proc.send_signal(2)  # SIGINT
        out, err = proc.communicate(timeout=30)
        result.update(loadgen_result(proc.returncode, out, err))


def percentiles_us(seconds):
    """p50/p99/max in microseconds of latency samples in seconds, with
    loadgen's nearest-rank definition."""
    if not seconds:
        return {"p50_us": 0.0, "p99_us": 0.0, "max_us": 0.0}
    s = sorted(seconds)

    def rank(p):
        return s[max(1, min(len(s), int(p / 100 * len(s) + 0.999999))) - 1] * 1e6
    return {"p50_us": round(rank(50), 1), "p99_us": round(rank(99), 1),
            "max_us": round(rank(100), 1)}


# ---- targets -------------------------------------------------------------------

def ratio(a, b):
    return round(a / b, 3) if b else 0.0


def pair(ours, anchor, anchor_name):
    """What the chart draws of a comparison: two rows' ops/s, p50 and p99."""
    keep = ("ops_per_sec", "p50_us", "p99_us")
    return {"ours": {k: ours[k] for k in keep}, "anchor": {k: anchor[k] for k in keep},
            "anchor_name": anchor_name}


def target(name, value, unit, limit, ok, anchor=None, compared=None):
    """One PASS/FAIL line of the report. `limit` is text ("<= 66.2"),
    `anchor` what the limit comes from, measured in the same run where there
    is such a figure; `compared` (see pair()) the two rows compared, for
    the chart."""
    return {"name": name, "value": value, "unit": unit, "limit": limit, "anchor": anchor,
            "pass": bool(ok), "pair": compared}


def ratio_target(name, ours, anchor, limit, anchor_name, note=""):
    """ops/s of the row `ours` over that of `anchor` (measured in the same
    run), at least `limit`, and no error replies in either."""
    value = ratio(ours["ops_per_sec"], anchor["ops_per_sec"])
    text = f"{anchor_name} {anchor['ops_per_sec']:,.0f} ops/s" + (f"; {note}" if note else "")
    return target(name, value, "x", f">= {limit:g}",
                  ours["errors"] == 0 and anchor["errors"] == 0 and value >= limit,
                  text, pair(ours, anchor, anchor_name))


# ---- report formatting ----------------------------------------------------------

def fmt_size(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def verdict(ok):
    return "PASS" if ok else "FAIL"


# A Markdown table column: `fmt` is a format spec for the value ("" for
# text); cells are padded to `width` so the table also reads as plain text.
# Text is left-aligned, numbers right-aligned; None is blank.
Column = namedtuple("Column", "header width fmt")


def table_header(columns):
    """The header and alignment lines of a Markdown table."""
    rule = [":" + "-" * (c.width - 1) if not c.fmt else "-" * (c.width - 1) + ":"
            for c in columns]
    return "\n".join([table_line(columns, [c.header for c in columns], header=True),
                      "| " + " | ".join(rule) + " |"])


def table_line(columns, values, header=False):
    cells = []
    for col, value in zip(columns, values):
        text = "" if value is None else value if header else format(value, col.fmt)
        cells.append(f"{text:<{col.width}}" if not col.fmt else f"{text:>{col.width}}")
    return "| " + " | ".join(cells) + " |"
