"""Model section of the benchmark.

AI.MODELEXECUTE of a small MLP (ONNX and TorchScript, same weights) and of a
small CNN (TorchScript) at 1, 8 and 32 clients against the bare backend call
in this process (the floor); THREADS_PER_QUEUE 2 against 1 at 32 clients,
also for the CNN as ONNX on 32 images a call (over 1 ms); the MLP and the CNN
as ONNX stored with BATCHSIZE 32 against the same model unbatched; 32 clients
against client-side inference (clients that GET the input from plain Redis,
run the model themselves and SET the output), three rounds. Also: PING
latency from a separate connection while a 100 MB+ model is stored, and
server RSS per stored model against the blob plus ONNX Runtime's own copy.
Every comparison is between figures of this section, measured back to back
on servers that are up at the same time.
"""
import contextlib
import io
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import redis
import torch
from onnx import TensorProto, helper, numpy_helper

from harness import (ALL_CPUS, PIN, ROOT, SERVER_CPU, Column, background_loadgen, pair,
                     percentiles_us, pinned_self, ratio, ratio_target, redis_server,
                     run_loadgen, server_rss, table_header, table_line, target)

MLP_LAYERS = (256, 512, 512, 10)   # ReLU between layers, float32
CNN_IMAGE = (3, 32, 32)            # conv 16, pool, conv 32, pool, dense 10
SLOW_IMAGES = 32                   # images per call of the >= 1 ms row (ONNX CNN; ~2 ms)
CLIENTS = (1, 8, 32)
TOP = max(CLIENTS)
BATCHSIZE = 32
CLIENT_SIDE_ROUNDS = 3
BIG_SIDE = 5200                    # one 5200x5200 float32 initializer: 108 MB
MEM_COPIES = 20
SLOWLOG_THRESHOLD_US = 100

LATENCY_SLACK_US = 30      # 1-client p50 over the floor, beyond one cross-CPU wake-up
FLOOR_TARGET = 0.85        # 8- and 32-client ops/s over the floor's, unbatched
CLIENT_SIDE_TARGET = 4.0   # 32-client ops/s over client-side inference (median of rounds)
TPQ_SHARE_TARGET = 0.9     # TPQ 2/1 ops/s over the bare call's 2-thread/1-thread ratio
TPQ_SLOW_TARGET = 1.5      # TPQ 2/1 ops/s of the >= 1 ms model
BATCH_TARGETS = {"mlp": 3.0, "cnn": 2.0}   # BATCHSIZE 32 over unbatched ops/s, per model
REFERENCE_BATCHING = ("RedisAI 1.2's batching did 1.65x on this MLP, 1.5x our unbatched "
                      "ops/s (not measured here)")
TAIL_TARGET = 10.0         # p99 / p50 of every unbatched AI.MODELEXECUTE row
STALL_TARGET_MS = 10.0     # max PING latency while a model is stored
MEM_SLACK = 0.10           # RSS per stored model over the blob plus ONNX Runtime's copy

# The model servers get every CPU (worker threads must be able to run beside
# the main thread, or THREADS_PER_QUEUE could not matter); loadgen is pinned
# as in the tensor section. Everything in this process (the floor, the
# client-side clients) uses one intra-op thread.
MODEL_SERVER_CPUS = ALL_CPUS
torch.set_num_threads(1)

# (model, backend) with floor, 1/8/32-client and THREADS_PER_QUEUE rows; the
# >= 1 ms model has the floor and 32-client TPQ rows only
UNBATCHED = (("mlp", "ONNX"), ("mlp", "TORCH"), ("cnn", "TORCH"))
SLOW = (f"cnn{SLOW_IMAGES}", "ONNX")


# ---- models ---------------------------------------------------------------------

