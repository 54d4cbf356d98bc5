"""Model section of the benchmark.

AI.MODELEXECUTE of a small MLP (ONNX and TorchScript, same weights) at 1, 8
and 32 clients with THREADS_PER_QUEUE 1 and 2, against two baselines run in
the same report: the bare backend call in this process (the floor) and
client-side inference (clients that GET the input from plain Redis, run the
model themselves and SET the output). Also: PING latency from a separate
connection while a 100 MB+ model is stored, and server RSS per stored model.
"""
import contextlib
import io
import multiprocessing
import os
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import redis
import torch
from onnx import TensorProto, helper, numpy_helper

from harness import (ALL_CPUS, PIN, SERVER_CPU, Column, background_loadgen, percentiles_us,
                     pinned_self, redis_server, run_loadgen, server_rss, table_header,
                     table_line, verdict)

LAYERS = (256, 512, 512, 10)   # ReLU between layers, float32, batch 1
BACKENDS = ("ONNX", "TORCH")
CLIENTS = (1, 8, 32)
CLIENT_SIDE_CLIENTS = (8, 32)
THREADS_PER_QUEUE = (1, 2)
BIG_SIDE = 5200                # one 5200x5200 float32 initializer: 108 MB
MEM_COPIES = 20
SLOWLOG_THRESHOLD_US = 100

LATENCY_TARGET_US = 35         # 1-client p50 minus the floor's p50
CLIENT_SIDE_TARGET = 4.0       # 32-client ops/s over client-side inference
TPQ_TARGET = 1.5               # 32-client ops/s, THREADS_PER_QUEUE 2 over 1
TAIL_TARGET = 10.0             # p99 / p50 of every AI.MODELEXECUTE row
STALL_TARGET_MS = 10.0         # max PING latency while a model is stored
MEM_TARGET_MIB = 2.5           # RSS growth per extra stored ONNX MLP

# The model servers get every CPU (worker threads must be able to run beside
# the main thread, or THREADS_PER_QUEUE could not matter); loadgen is pinned
# as in the tensor section. Everything in this process (the floor, the
# client-side clients) uses one intra-op thread.
MODEL_SERVER_CPUS = ALL_CPUS
torch.set_num_threads(1)

EXECUTE = ["AI.MODELEXECUTE", "mlp:{backend}", "INPUTS", "1", "in:{c}", "OUTPUTS", "1", "out:{c}"]


# ---- models ---------------------------------------------------------------------

def onnx_graph(nodes, initializers, input_shape, output, output_shape):
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))
    out = helper.make_tensor_value_info(output, TensorProto.FLOAT, list(output_shape))
    graph = helper.make_graph(nodes, "bench", [inp], [out], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def onnx_mlp(mlp):
    """The torch MLP's weights as an ONNX graph of Gemm and Relu nodes."""
    linears = [m for m in mlp if isinstance(m, torch.nn.Linear)]
    nodes, initializers, x = [], [], "x"
    for i, linear in enumerate(linears):
        initializers += [numpy_helper.from_array(linear.weight.detach().numpy(), f"w{i}"),
                         numpy_helper.from_array(linear.bias.detach().numpy(), f"b{i}")]
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"g{i}"], transB=1))
        x = f"g{i}"
        if i + 1 < len(linears):
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    return onnx_graph(nodes, initializers, (1, LAYERS[0]), x, (1, LAYERS[-1]))


def torchscript(module):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(module.eval()), buf)
    return buf.getvalue()


