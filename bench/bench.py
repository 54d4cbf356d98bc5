"""redisai benchmark: AI.TENSORSET/AI.TENSORGET vs SET/GET throughput and
latency, per-key memory of small tensors, module load time, and the model
section (bench/models.py): AI.MODELEXECUTE against the bare backend call and
client-side inference, THREADS_PER_QUEUE scaling, main-thread stalls during
AI.MODELSTORE and memory per stored model, and the DAG section (bench/dag.py):
AI.DAGEXECUTE against the same commands sent separately, AI.MODELEXECUTE
alone and client-side inference, and AI.SCRIPTEXECUTE against the bare
TorchScript call.

Usage: python bench/bench.py --module /abs/path/to/redisai.so [--sections tensors,models,dag]

Starts its own redis-server processes on free loopback ports (in a temp dir)
and always stops them. Prints one report and writes it as JSON to
bench/results/latest.json. Each target is reported PASS/FAIL; the exit status
is 0 whenever the report was produced, so a failed target never hides it.
"""
import argparse
import datetime
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import (PIN, ROOT, Column, build_loadgen, fmt_size, redis_server, run_loadgen,
                     table_header, table_line, verdict)

RESULTS_FILE = ROOT / "bench" / "results" / "latest.json"

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


def index_rows(rows):
    return {(r["kind"], r["size"], r["clients"], r["op"]): r for r in rows}


def ratio_rows(rows):
    by_key = index_rows(rows)
    ratios = []
    for size, clients, op in CASES:
        ai, plain = by_key["ai", size, clients, op], by_key["plain", size, clients, op]
        ratio = ai["ops_per_sec"] / plain["ops_per_sec"] if plain["ops_per_sec"] else 0.0
        ok = ratio >= RATIO_TARGET and ai["errors"] == 0 and plain["errors"] == 0
        ratios.append({"op": op, "size": size, "clients": clients,
                       "ratio": round(ratio, 3), "pass": ok})
    return ratios


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


def memory_result(client):
    plain = bytes_per_key(client, "plain")
    ai = bytes_per_key(client, "ai")
    extra = ai - plain
    return {"keys": MEM_KEYS, "payload": MEM_PAYLOAD, "plain_bytes_per_key": round(plain, 1),
            "tensor_bytes_per_key": round(ai, 1), "extra_bytes_per_key": round(extra, 1),
            "target_max_extra": MEM_TARGET, "pass": extra <= MEM_TARGET}


# ---- module load --------------------------------------------------------------

def module_load_result(module, workdir):
    """MODULE LOAD round trip on fresh servers started without the module."""
    times = []
    for rep in range(LOAD_REPS):
        with redis_server(workdir / f"load{rep}") as (_, client):
            t0 = time.perf_counter()
            client.execute_command("MODULE", "LOAD", str(module))
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {"reps": LOAD_REPS, "seconds": [round(t, 4) for t in times],
            "median_s": round(median, 4), "target_max_s": LOAD_TARGET_S,
            "pass": median < LOAD_TARGET_S}


# ---- report -------------------------------------------------------------------

THROUGHPUT_COLUMNS = [Column("command", 13, ""), Column("size", 7, ""),
                      Column("clients", 7, "d"), Column("ops/s", 10, ",.0f"),
                      Column("p50 us", 9, ".1f"), Column("p99 us", 9, ".1f"),
                      Column("errors", 6, "d"), Column("AI/plain", 8, ".3f"),
                      Column("result", 6, "")]


def print_throughput(rows, ratios, duration, warmup):
    by_key = index_rows(rows)
    print(f"\nThroughput and latency ({duration} s per row after {warmup} s warm-up, "
          f"one request in flight per client; target AI/plain >= {RATIO_TARGET})")
    print(table_header(THROUGHPUT_COLUMNS))
    for q in ratios:  # in CASES order; the ratio goes on the AI line
        for kind in ("ai", "plain"):
            r = by_key[kind, q["size"], q["clients"], q["op"]]
            ai = kind == "ai"
            print(table_line(THROUGHPUT_COLUMNS, [
                r["command"], fmt_size(r["size"]), r["clients"], r["ops_per_sec"], r["p50_us"],
                r["p99_us"], r["errors"], q["ratio"] if ai else None,
                verdict(q["pass"]) if ai else None]))
            if r["errors"]:
                print(f"{'':13}   first error: {r['first_error']}")