class Model:
    """A network as blobs per backend, its input, and its keys in a server:
    `<name>:<backend>`, `<name>:<backend>:batched` (the same blob stored with
    BATCHSIZE), one input `<name>:in:<c>` per client."""

    def __init__(self, name, label, blobs, x, batched=()):
        self.name, self.label, self.blobs, self.x, self.batched = name, label, blobs, x, batched

    def key(self, backend, batched=False):
        return f"{self.name}:{backend}" + (":batched" if batched else "")

    def input_key(self, c="{c}"):
        return f"{self.name}:in:{c}"

    def execute(self, backend, batched=False, c="{c}"):
        """AI.MODELEXECUTE as a loadgen template ({c}: the connection number)."""
        return ["AI.MODELEXECUTE", self.key(backend, batched), "INPUTS", "1", self.input_key(c),
                "OUTPUTS", "1", f"out:{c}"]

    def store(self, client):
        for backend, blob in self.blobs.items():
            store(client, self.key(backend), backend, blob)
        for backend in self.batched:
            store(client, self.key(backend, True), backend, self.blobs[backend],
                  "BATCHSIZE", BATCHSIZE)
        pipe = client.pipeline(transaction=False)
        for c in range(TOP):
            pipe.execute_command("AI.TENSORSET", self.input_key(c), "FLOAT", *self.x.shape,
                                 "BLOB", self.x.tobytes())
        pipe.execute()


ONNX_OPS = {torch.nn.ReLU: ("Relu", {}), torch.nn.Flatten: ("Flatten", {"axis": 1}),
            torch.nn.MaxPool2d: ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]})}


def onnx_model(net, x):
    """The torch Sequential `net` (Linear, Conv2d with padding 1, ReLU, 2x2
    MaxPool2d, Flatten) as ONNX with the same weights; dimension 0 of the
    input and output is dynamic, for batching."""
    nodes, initializers, name = [], [], "x"
    for i, layer in enumerate(net):
        out = f"y{i}"
        if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
            initializers += [numpy_helper.from_array(layer.weight.detach().numpy(), f"w{i}"),
                             numpy_helper.from_array(layer.bias.detach().numpy(), f"b{i}")]
            op, attrs = ("Gemm", {"transB": 1}) if isinstance(layer, torch.nn.Linear) \
                else ("Conv", {"pads": [1, 1, 1, 1]})
            nodes.append(helper.make_node(op, [name, f"w{i}", f"b{i}"], [out], **attrs))
        else:
            op, attrs = ONNX_OPS[type(layer)]
            nodes.append(helper.make_node(op, [name], [out], **attrs))
        name = out
    with torch.no_grad():
        y = net(torch.from_numpy(x))
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *x.shape[1:]])
    outp = helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *y.shape[1:]])
    graph = helper.make_graph(nodes, "bench", [inp], [outp], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def torchscript(module):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(module.eval()), buf)
    return buf.getvalue()