def mlp_models():
    """{backend: blob} of one random MLP, and a random input for it."""
    torch.manual_seed(0)
    layers = []
    for n_in, n_out in zip(LAYERS, LAYERS[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    mlp = torch.nn.Sequential(*layers[:-1])
    x = np.random.default_rng(0).standard_normal((1, LAYERS[0]), dtype=np.float32)
    return {"ONNX": onnx_mlp(mlp), "TORCH": torchscript(mlp)}, x


class MatMul(torch.nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)

    def forward(self, x):
        return x @ self.weight


def big_models():
    """{backend: blob} of one x @ W with a BIG_SIDE^2 float32 W (108 MB)."""
    w = np.random.default_rng(1).standard_normal((BIG_SIDE, BIG_SIDE), dtype=np.float32)
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    onnx_blob = onnx_graph([node], [numpy_helper.from_array(w, "w")],
                           (1, BIG_SIDE), "y", (1, BIG_SIDE))
    return {"ONNX": onnx_blob, "TORCH": torchscript(MatMul(torch.from_numpy(w)))}


def local_model(backend, blob):
    """The model as a function of a numpy array, run in this process on one
    intra-op thread, the way the module's backends call it."""
    if backend == "ONNX":
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    module = torch.jit.load(io.BytesIO(blob)).eval()

    def run(x):
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()
    return run


def store(client, key, backend, blob):
    client.execute_command("AI.MODELSTORE", key, backend, "CPU", "BLOB", blob)


# ---- timing -----------------------------------------------------------------------

def timed_loop(step, duration, warmup):
    """Calls step() back to back for warmup + duration seconds; returns the
    latencies (s) of the calls that ended inside the duration window."""
    clock = time.perf_counter
    t_measure = clock() + warmup
    t_end = t_measure + duration
    samples = []
    while True:
        t0 = clock()
        step()
        t1 = clock()
        if t1 >= t_end:
            return samples
        if t1 >= t_measure:
            samples.append(t1 - t0)


def latency_row(samples, duration, **fields):
    """A row shaped like loadgen's result, from latencies in seconds."""
    return {**fields, "ops": len(samples), "ops_per_sec": round(len(samples) / duration, 1),
            **percentiles_us(samples), "errors": 0, "first_error": ""}


def floor_samples(make_step, duration, warmup):
    """timed_loop of the step make_step() returns, all pinned to CPU 1 (the
    server is idle): how every floor is measured."""
    with pinned_self(SERVER_CPU + 1):
        step = make_step()
        return timed_loop(step, duration, warmup)


def floor_row(backend, blob, x, duration, warmup):
    """The bare backend call in a loop."""
    def make_step():
        model = local_model(backend, blob)
        return lambda: model(x)
    return latency_row(floor_samples(make_step, duration, warmup), duration,
                       backend=backend, path="floor", clients=1)


def floor_two_threads_row(backend, blob, x, duration, warmup):
    """The bare call from two threads of this process at once, on any CPU:
    how much a second thread gains inside the framework itself on this
    machine, the ceiling for THREADS_PER_QUEUE 2 before any server work."""
    model = local_model(backend, blob)
    samples = [[], []]

    def loop(i):
        torch.set_num_threads(1)    # per thread, as in the module's workers
        samples[i] = timed_loop(lambda: model(x), duration, warmup)
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latency_row(samples[0] + samples[1], duration, backend=backend,
                       path="floor-2-threads", clients=2)


def ping_pong_us(cpu_a, cpu_b, rounds=3000):
    """Median round trip of one byte over a pair of pipes between this
    process, on cpu_a, and a forked child, on cpu_b."""
    from_parent, to_child = os.pipe()
    from_child, to_parent = os.pipe()
    pid = os.fork()
    if pid == 0:  # only os calls here, then _exit: safe in a threaded parent
        try:
            os.close(to_child)
            os.close(from_child)
            os.sched_setaffinity(0, {cpu_b})
            while os.read(from_parent, 1):
                os.write(to_parent, b"x")
        finally:
            os._exit(0)
    os.close(from_parent)
    os.close(to_parent)
    samples = []
    with pinned_self(cpu_a):
        for _ in range(rounds):
            t0 = time.perf_counter()
            os.write(to_child, b"x")
            os.read(from_child, 1)
            samples.append(time.perf_counter() - t0)
    os.close(to_child)
    os.close(from_child)
    os.waitpid(pid, 0)
    return percentiles_us(samples)["p50_us"]


def wakeup_cost():
    """What a wake-up across CPUs costs on this machine: half the difference
    between a pipe ping-pong across two CPUs and on one (each round trip
    wakes the other side twice). A request through a worker thread hands
    over twice; the 1-client latency target is read against this."""
    if not PIN:
        return None
    same, cross = ping_pong_us(SERVER_CPU, SERVER_CPU), ping_pong_us(SERVER_CPU, SERVER_CPU + 1)
    return {"same_cpu_round_trip_us": same, "cross_cpu_round_trip_us": cross,
            "wakeup_us": round((cross - same) / 2, 1)}


def wakeup_reference(wakeup):
    """wakeup_cost() as the reference line printed under a latency target."""
    return wakeup and (
        f"a wake-up across CPUs costs {wakeup['wakeup_us']:.1f} us here (pipe round trip "
        f"{wakeup['same_cpu_round_trip_us']:.1f} us on one CPU, "
        f"{wakeup['cross_cpu_round_trip_us']:.1f} us across two)")


def client_side_worker(port, backend, blob, index, barrier, results, duration, warmup):
    """One client-side inference client (a forked process)."""
    try:
        model = local_model(backend, blob)
        conn = redis.Redis(host="127.0.0.1", port=port)
        src, dst = f"cin:{index}", f"cout:{index}"

        def step():
            x = np.frombuffer(bytearray(conn.get(src)), np.float32).reshape(1, LAYERS[0])
            conn.set(dst, model(x).tobytes())
        barrier.wait(timeout=60)
        results.put(timed_loop(step, duration, warmup))
    except Exception as e:  # noqa: BLE001 - the parent reports it
        results.put(repr(e))


def client_side_row(port, backend, blob, clients, duration, warmup):
    """`clients` processes, each with its own input and output key. Processes,
    not threads: with threads the GIL serializes the redis-py and numpy work
    of all clients on one CPU. They are forked from this process, which
    already imported the frameworks, so they start in milliseconds."""
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=client_side_worker, daemon=True,
                         args=(port, backend, blob, i, barrier, results, duration, warmup))
             for i in range(clients)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=duration + warmup + 120) for _ in procs]
    for p in procs:
        p.join()
    errors = [o for o in outcomes if isinstance(o, str)]
    row = latency_row([s for o in outcomes if not isinstance(o, str) for s in o], duration,
                      backend=backend, path="client-side", clients=clients)
    if errors:
        row.update(errors=len(errors), first_error=errors[0][:200])
    return row