def print_report(report):
    meta = report["meta"]
    pinning = "server on CPU 0, 1 client on CPU 0, 50 clients on CPU 1" \
        if meta["cpu_pinning"] else "no CPU pinning"
    print(f"\nredisai benchmark  {meta['date']}  redis {meta['redis_version']}  "
          f"{meta['cpus']} CPUs ({pinning})\nmodule: {meta['module']}")
    if "throughput" in report:
        print_throughput(report["throughput"], report["ratios"],
                         meta["duration_s"], meta["warmup_s"])
    if "memory" in report:
        m = report["memory"]
        print(f"\nMemory ({m['keys']:,} keys, {m['payload']} B payload; used_memory delta / keys)")
        print(f"  plain string : {m['plain_bytes_per_key']:8.1f} B/key")
        print(f"  UINT8 tensor : {m['tensor_bytes_per_key']:8.1f} B/key")
        print(f"  extra        : {m['extra_bytes_per_key']:8.1f} B/key "
              f"(target <= {m['target_max_extra']})  {verdict(m['pass'])}")
    if "module_load" in report:
        m = report["module_load"]
        print(f"\nModule load (MODULE LOAD round trip, fresh server, {m['reps']} reps)")
        print(f"  median {m['median_s'] * 1000:.1f} ms  (all: "
              f"{', '.join(f'{t * 1000:.1f}' for t in m['seconds'])} ms; "
              f"target < {m['target_max_s'] * 1000:.0f} ms)  {verdict(m['pass'])}")
    if "models" in report:
        import models
        models.print_section(report["models"])
    if "dag" in report:
        import dag
        dag.print_section(report["dag"])
    for name, err in report["section_errors"].items():
        print(f"\n{name}: FAIL (could not run: {err})")
    t = report["targets"]
    print(f"\nTargets: {t['passed']} PASS, {t['failed']} FAIL")


def summarize_targets(report):
    results = [r["pass"] for r in report.get("ratios", [])]
    results += [report[k]["pass"] for k in ("memory", "module_load") if k in report]
    if "models" in report:
        import models
        results += models.target_results(report["models"])
    if "dag" in report:
        import dag
        results += dag.target_results(report["dag"])
    failed = results.count(False) + len(report["section_errors"])
    return {"passed": results.count(True), "failed": failed}


# ---- main ---------------------------------------------------------------------

def run_tensor_sections(report, module, workdir, duration, warmup):
    """Each section that fails to run is recorded as a failure, not raised,
    so the report is always produced."""
    errors = report["section_errors"]
    try:
        with redis_server(workdir / "main", module) as (port, client):
            report["meta"]["redis_version"] = client.info("server")["redis_version"]
            try:
                rows = throughput_rows(port, duration, warmup)
                report["throughput"], report["ratios"] = rows, ratio_rows(rows)
            except Exception as e:  # noqa: BLE001 - reported as a failed target
                errors["throughput"] = repr(e)
            try:
                report["memory"] = memory_result(client)
            except Exception as e:  # noqa: BLE001
                errors["memory"] = repr(e)
    except Exception as e:  # noqa: BLE001
        errors["server with module"] = repr(e)
    try:
        report["module_load"] = module_load_result(module, workdir)
    except Exception as e:  # noqa: BLE001
        errors["module_load"] = repr(e)


def run_model_section(report, name, module, workdir, duration, warmup, module_args):
    """The models or dag section (they import torch and onnxruntime: only
    when one of them runs)."""
    try:
        section = importlib.import_module(name)
        report[name] = section.run_section(module, workdir, duration, warmup, module_args)
    except Exception as e:  # noqa: BLE001 - reported as a failed target
        report["section_errors"][name] = repr(e)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", required=True, type=Path, help="path to redisai.so")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per row")
    parser.add_argument("--warmup", type=float, default=0.5, help="warm-up seconds per row")
    parser.add_argument("--model-duration", type=float, default=2.0,
                        help="seconds per row of the models and dag sections")
    parser.add_argument("--model-args", default="",
                        help="extra load-time module arguments for the servers of the "
                             "models and dag sections, "
                             "e.g. 'INTRA_OP_PARALLELISM 1'")
    parser.add_argument("--sections", default="tensors,models,dag",
                        help="comma-separated sections to run: tensors, models, dag")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if not sections <= {"tensors", "models", "dag"}:
        sys.exit(f"unknown section in {args.sections!r}")
    module = args.module.resolve()
    if not module.is_file():
        sys.exit(f"module not found: {module}")

    build_loadgen()
    report = {"meta": {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                       "module": str(module), "redis_version": "?", "cpus": os.cpu_count(),
                       "duration_s": args.duration, "warmup_s": args.warmup,
                       "cpu_pinning": PIN},
              "section_errors": {}}
    with tempfile.TemporaryDirectory(prefix="redisai-bench-") as tmp:
        if "tensors" in sections:
            run_tensor_sections(report, module, Path(tmp), args.duration, args.warmup)
        for name in ("models", "dag"):
            if name in sections:
                run_model_section(report, name, module, Path(tmp), args.model_duration,
                                  args.warmup, args.model_args.split())
    report["targets"] = summarize_targets(report)

    print_report(report)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON written to {RESULTS_FILE}")


if __name__ == "__main__":
    main()