def random_input(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def mlp_model():
    """The MLP as ONNX (also stored with BATCHSIZE) and TorchScript, batch-1 input."""
    torch.manual_seed(0)
    layers = []
    for n_in, n_out in zip(MLP_LAYERS, MLP_LAYERS[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    net, x = torch.nn.Sequential(*layers[:-1]), random_input((1, MLP_LAYERS[0]), 0)
    return Model("mlp", "MLP", {"ONNX": onnx_model(net, x), "TORCH": torchscript(net)}, x,
                 batched=("ONNX",))


def cnn_models():
    """The CNN as ONNX (also stored with BATCHSIZE) and TorchScript on one
    image, and as ONNX on SLOW_IMAGES images a call (the >= 1 ms model)."""
    torch.manual_seed(0)
    c = CNN_IMAGE[0]
    net = torch.nn.Sequential(
        torch.nn.Conv2d(c, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * (CNN_IMAGE[1] // 4) * (CNN_IMAGE[2] // 4), 10))
    x = random_input((1, *CNN_IMAGE), 1)
    blobs = {"ONNX": onnx_model(net, x), "TORCH": torchscript(net)}
    slow = Model(SLOW[0], f"CNN x{SLOW_IMAGES}", {SLOW[1]: blobs[SLOW[1]]},
                 random_input((SLOW_IMAGES, *CNN_IMAGE), 2))
    return Model("cnn", "CNN", blobs, x, batched=("ONNX",)), slow


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
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, BIG_SIDE])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, BIG_SIDE])
    graph = helper.make_graph([node], "big", [inp], [out], [numpy_helper.from_array(w, "w")])
    onnx_blob = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return {"ONNX": onnx_blob.SerializeToString(),
            "TORCH": torchscript(MatMul(torch.from_numpy(w)))}


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


def store(client, key, backend, blob, *options):
    client.execute_command("AI.MODELSTORE", key, backend, "CPU", *options, "BLOB", blob)


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
    servers are idle): how every floor is measured."""
    with pinned_self(SERVER_CPU + 1):
        step = make_step()
        return timed_loop(step, duration, warmup)


def floor_row(model, backend, duration, warmup):
    """The bare backend call in a loop."""
    def make_step():
        run = local_model(backend, model.blobs[backend])
        return lambda: run(model.x)
    return latency_row(floor_samples(make_step, duration, warmup), duration,
                       model=model.label, backend=backend, path="floor", clients=1)


def floor_two_threads_row(model, backend, duration, warmup):
    """The bare call from two threads of this process at once, on any CPU:
    how much a second thread gains inside the framework itself on this
    machine, the ceiling for THREADS_PER_QUEUE 2 before any server work."""
    run = local_model(backend, model.blobs[backend])
    samples = [[], []]

    def loop(i):
        torch.set_num_threads(1)    # per thread, as in the module's workers
        samples[i] = timed_loop(lambda: run(model.x), duration, warmup)
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latency_row(samples[0] + samples[1], duration, model=model.label, backend=backend,
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
    wakes the other side twice). The hand-back of a reply from a worker to
    the main thread is one; the 1-client latency target is read against it."""
    if not PIN:
        return None
    same, cross = ping_pong_us(SERVER_CPU, SERVER_CPU), ping_pong_us(SERVER_CPU, SERVER_CPU + 1)
    return {"same_cpu_round_trip_us": same, "cross_cpu_round_trip_us": cross,
            "wakeup_us": round((cross - same) / 2, 1)}


def latency_target(name, ours, floor, wakeup):
    """p50 of the row `ours` over its floor's, against one cross-CPU wake-up
    (measured in this run; 0 without CPU pinning) + LATENCY_SLACK_US."""
    extra = round(ours["p50_us"] - floor["p50_us"], 1)
    wake = wakeup["wakeup_us"] if wakeup else 0.0
    limit = round(wake + LATENCY_SLACK_US, 1)
    return target(name, extra, "us", f"<= {limit:g}", ours["errors"] == 0 and extra <= limit,
                  f"wake-up {wake:g} us + {LATENCY_SLACK_US} us; bare call p50 "
                  f"{floor['p50_us']:g} us", pair(ours, floor, "bare call"))


def client_side_worker(port, backend, blob, shape, index, barrier, results, duration, warmup):
    """One client-side inference client (a forked process)."""
    try:
        run = local_model(backend, blob)
        conn = redis.Redis(host="127.0.0.1", port=port)
        src, dst = f"cin:{index}", f"cout:{index}"

        def step():
            x = np.frombuffer(bytearray(conn.get(src)), np.float32).reshape(shape)
            conn.set(dst, run(x).tobytes())
        barrier.wait(timeout=60)
        results.put(timed_loop(step, duration, warmup))
    except Exception as e:  # noqa: BLE001 - the parent reports it
        results.put(repr(e))


def client_side_row(port, client, model, backend, clients, duration, warmup, **fields):
    """`clients` processes, each with its own input and output key on the
    plain server. Processes, not threads: with threads the GIL serializes the
    redis-py and numpy work of all clients on one CPU. They are forked from
    this process, which already imported the frameworks, so they start in
    milliseconds."""
    for i in range(clients):
        client.set(f"cin:{i}", model.x.tobytes())
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=client_side_worker, daemon=True,
                         args=(port, backend, model.blobs[backend], model.x.shape, i, barrier,
                               results, duration, warmup))
             for i in range(clients)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=duration + warmup + 120) for _ in procs]
    for p in procs:
        p.join()
    errors = [o for o in outcomes if isinstance(o, str)]
    row = latency_row([s for o in outcomes if not isinstance(o, str) for s in o], duration,
                      model=model.label, backend=backend, path="client-side", clients=clients,
                      **fields)
    if errors:
        row.update(errors=len(errors), first_error=errors[0][:200])
    return row


# ---- server rows -------------------------------------------------------------------

@contextlib.contextmanager
def model_server(workdir, module, models, module_args):
    """A server with the models stored (which also loads their backends) and
    one input tensor per client; yields (port, client)."""
    with redis_server(workdir, module, module_args, cpus=MODEL_SERVER_CPUS) as (port, client):
        for model in models:
            model.store(client)
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
    framework call with the module's Python glue; a batch's whole time for
    each request in it), and the CPU time of the main thread and of the
    other threads."""
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


def server_row(server, model, backend, clients, tpq, duration, warmup, path="server",
               **fields):
    """One loadgen run of AI.MODELEXECUTE (of the BATCHSIZE key on the
    "batched" path), with the server's time per call."""
    batched = path == "batched"
    result = measured_run(*server, model.key(backend, batched), model.execute(backend, batched),
                          clients, duration, warmup)
    return {"model": model.label, "backend": backend, "path": path, "clients": clients,
            "threads_per_queue": tpq, **fields, **result}