# ---- server rows -------------------------------------------------------------------

@contextlib.contextmanager
def model_server(workdir, module, blobs, x, module_args):
    """A server with both MLPs stored (which also loads both backends) and one
    input tensor per client; yields (port, client)."""
    with redis_server(workdir, module, module_args, cpus=MODEL_SERVER_CPUS) as (port, client):
        for backend, blob in blobs.items():
            store(client, f"mlp:{backend}", backend, blob)
        pipe = client.pipeline(transaction=False)
        for i in range(max(CLIENTS)):
            pipe.execute_command("AI.TENSORSET", f"in:{i}", "FLOAT", *x.shape, "BLOB", x.tobytes())
        pipe.execute()
        yield port, client


def thread_cpu_seconds(pid):
    """CPU time (user + system) so far of the server's main thread and of all
    its other threads (workers and the frameworks' own threads)."""
    main = other = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a thread that just ended
            continue
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        if task.name == str(pid):
            main += ticks
        else:
            other += ticks
    hz = os.sysconf("SC_CLK_TCK")
    return main / hz, other / hz


def measured_run(port, client, key, template, clients, duration, warmup, *options):
    """One loadgen run of `template` (extra loadgen `options`), with what
    AI.INFO of the model or script `key` and /proc say the server spent per
    call of it: `run_us` the mean backend time (duration / calls: the
    framework call with the module's Python glue), and the CPU time of the
    main thread and of the other threads."""
    pid = client.info("server")["process_id"]
    client.execute_command("AI.INFO", key, "RESETSTAT")
    cpu_before = thread_cpu_seconds(pid)
    result = run_loadgen(port, template, clients, "-d", duration, "-w", warmup, *options)
    cpu_after = thread_cpu_seconds(pid)
    reply = client.execute_command("AI.INFO", key)
    info = dict(zip(reply[::2], reply[1::2]))
    calls = info[b"calls"] or 1

    def per_call_us(seconds):
        return round(seconds * 1e6 / calls, 1)
    return {**result, "calls": info[b"calls"],
            "run_us": per_call_us(info[b"duration"] / 1e6),
            "main_cpu_us": per_call_us(cpu_after[0] - cpu_before[0]),
            "other_cpu_us": per_call_us(cpu_after[1] - cpu_before[1])}


