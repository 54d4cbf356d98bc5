"""redisai benchmark: the project's performance report.

Sections: tensors (AI.TENSORSET/AI.TENSORGET vs SET/GET throughput and
latency, per-key memory of small tensors, module load time), models
(bench/models.py: AI.MODELEXECUTE against the bare backend call, client-side
inference and the same model unbatched; THREADS_PER_QUEUE scaling;
main-thread stalls during AI.MODELSTORE; memory per stored model) and dag
(bench/dag.py: AI.DAGEXECUTE against the same commands sent separately,
AI.MODELEXECUTE alone and client-side inference; AI.SCRIPTEXECUTE against the
bare TorchScript call; memory per stored script).

Usage: python bench/bench.py --module /abs/path/to/redisai.so [--quick] [--sections ...]

Starts its own redis-server processes on free loopback ports (in a temp dir)
and always stops them. Prints the report (Markdown) and writes it to
bench/results/<name>.md, its data to <name>.json and its chart to <name>.png
(name: latest, or quick with --quick). Each target is reported PASS/FAIL;
the exit status is 0 whenever the report was produced, so a failed target
never hides it.
"""
import argparse
import datetime
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import chart
from harness import (PIN, REDIS_SERVER, ROOT, Column, build_loadgen, fmt_size, ratio_target,
                     redis_server, run_loadgen, table_header, table_line, target)

RESULTS_DIR = ROOT / "bench" / "results"
FRAMEWORKS = ("torch", "onnxruntime", "onnx", "numpy")
FULL = {"duration": 3.0, "warmup": 0.5, "model_duration": 2.0, "output": "latest",
        "sections": "tensors,models,dag"}
QUICK = {"duration": 0.3, "warmup": 0.15, "model_duration": 0.4, "output": "quick",
         "sections": "tensors,models"}

SIZES = [16, 4096, 1 << 20]
CLIENTS = [1, 50]
RATIO_TARGET = 0.9        # AI throughput / plain throughput, per row
MEM_KEYS = 100_000
MEM_PAYLOAD = 16
MEM_TARGET = 64           # max extra bytes per tensor key vs a string key
LOAD_REPS = 5
LOAD_TARGET_S = 0.5

# Command templates for loadgen (@KEY, @SIZE, @DATA are expanded there).
# AI and plain use different key prefixes of equal length: a tensor key can't
# be overwritten by AI.TENSORSET if it holds a string, and vice versa for GET.
TEMPLATES = {
    ("ai", "set"): ["AI.TENSORSET", "@KEY", "UINT8", "@SIZE", "BLOB", "@DATA"],
    ("ai", "get"): ["AI.TENSORGET", "@KEY", "BLOB"],
    ("plain", "set"): ["SET", "@KEY", "@DATA"],
    ("plain", "get"): ["GET", "@KEY"],
}
KEY_PREFIX = {"ai": "t:", "plain": "s:"}
# (size, clients, op) cases, each measured for AI and plain, in run order
CASES = [(size, clients, op) for size in SIZES for clients in CLIENTS for op in ("set", "get")]
OP_NAME = {key: tpl[0] for key, tpl in TEMPLATES.items()}


# ---- tensors --------------------------------------------------------------------

def loadgen(port, kind, op, size, clients, *mode):
    """Run loadgen; `mode` is ("-n", N) or ("-d", secs, "-w", warmup)."""
    return run_loadgen(port, TEMPLATES[kind, op], clients, "-s", size,
                       "-k", KEY_PREFIX[kind], *mode)


def throughput_rows(port, duration, warmup):
    """One row per (size, clients, set|get, ai|plain). AI and plain runs are
    back to back; which goes first alternates so slow drift hits both."""
    rows = []
    for i, (size, clients, op) in enumerate(CASES):
        kinds = ("ai", "plain") if i % 2 == 0 else ("plain", "ai")
        for kind in kinds:
            if op == "get":  # one key per connection, holding this size; a
                # failure here shows up as nil-reply errors in the GET row
                loadgen(port, kind, "set", size, clients, "-n", 1)
            result = loadgen(port, kind, op, size, clients, "-d", duration, "-w", warmup)
            rows.append({"kind": kind, "op": op, "command": OP_NAME[kind, op],
                         "size": size, "clients": clients, **result})
    return rows


def ratio_targets(rows):
    by_key = {(r["kind"], r["size"], r["clients"], r["op"]): r for r in rows}
    return [ratio_target(f"{OP_NAME['ai', op]} {fmt_size(size)}: {clients}-client ops/s vs "
                         f"{OP_NAME['plain', op]}", by_key["ai", size, clients, op],
                         by_key["plain", size, clients, op], RATIO_TARGET, OP_NAME["plain", op])
            for size, clients, op in CASES]


# ---- memory -------------------------------------------------------------------