def back_to_back(index, *runs):
    """Calls each of `runs` in turn, reversed on odd `index`, so that slow
    drift hits both sides of a comparison; returns their rows in `runs` order."""
    order = list(range(len(runs)))[::-1 if index % 2 else 1]
    rows = {i: runs[i]() for i in order}
    return [rows[i] for i in range(len(runs))]


def outputs_match(client, models):
    """Whether each stored key's output equals the bare call's."""
    match = {}
    for model in models:
        keys = [(b, False) for b in model.blobs] + [(b, True) for b in model.batched]
        for backend, batched in keys:
            client.execute_command(*model.execute(backend, batched, c=0))
            raw = client.execute_command("AI.TENSORGET", "out:0", "BLOB")
            expected = local_model(backend, model.blobs[backend])(model.x)
            served = np.frombuffer(raw, np.float32).reshape(expected.shape)
            match[model.key(backend, batched)] = bool(
                np.allclose(served, expected, rtol=1e-4, atol=1e-5))
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
    # OS first, so RSS counts what the objects keep, not allocator caches.
    client.execute_command("MEMORY", "PURGE")
    time.sleep(0.3)  # INFO's allocator_* figures are refreshed by serverCron (every 100 ms)
    info = client.info("memory")
    return {"rss": server_rss(client), "used_memory": info["used_memory"],
            "allocated": info.get("allocator_allocated", 0)}


def memory_per_store(client, store_key):
    """Bytes of RSS, used_memory (what Redis counts: the stored blob) and
    allocator_allocated (all heap, frameworks too) per store_key(key) over
    MEM_COPIES new keys, after a warm-up store of the same kind."""
    before = memory_snapshot(client)
    keys = [f"mem:{i}" for i in range(MEM_COPIES)]
    for key in keys:
        store_key(key)
    after = memory_snapshot(client)
    client.delete(*keys)
    return {"copies": MEM_COPIES,
            **{k: round((after[k] - before[k]) / MEM_COPIES) for k in before}}


def session_copy_mib(module, client, blob, workdir):
    """RSS growth per extra ONNX Runtime session of `blob` in a fresh process
    (bench/session_memory.py), created by the module's own ONNX backend with
    the server's load-time thread settings: the framework's own copy."""
    path = workdir / "session-blob.onnx"
    path.write_bytes(blob)
    config = client.info("modules")   # INFO MODULES: ai_load_time_configs
    intra, inter = (config.get(f"ai_{k}_op_parallelism", 0) for k in ("intra", "inter"))
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "session_memory.py"),
                          str(module.parent), str(path), str(intra), str(inter),
                          str(MEM_COPIES)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["rss_mib_per_session"]


def model_memory(module, client, model, workdir):
    """RSS per stored ONNX MLP against blob + ONNX Runtime's own copy + 10%."""
    blob = model.blobs["ONNX"]
    m = memory_per_store(client, lambda key: store(client, key, "ONNX", blob))
    m["model_bytes"] = len(blob)
    m["session_mib"] = session_copy_mib(module, client, blob, workdir)
    blob_mib, rss_mib = len(blob) / 2**20, m["rss"] / 2**20
    limit = round((blob_mib + m["session_mib"]) * (1 + MEM_SLACK), 3)
    m["target"] = target(
        f"{model.label} ONNX: server RSS per stored model", round(rss_mib, 3), "MiB",
        f"<= {limit:.2f}", rss_mib <= limit,
        f"blob {blob_mib:.2f} MiB + ONNX Runtime's own copy {m['session_mib']:.2f} MiB "
        f"(per extra session, fresh process) + {MEM_SLACK:.0%}")
    return m


# ---- section ---------------------------------------------------------------------------

def find_row(rows, model, backend, path, clients, threads_per_queue=None, round_no=None):
    return next(r for r in rows if r["model"] == model.label and r["backend"] == backend
                and r["path"] == path and r["clients"] == clients
                and r.get("threads_per_queue") == threads_per_queue
                and r.get("round") == round_no)