def execute_template(backend):
    return [a.replace("{backend}", backend) for a in EXECUTE]


def server_row(port, client, backend, clients, threads_per_queue, duration, warmup):
    """One loadgen run of AI.MODELEXECUTE, with the server's time per call."""
    result = measured_run(port, client, f"mlp:{backend}", execute_template(backend), clients,
                          duration, warmup)
    return {"backend": backend, "path": "server", "clients": clients,
            "threads_per_queue": threads_per_queue, **result}


def outputs_match(client, blobs, x):
    """Whether the server's output equals the bare call's, per backend."""
    match = {}
    for backend, blob in blobs.items():
        client.execute_command(*[a.replace("{c}", "0") for a in execute_template(backend)])
        raw = client.execute_command("AI.TENSORGET", "out:0", "BLOB")
        served = np.frombuffer(raw, np.float32).reshape(1, LAYERS[-1])
        match[backend] = bool(np.allclose(served, local_model(backend, blob)(x), rtol=1e-4,
                                          atol=1e-5))
    return match


# ---- stalls and memory ----------------------------------------------------------------

def ping_during(port, action):
    """PING latency from a separate connection (loadgen) while action() runs;
    max_at_s: when the slowest PING completed, in seconds after action()
    started (loadgen's max_at is CLOCK_MONOTONIC, as time.monotonic())."""
    with background_loadgen(port, ["PING"], warmup=0.2) as ping:
        t0 = time.monotonic()
        action()
        seconds = time.monotonic() - t0
    result = {k: ping[k] for k in ("ops", "p50_us", "p99_us", "max_us", "errors")}
    result["max_at_s"] = round(ping["max_at"] - t0, 3) if ping["max_at"] else None
    return seconds, result


def store_main_thread_us(client):
    """Main-thread time of the last AI.MODELSTORE per SLOWLOG (the command's
    call plus its reply callback when it blocked the client): the module's
    own share of a stall, which machine noise does not inflate as it does
    PING latency. 0 when under the log threshold set by store_stall."""
    return max((e["duration"] for e in client.slowlog_get(128)
                if e["command"].startswith(b"AI.MODELSTORE")), default=0)


def store_stall(port, client, backend, blob):
    """PING while a big model is stored, and (as the noise reference) while
    nothing happens for as long."""
    client.config_set("slowlog-log-slower-than", SLOWLOG_THRESHOLD_US)  # PINGs stay out
    client.slowlog_reset()
    seconds, during = ping_during(port, lambda: store(client, f"big:{backend}", backend, blob))
    _, idle = ping_during(port, lambda: time.sleep(seconds))
    client.execute_command("AI.MODELDEL", f"big:{backend}")
    return {"backend": backend, "model_bytes": len(blob), "store_s": round(seconds, 3),
            "ping": during, "ping_idle": idle, "main_thread_us": store_main_thread_us(client),
            "pass": during["errors"] == 0 and during["max_us"] <= STALL_TARGET_MS * 1000}