def bytes_per_key(client, kind):
    """used_memory growth per key for MEM_KEYS keys of one kind."""
    data = bytes(1 + i % 251 for i in range(MEM_PAYLOAD))
    client.flushall()
    before = client.info("memory")["used_memory"]
    batch = 10_000
    for start in range(0, MEM_KEYS, batch):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + batch, MEM_KEYS)):
            if kind == "ai":
                pipe.execute_command("AI.TENSORSET", f"m:{i}", "UINT8", MEM_PAYLOAD, "BLOB", data)
            else:
                pipe.execute_command("SET", f"m:{i}", data)
        pipe.execute()
    after = client.info("memory")["used_memory"]
    if client.dbsize() != MEM_KEYS:
        raise RuntimeError(f"expected {MEM_KEYS} keys, found {client.dbsize()}")
    client.flushall()
    return (after - before) / MEM_KEYS


def memory_target(client):
    plain = bytes_per_key(client, "plain")
    ai = bytes_per_key(client, "ai")
    extra = round(ai - plain, 1)
    return target(f"{MEM_PAYLOAD} B UINT8 tensor: used_memory per key over a string's", extra,
                  "B", f"<= {MEM_TARGET}", extra <= MEM_TARGET,
                  f"string {plain:.1f} B/key, tensor {ai:.1f} B/key ({MEM_KEYS:,} keys)")


# ---- module load --------------------------------------------------------------

def module_load_target(module, workdir):
    """MODULE LOAD round trip on fresh servers started without the module."""
    times = []
    for rep in range(LOAD_REPS):
        with redis_server(workdir / f"load{rep}") as (_, client):
            t0 = time.perf_counter()
            client.execute_command("MODULE", "LOAD", str(module))
            times.append(time.perf_counter() - t0)
    median_ms = round(statistics.median(times) * 1000, 1)
    return target(f"MODULE LOAD round trip, median of {LOAD_REPS} fresh servers", median_ms,
                  "ms", f"< {LOAD_TARGET_S * 1000:g}", median_ms < LOAD_TARGET_S * 1000,
                  "all: " + ", ".join(f"{t * 1000:.1f}" for t in times) + " ms")


def run_tensor_section(module, workdir, duration, warmup, module_args=(), quick=False):
    """The tensor section as one report dict (`module_args` and `quick`:
    for the models sections only; the durations make it quick)."""
    with redis_server(workdir / "main", module) as (port, client):
        rows = throughput_rows(port, duration, warmup)
        section = {"duration_s": duration, "warmup_s": warmup, "rows": rows,
                   "targets": [*ratio_targets(rows), memory_target(client)]}
    section["targets"].append(module_load_target(module, workdir))
    return section


ROW_COLUMNS = [Column("command", 13, ""), Column("size", 7, ""), Column("clients", 7, "d"),
               Column("ops/s", 10, ",.0f"), Column("p50 us", 9, ".1f"),
               Column("p99 us", 9, ".1f"), Column("errors", 6, "d")]


def tensor_markdown(s):
    lines = [f"## Tensors\n\nOne server with the module; {s['duration_s']} s per row after "
             f"{s['warmup_s']} s warm-up; one request in flight per client; AI and plain rows "
             f"back to back.", "", table_header(ROW_COLUMNS)]
    for r in s["rows"]:
        lines.append(table_line(ROW_COLUMNS, [r["command"], fmt_size(r["size"]), r["clients"],
                                              r["ops_per_sec"], r["p50_us"], r["p99_us"],
                                              r["errors"]]))
    lines += [f"\nfirst error of {r['command']} {fmt_size(r['size'])}: `{r['first_error']}`"
              for r in s["rows"] if r["errors"]]
    return lines


# ---- report -------------------------------------------------------------------

SECTION_TITLES = {"tensors": "Tensors", "models": "Models", "dag": "DAG"}
TARGET_COLUMNS = [Column("section", 7, ""), Column("target", 62, ""),
                  Column("measured", 10, ">"), Column("limit", 9, ">"),
                  Column("anchor (same run)", 40, ""), Column("result", 6, "")]
UNIT_FORMATS = {"x": "{:.2f}x", "us": "{:.1f} us", "ms": "{:.2f} ms", "MiB": "{:.2f} MiB",
                "B": "{:.1f} B"}