def floor_and_tpq_rows(servers, model, backend, index, clients, duration, warmup):
    """The floors, AI.MODELEXECUTE at `clients` on the THREADS_PER_QUEUE 1
    server, then at TOP clients on the TPQ 1 and TPQ 2 servers back to back."""
    rows = [floor_row(model, backend, duration, warmup),
            floor_two_threads_row(model, backend, duration, warmup)]
    rows += [server_row(servers[1], model, backend, n, 1, duration, warmup) for n in clients]
    return rows + back_to_back(index, *[
        lambda tpq=tpq: server_row(servers[tpq], model, backend, TOP, tpq, duration, warmup)
        for tpq in (1, 2)])


def batching_rows(server, model, index, duration, warmup):
    """The model unbatched and with BATCHSIZE, TOP clients, back to back."""
    return back_to_back(index, *[
        lambda path=path: server_row(server, model, "ONNX", TOP, 1, duration, warmup, path)
        for path in ("unbatched", "batched")])


def client_side_rounds(server, plain, model, backend, rounds, duration, warmup):
    """TOP clients through the server and TOP client-side clients, back to
    back, `rounds` times."""
    rows = []
    for r in range(1, rounds + 1):
        rows += back_to_back(r, lambda: server_row(server, model, backend, TOP, 1, duration,
                                                   warmup, round=r),
                             lambda: client_side_row(*plain, model, backend, TOP, duration,
                                                     warmup, round=r))
    return rows


def run_section(module, workdir, duration, warmup, module_args=(), quick=False):
    """The whole model section as one report dict. `module_args` are extra
    load-time arguments for every model server; `quick` leaves out the store
    stall, the 8-client rows and two of the three client-side rounds."""
    mlp, (cnn, slow) = mlp_model(), cnn_models()
    models = {m.name: m for m in (mlp, cnn, slow)}
    section = {"models": {m.name: {"label": m.label, "input": list(m.x.shape),
                                   "bytes": {b: len(v) for b, v in m.blobs.items()}}
                          for m in models.values()},
               "duration_s": duration, "warmup_s": warmup, "server_cpus": MODEL_SERVER_CPUS,
               "module_args": list(module_args), "batchsize": BATCHSIZE}
    rounds = 1 if quick else CLIENT_SIDE_ROUNDS
    clients = CLIENTS[:1] if quick else CLIENTS[:-1]
    rows = []
    with contextlib.ExitStack() as stack:
        servers = {tpq: stack.enter_context(redis_server(
                       workdir / f"models-tpq{tpq}", module,
                       ("THREADS_PER_QUEUE", tpq, *module_args), cpus=MODEL_SERVER_CPUS))
                   for tpq in (1, 2)}
        with ThreadPoolExecutor(len(servers)) as pool:  # both import the frameworks at once
            list(pool.map(lambda server: [m.store(server[1]) for m in models.values()],
                          servers.values()))
        plain = stack.enter_context(redis_server(workdir / "plain", cpus=MODEL_SERVER_CPUS))
        # on a fresh server, before anything ran
        section["memory"] = model_memory(module, servers[1][1], mlp, workdir)
        for i, (name, backend) in enumerate(UNBATCHED):
            rows += floor_and_tpq_rows(servers, models[name], backend, i, clients, duration,
                                       warmup)
        rows += floor_and_tpq_rows(servers, slow, SLOW[1], 0, (), duration, warmup)
        for i, model in enumerate(m for m in models.values() if m.batched):
            rows += batching_rows(servers[1], model, i, duration, warmup)
        for backend in ("ONNX", "TORCH"):
            rows += client_side_rounds(servers[1], plain, mlp, backend, rounds, duration, warmup)
        section["outputs_match"] = outputs_match(servers[1][1], models.values())
        if not quick:
            big = big_models()
            section["store_stall"] = [store_stall(*servers[1], b, big[b]) for b in big]
            for st in section["store_stall"]:
                st["ping_plain_set"] = plain_set_stall(*plain, big[st["backend"]])
    section["wakeup"] = wakeup_cost()  # at the end, with no server running
    for r in rows:
        r["p99_over_p50"] = ratio(r["p99_us"], r["p50_us"])
    section["rows"] = rows
    section["targets"] = targets(rows, models, section)
    return section


# ---- targets ---------------------------------------------------------------------------