def plain_set_stall(port, client, blob):
    """The control for store_stall: PING while a plain server (no module)
    receives the same bytes with SET: what Redis itself costs for a 100 MB
    argument."""
    _, ping = ping_during(port, lambda: client.set("big", blob))
    client.delete("big")
    return ping


def memory_snapshot(client):
    # MEMORY PURGE returns freed pages of the allocator (jemalloc, which
    # Redis' malloc also is for the embedded Python and the frameworks) to the
    # OS first, so RSS counts what the models keep, not allocator caches.
    client.execute_command("MEMORY", "PURGE")
    time.sleep(0.3)  # INFO's allocator_* figures are refreshed by serverCron (every 100 ms)
    info = client.info("memory")
    return {"rss": server_rss(client), "used_memory": info["used_memory"],
            "allocated": info.get("allocator_allocated", 0)}


def memory_per_model(client, blob):
    """RSS growth per extra copy of the ONNX MLP (already stored once by
    model_server: the warm-up store). Also used_memory (what Redis counts:
    the stored blob) and allocator_allocated (all heap, frameworks too)."""
    before = memory_snapshot(client)
    for i in range(MEM_COPIES):
        store(client, f"mem:{i}", "ONNX", blob)
    after = memory_snapshot(client)
    client.delete(*[f"mem:{i}" for i in range(MEM_COPIES)])
    per = {k: (after[k] - before[k]) / MEM_COPIES / 2**20 for k in before}
    return {"copies": MEM_COPIES, "model_bytes": len(blob),
            "rss_mib_per_model": round(per["rss"], 3),
            "used_memory_mib_per_model": round(per["used_memory"], 3),
            "allocated_mib_per_model": round(per["allocated"], 3),
            "target_max_mib": MEM_TARGET_MIB, "pass": per["rss"] <= MEM_TARGET_MIB}


# ---- section ---------------------------------------------------------------------------

def find_row(rows, backend, path, clients, threads_per_queue=None):
    return next(r for r in rows if r["backend"] == backend and r["path"] == path
                and r["clients"] == clients and r.get("threads_per_queue") == threads_per_queue)


def ratio(a, b):
    return round(a / b, 3) if b else 0.0


def add_tail_checks(rows):
    for r in rows:
        r["p99_over_p50"] = ratio(r["p99_us"], r["p50_us"])
        if r["path"] == "server":
            r["pass"] = r["errors"] == 0 and r["p50_us"] > 0 and r["p99_over_p50"] <= TAIL_TARGET


def targets(rows, wakeup):
    """The comparison targets, per backend, each with the machine's own limit
    it is read against, where there is one."""
    out = []
    for b in BACKENDS:
        floor, one = find_row(rows, b, "floor", 1), find_row(rows, b, "server", 1, 1)
        extra = round(one["p50_us"] - floor["p50_us"], 1)
        out.append({"backend": b, "name": "1-client p50 over the floor", "value": extra,
                    "unit": "us", "target": f"<= {LATENCY_TARGET_US}",
                    "pass": one["errors"] == 0 and extra <= LATENCY_TARGET_US,
                    "reference": wakeup_reference(wakeup)})
        top = max(CLIENTS)
        tpq1, tpq2 = (find_row(rows, b, "server", top, n) for n in THREADS_PER_QUEUE)
        local = find_row(rows, b, "client-side", top)
        two = find_row(rows, b, "floor-2-threads", 2)
        scaling = ratio(two["ops_per_sec"], floor["ops_per_sec"])
        ceiling = f"the bare call from 2 threads does {scaling:.2f} x the ops/s of 1 thread here"
        for name, num, den, goal, reference in [
                (f"{top}-client ops/s vs client-side", tpq1, local, CLIENT_SIDE_TARGET, None),
                (f"{top}-client ops/s, THREADS_PER_QUEUE 2 vs 1", tpq2, tpq1, TPQ_TARGET, ceiling)]:
            value = ratio(num["ops_per_sec"], den["ops_per_sec"])
            out.append({"backend": b, "name": name, "value": value, "unit": "x",
                        "target": f">= {goal}", "reference": reference,
                        "pass": num["errors"] == 0 and den["errors"] == 0 and value >= goal})
    return out