def machine(module):
    """What the report ran on, and which code."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    redis_version = subprocess.run([REDIS_SERVER, "--version"], capture_output=True,
                                   text=True).stdout.split()[2].removeprefix("v=")

    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True).stdout.strip()
    # changes to the code, not to results or prose, make the commit inexact
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                ":!bench/results", ":!*.md")
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
            "redis_version": redis_version,
            "frameworks": {p: metadata.version(p) for p in FRAMEWORKS},
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": git("rev-parse", "--short", "HEAD") + (" (with uncommitted changes)"
                                                              if dirty else ""),
            "module": str(module), "cpu_pinning": PIN}


def targets_table(report):
    lines = [table_header(TARGET_COLUMNS)]
    for name, t in all_targets(report):
        lines.append(table_line(TARGET_COLUMNS, [
            SECTION_TITLES[name], t["name"], UNIT_FORMATS[t["unit"]].format(t["value"]),
            t["limit"], t["anchor"] or "", "PASS" if t["pass"] else "**FAIL**"]))
    return lines


def all_targets(report):
    """(section, target) of every target, a section that could not run as one failed."""
    for name in SECTION_TITLES:
        if name in report["section_errors"]:
            yield name, target("the section ran", 0, "x", "", False,
                               report["section_errors"][name])
        elif name in report:
            yield from ((name, t) for t in report[name]["targets"])


def render(report):
    """The whole report as Markdown."""
    m = report["meta"]
    frameworks = ", ".join(f"{k} {v}" for k, v in m["frameworks"].items())
    pinning = ("redis-server pinned to CPU 0 for tensor rows, model servers on all CPUs; "
               "1 client on CPU 0, more on CPU 1") if m["cpu_pinning"] else "no CPU pinning"
    lines = ["# redisai benchmark", "",
             f"Machine: {m['cpu']}, {m['cpus']} CPUs, Linux {m['kernel']}, redis-server "
             f"{m['redis_version']}, {frameworks}. Run {m['date']} on commit {m['commit']}, "
             f"`{m['command']}`, {m['elapsed_s']:.0f} s in all ("
             + ", ".join(f"{k} {v:.0f} s" for k, v in m["section_s"].items())
             + f"); {pinning}.", "",
             "## Targets", "",
             f"{report['targets']['passed']} PASS, {report['targets']['failed']} FAIL. Every "
             "limit and anchor was measured in this run, unless it says otherwise.", "",
             *targets_table(report)]
    for name in SECTION_TITLES:
        if name in report:
            markdown = tensor_markdown if name == "tensors" else \
                importlib.import_module(name).markdown
            lines += ["", *markdown(report[name])]
    return "\n".join(lines) + "\n"


# ---- main ---------------------------------------------------------------------

def run_section(report, name, module, workdir, duration, warmup, module_args, quick):
    """One section into report[name]; one that fails to run is recorded as a
    failure, not raised, so the report is always produced. models and dag
    import torch and onnxruntime: only when one of them runs."""
    try:
        run = run_tensor_section if name == "tensors" else \
            importlib.import_module(name).run_section
        report[name] = run(module, workdir, duration, warmup, module_args, quick)
    except Exception as e:  # noqa: BLE001 - reported as a failed target
        report["section_errors"][name] = repr(e)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", required=True, type=Path, help="path to redisai.so")
    parser.add_argument("--quick", action="store_true",
                        help="shorter rows; no dag section, store stall, 8-client model rows; "
                             "one client-side round; writes quick.*")
    parser.add_argument("--duration", type=float, help="seconds per tensor row "
                        f"(default {FULL['duration']}, quick {QUICK['duration']})")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per row "
                        f"(default {FULL['warmup']}, quick {QUICK['warmup']})")
    parser.add_argument("--model-duration", type=float,
                        help="seconds per row of the models and dag sections "
                             f"(default {FULL['model_duration']}, quick "
                             f"{QUICK['model_duration']})")
    parser.add_argument("--model-args", default="",
                        help="extra load-time module arguments for the servers of the "
                             "models and dag sections, e.g. 'INTRA_OP_PARALLELISM 1'")
    parser.add_argument("--sections", help="comma-separated sections to run: tensors, "
                        f"models, dag (default {FULL['sections']}, quick {QUICK['sections']})")
    parser.add_argument("--output", help="results file name, without extension "
                        f"(default {FULL['output']}, quick {QUICK['output']})")
    args = parser.parse_args()
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    sections = args.sections.split(",")
    if not set(sections) <= set(SECTION_TITLES):
        sys.exit(f"unknown section in {args.sections!r}")
    module = args.module.resolve()
    if not module.is_file():
        sys.exit(f"module not found: {module}")

    started = time.monotonic()
    build_loadgen()
    report = {"meta": {**machine(module), "command": " ".join(["bench/bench.py", *sys.argv[1:]]),
                       "quick": args.quick},
              "section_errors": {}}
    seconds = report["meta"]["section_s"] = {}
    with tempfile.TemporaryDirectory(prefix="redisai-bench-") as tmp:
        for name in SECTION_TITLES:
            if name in sections:
                t0 = time.monotonic()
                (Path(tmp) / name).mkdir()
                run_section(report, name, module, Path(tmp) / name,
                            args.duration if name == "tensors" else args.model_duration,
                            args.warmup, args.model_args.split(), args.quick)
                seconds[name] = round(time.monotonic() - t0, 1)
    report["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
    results = [t["pass"] for _, t in all_targets(report)]
    report["targets"] = {"passed": results.count(True), "failed": results.count(False)}

    text = render(report)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / args.output
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    chart.draw([t for _, t in all_targets(report)],
               f"redisai {report['meta']['commit']}, {report['meta']['date']}: "
               f"ours (blue) beside its anchor (grey)", out.with_suffix(".png"))
    print(f"Written: {out}.md, {out}.json, {out}.png")


if __name__ == "__main__":
    main()