def targets(rows, models, section):
    """Every PASS/FAIL of the section, each with the figure of this run that
    it is judged against."""
    mlp, slow = models["mlp"], models[SLOW[0]]
    out = []
    for model_name, backend in UNBATCHED:
        model = models[model_name]
        name = f"{model.label} {backend}"
        floor = find_row(rows, model, backend, "floor", 1)
        out.append(latency_target(f"{name}: 1-client p50 over the bare call",
                                  find_row(rows, model, backend, "server", 1, 1), floor,
                                  section["wakeup"]))
        for n in sorted({r["clients"] for r in rows if r["path"] == "server"} - {1}):
            out.append(ratio_target(f"{name}: {n}-client ops/s vs the bare call",
                                    find_row(rows, model, backend, "server", n, 1), floor,
                                    FLOOR_TARGET, "bare call"))
    for model_name, backend in (*UNBATCHED, SLOW):
        model = models[model_name]
        floor = find_row(rows, model, backend, "floor", 1)
        bare = ratio(find_row(rows, model, backend, "floor-2-threads", 2)["ops_per_sec"],
                     floor["ops_per_sec"])
        tpq1, tpq2 = (find_row(rows, model, backend, "server", TOP, n) for n in (1, 2))
        name = f"{model.label} {backend}: {TOP}-client ops/s, THREADS_PER_QUEUE 2 vs 1"
        bare_text = f"the bare call from 2 threads does {bare:.2f}x of 1 thread"
        out.append(ratio_target(name, tpq2, tpq1, round(TPQ_SHARE_TARGET * bare, 3), "TPQ 1",
                                f"limit {TPQ_SHARE_TARGET} x bare: {bare_text}"))
        if model is slow:
            out.append(ratio_target(f"{name} (call >= 1 ms)", tpq2, tpq1, TPQ_SLOW_TARGET,
                                    "TPQ 1", f"{bare_text}; bare call p50 "
                                    f"{floor['p50_us'] / 1000:.2f} ms"))
    for model in (m for m in models.values() if m.batched):
        unbatched, batched = (find_row(rows, model, "ONNX", p, TOP, 1)
                              for p in ("unbatched", "batched"))
        name = f"{model.label} ONNX: {TOP}-client BATCHSIZE {BATCHSIZE} vs unbatched"
        out.append(ratio_target(f"{name}, ops/s", batched, unbatched, BATCH_TARGETS[model.name],
                                "unbatched", REFERENCE_BATCHING if model is mlp else ""))
        out.append(target(f"{name}, p99", batched["p99_us"], "us",
                          f"<= {unbatched['p99_us']:g}", batched["errors"] == 0
                          and batched["p99_us"] <= unbatched["p99_us"], "unbatched p99"))
    for backend in ("ONNX", "TORCH"):
        out.append(client_side_target(rows, mlp, backend))
    out.append(tail_target(rows))
    if "store_stall" in section:
        out += [stall_target(st) for st in section["store_stall"]]
    return out + [section["memory"]["target"]]


def client_side_target(rows, model, backend):
    """Median over the rounds of TOP-client ops/s over client-side inference."""
    rounds = sorted({r["round"] for r in rows if r.get("round")})
    pairs = [(find_row(rows, model, backend, "server", TOP, 1, r),
              find_row(rows, model, backend, "client-side", TOP, None, r)) for r in rounds]
    values = [ratio(ours["ops_per_sec"], local["ops_per_sec"]) for ours, local in pairs]
    median = statistics.median(values)
    ours, local = pairs[values.index(statistics.median_low(values))]
    ok = median >= CLIENT_SIDE_TARGET and all(a["errors"] == b["errors"] == 0 for a, b in pairs)
    return target(f"{model.label} {backend}: {TOP}-client ops/s vs client-side inference",
                  round(median, 3), "x", f">= {CLIENT_SIDE_TARGET:g}", ok,
                  f"median of {len(values)} rounds: " + ", ".join(f"{v:.2f}" for v in values),
                  pair(ours, local, "client-side inference"))


def tail_target(rows):
    """p99/p50 of every unbatched AI.MODELEXECUTE row, the worst reported."""
    server = [r for r in rows if r["path"] == "server"]
    worst = max(server, key=lambda r: r["p99_over_p50"])
    ok = all(r["errors"] == 0 and r["p50_us"] > 0 and r["p99_over_p50"] <= TAIL_TARGET
             for r in server)
    return target("every unbatched MODELEXECUTE row: p99 / p50", worst["p99_over_p50"], "x",
                  f"<= {TAIL_TARGET:g}", ok,
                  f"worst: {row_label(worst)}, {worst['clients']}-client row")