def execute_rows(port, client, blobs, x, threads_per_queue, duration, warmup, with_floor):
    rows = []
    for backend in BACKENDS:
        if with_floor:  # right before the server rows it is compared with
            rows += [floor_row(backend, blobs[backend], x, duration, warmup),
                     floor_two_threads_row(backend, blobs[backend], x, duration, warmup)]
        rows += [server_row(port, client, backend, n, threads_per_queue, duration, warmup)
                 for n in CLIENTS]
    return rows


def client_side_rows(port, client, blobs, x, duration, warmup, backends=BACKENDS,
                     clients=CLIENT_SIDE_CLIENTS):
    for i in range(max(clients)):
        client.set(f"cin:{i}", x.tobytes())
    return [client_side_row(port, b, blobs[b], n, duration, warmup)
            for b in backends for n in clients]


def run_section(module, workdir, duration, warmup, module_args=()):
    """The whole model section as one report dict. `module_args` are extra
    load-time arguments for every model server."""
    blobs, x = mlp_models()
    big = big_models()
    section = {"mlp": {"layers": list(LAYERS), "bytes": {b: len(v) for b, v in blobs.items()}},
               "duration_s": duration, "warmup_s": warmup, "server_cpus": MODEL_SERVER_CPUS,
               "module_args": list(module_args)}
    rows = []
    for tpq in THREADS_PER_QUEUE:
        args = ("THREADS_PER_QUEUE", tpq, *module_args)
        with model_server(workdir / f"models-tpq{tpq}", module, blobs, x, args) as (port, client):
            first = tpq == THREADS_PER_QUEUE[0]
            if first:  # on a fresh server, before anything ran
                section["memory"] = memory_per_model(client, blobs["ONNX"])
            rows += execute_rows(port, client, blobs, x, tpq, duration, warmup, with_floor=first)
            if first:
                section["outputs_match"] = outputs_match(client, blobs, x)
                section["store_stall"] = [store_stall(port, client, b, big[b]) for b in BACKENDS]
    with redis_server(workdir / "plain", cpus=MODEL_SERVER_CPUS) as (port, client):
        rows += client_side_rows(port, client, blobs, x, duration, warmup)
        for st in section["store_stall"]:
            st["ping_plain_set"] = plain_set_stall(port, client, big[st["backend"]])
    add_tail_checks(rows)
    section["wakeup"] = wakeup_cost()
    section["rows"], section["targets"] = rows, targets(rows, section["wakeup"])
    return section


def target_results(section):
    """PASS/FAIL of every target of the section, for the report's totals."""
    return ([r["pass"] for r in section["rows"] if "pass" in r]
            + [t["pass"] for t in section["targets"]]
            + [s["pass"] for s in section["store_stall"]] + [section["memory"]["pass"]])


# ---- report -------------------------------------------------------------------------------

ROW_COLUMNS = [Column("backend", 7, ""), Column("path", 21, ""), Column("clients", 7, "d"),
               Column("ops/s", 9, ",.0f"), Column("p50 us", 8, ".1f"),
               Column("p99 us", 8, ".1f"), Column("p99/p50", 7, ".1f"),
               Column("run us", 6, ".1f"), Column("main us", 7, ".1f"),
               Column("other us", 8, ".1f"), Column("errors", 6, "d"), Column("result", 6, "")]
PATH_NAMES = {"floor": "bare call (floor)", "floor-2-threads": "bare call, 2 threads",
              "client-side": "client-side inference"}