def stall_target(st):
    d, i, p = st["ping"], st["ping_idle"], st["ping_plain_set"]
    main = st["main_thread_us"]
    return target(f"{st['backend']}: max PING latency while a {st['model_bytes'] / 2**20:.0f} "
                  f"MiB model is stored", round(d["max_us"] / 1000, 2), "ms",
                  f"<= {STALL_TARGET_MS:g}", st["pass"],
                  f"idle PING max {i['max_us'] / 1000:.2f} ms; plain SET of the same bytes: "
                  f"{p['max_us'] / 1000:.2f} ms; main thread in AI.MODELSTORE (SLOWLOG) "
                  + (f"{main / 1000:.2f} ms" if main else f"< {SLOWLOG_THRESHOLD_US / 1000:g} ms"))


# ---- report -------------------------------------------------------------------------------

ROW_COLUMNS = [Column("row", 38, ""), Column("clients", 7, "d"),
               Column("ops/s", 9, ",.0f"), Column("p50 us", 8, ".1f"),
               Column("p99 us", 8, ".1f"), Column("p99/p50", 7, ".1f"),
               Column("run us", 6, ".1f"), Column("main us", 7, ".1f"),
               Column("other us", 8, ".1f"), Column("errors", 6, "d")]
PATH_NAMES = {"floor": "bare call", "floor-2-threads": "bare call, 2 threads",
              "client-side": "client-side inference", "unbatched": "MODELEXECUTE unbatched",
              "batched": f"MODELEXECUTE BATCHSIZE {BATCHSIZE}"}


def row_label(r, path_names=PATH_NAMES):
    path = path_names.get(r["path"]) or f"MODELEXECUTE TPQ {r['threads_per_queue']}"
    return " ".join(filter(None, [r.get("model"), r["backend"], path,
                                  r.get("round") and f"(round {r['round']})"]))


def rows_table(rows, path_names=PATH_NAMES):
    lines = [table_header(ROW_COLUMNS)]
    for r in rows:
        lines.append(table_line(ROW_COLUMNS, [
            row_label(r, path_names), r["clients"], r["ops_per_sec"], r["p50_us"], r["p99_us"],
            r["p99_over_p50"], r.get("run_us"), r.get("main_cpu_us"), r.get("other_cpu_us"),
            r["errors"]]))
    lines += [f"\nfirst error of {row_label(r, path_names)}: `{r['first_error']}`"
              for r in rows if r["errors"]]
    return lines


def markdown(s):
    """The section's report (Markdown lines)."""
    shapes = ", ".join(f"{m['label']} {'x'.join(map(str, m['input']))}"
                       for m in s["models"].values())
    lines = [f"## Models\n\nInputs: {shapes} (float32). {s['duration_s']} s per row after "
             f"{s['warmup_s']} s warm-up; model servers (THREADS_PER_QUEUE 1 and 2, both up "
             f"throughout) on CPUs {s['server_cpus']}; bare calls on CPU {SERVER_CPU + 1}, "
             f"one intra-op thread; client-side clients are processes on any CPU. Per call in "
             f"the server: `run us` = backend time (AI.INFO duration / calls), `main us` / "
             f"`other us` = CPU time of the main thread / of all other threads."]
    if s["module_args"]:
        lines.append(f"\nExtra module arguments: `{' '.join(map(str, s['module_args']))}`")
    lines += ["", *rows_table(s["rows"])]
    lines.append("\nOutputs match the bare call: " + ", ".join(
        f"`{k}` {'yes' if ok else 'NO'}" for k, ok in s["outputs_match"].items()))
    m = s["memory"]
    lines.append(f"\nMemory per stored model ({m['copies']} more copies of the "
                 f"{m['model_bytes'] / 2**20:.2f} MiB ONNX MLP after a warm-up store, after "
                 f"MEMORY PURGE): RSS {m['rss'] / 2**20:.2f} MiB, heap (allocator_allocated) "
                 f"{m['allocated'] / 2**20:.2f} MiB, of which Redis used_memory "
                 f"{m['used_memory'] / 2**20:.2f} MiB; one more ONNX Runtime session of the "
                 f"blob in a fresh process: {m['session_mib']:.2f} MiB.")
    return lines