def print_rows(rows, path_names=PATH_NAMES):
    print(table_header(ROW_COLUMNS))
    for r in rows:
        path = path_names.get(r["path"]) or f"MODELEXECUTE TPQ {r['threads_per_queue']}"
        print(table_line(ROW_COLUMNS, [
            r["backend"], path, r["clients"], r["ops_per_sec"], r["p50_us"], r["p99_us"],
            r["p99_over_p50"], r.get("run_us"), r.get("main_cpu_us"), r.get("other_cpu_us"),
            r["errors"],
            verdict(r["pass"]) if "pass" in r else None]))
        if r["errors"]:
            print(f"{'':7}   first error: {r['first_error']}")


def print_targets(targets):
    for t in targets:
        print(f"  {t['backend']:<6} {t['name']:<42} {t['value']:>8.2f} {t['unit']:<2} "
              f"(target {t['target']})  {verdict(t['pass'])}")
        if t.get("reference"):
            print(f"{'':9}reference: {t['reference']}")


def print_stalls(stalls):
    print(f"\nPING latency from another connection while a {BIG_SIDE}x{BIG_SIDE} float32 "
          f"model is stored (max at: seconds after the store began; target max <= "
          f"{STALL_TARGET_MS:g} ms)")
    for st in stalls:
        d, i, p = st["ping"], st["ping_idle"], st["ping_plain_set"]
        main = st["main_thread_us"]
        print(f"  {st['backend']:<6} {st['model_bytes'] / 2**20:.1f} MiB, store "
              f"{st['store_s']:.2f} s: PING p99 {d['p99_us'] / 1000:.2f} ms, max "
              f"{d['max_us'] / 1000:.2f} ms at {d['max_at_s'] or 0:.2f} s ({d['ops']:,} PINGs)  "
              f"{verdict(st['pass'])}")
        print(f"{'':9}main thread in the AI.MODELSTORE command (SLOWLOG): " +
              (f"{main / 1000:.2f} ms" if main else f"< {SLOWLOG_THRESHOLD_US / 1000:g} ms"))
        print(f"{'':9}reference: idle PING max {i['max_us'] / 1000:.2f} ms; plain SET of the same "
              f"bytes without the module: PING max {p['max_us'] / 1000:.2f} ms at "
              f"{p['max_at_s'] or 0:.2f} s")


def print_memory(m):
    print(f"\nMemory per stored model ({m['copies']} more copies of the "
          f"{m['model_bytes'] / 2**20:.2f} MiB ONNX MLP after a warm-up store; after MEMORY PURGE)")
    print(f"  RSS {m['rss_mib_per_model']:.2f} MiB/model (target <= {m['target_max_mib']})  "
          f"{verdict(m['pass'])}\n  heap (allocator_allocated) {m['allocated_mib_per_model']:.2f}"
          f" MiB/model, of which Redis used_memory {m['used_memory_mib_per_model']:.2f}")


def print_section(s):
    print(f"\nModels: MLP {'-'.join(map(str, s['mlp']['layers']))} float32 batch 1 "
          f"(ONNX {s['mlp']['bytes']['ONNX']:,} B, TorchScript {s['mlp']['bytes']['TORCH']:,} B); "
          f"{s['duration_s']} s per row after {s['warmup_s']} s warm-up; model servers on "
          f"CPUs {s['server_cpus']}, floor on CPU {SERVER_CPU + 1}, client-side clients are "
          f"processes on any CPU")
    if s["module_args"]:
        print(f"  extra module arguments: {' '.join(map(str, s['module_args']))}")
    print(f"  per call in the server: run us = backend time (AI.INFO duration/calls), main us /"
          f" other us = CPU time of the main thread / of all other threads;\n"
          f"  target p99/p50 <= {TAIL_TARGET:g} on MODELEXECUTE rows")
    print_rows(sorted(s["rows"], key=lambda r: BACKENDS.index(r["backend"])))
    print("  outputs match the bare call: " + ", ".join(
        f"{b} {'yes' if ok else 'NO'}" for b, ok in s["outputs_match"].items()))
    print_targets(s["targets"])
    print_stalls(s["store_stall"])
    print_memory(s["memory"])
