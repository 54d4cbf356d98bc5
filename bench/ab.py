"""Interleaved A/B of AI.MODELEXECUTE between two builds of the module.

    .venv/bin/python bench/ab.py --a BASELINE.so --b CANDIDATE.so \
        [--models onnx,torch,cnn] [--clients 1,8,32] [--tpq 1] [--rounds 9]

Both servers are up at once, with the same models and inputs; loadgen
rounds alternate between them (A B B A ...), so drift on a shared machine
hits both alike; the table gives each side's median ops/s and p50 and B/A.
The bare framework call (the floor, as in the model section) is measured
before each model's rows. Models: the model section's MLP (ONNX and
TorchScript) and a small TorchScript CNN (two 3x3 convolutions, [1, 3, 32, 32]
input, 10 outputs).
"""
import argparse
import contextlib
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from harness import ALL_CPUS, build_loadgen, redis_server, run_loadgen
from models import floor_row, mlp_models, store, thread_cpu_seconds, torchscript


def cnn_model():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(32 * 16 * 16, 10))
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32), dtype=np.float32)
    return torchscript(net), x


def models(names):
    """{name: (backend, blob, input)} of the models asked for."""
    blobs, x = mlp_models()
    out = {"onnx": ("ONNX", blobs["ONNX"], x), "torch": ("TORCH", blobs["TORCH"], x)}
    out["cnn"] = ("TORCH", *cnn_model())
    return {n: out[n] for n in names}


@contextlib.contextmanager
def loaded_server(workdir, module, tpq, backend, blob, x, clients):
    with redis_server(workdir, module, ("THREADS_PER_QUEUE", tpq), cpus=ALL_CPUS) as (port, r):
        store(r, "m", backend, blob)
        for i in range(clients):
            r.execute_command("AI.TENSORSET", f"in:{i}", "FLOAT", *x.shape, "BLOB", x.tobytes())
        yield port, r


def measured_round(server, clients, seconds):
    """One loadgen round: its result, with the server's CPU time per call
    (main thread, other threads; us) over the whole round."""
    port, r = server
    pid = r.info("server")["process_id"]
    r.execute_command("AI.INFO", "m", "RESETSTAT")
    main0, other0 = thread_cpu_seconds(pid)
    template = ["AI.MODELEXECUTE", "m", "INPUTS", "1", "in:{c}", "OUTPUTS", "1", "out:{c}"]
    res = run_loadgen(port, template, clients, "-d", seconds, "-w", 0.2)
    main1, other1 = thread_cpu_seconds(pid)
    if res["errors"]:
        raise RuntimeError(res["first_error"])
    info = r.execute_command("AI.INFO", "m")
    calls = dict(zip(info[::2], info[1::2]))[b"calls"]
    return {**res, "main_us": (main1 - main0) * 1e6 / calls,
            "other_us": (other1 - other0) * 1e6 / calls}


def ab_rows(servers, clients, rounds, seconds):
    """Medians of each side over alternating rounds."""
    runs = ([], [])
    for i in range(rounds):
        for side in ((0, 1) if i % 2 == 0 else (1, 0)):
            runs[side].append(measured_round(servers[side], clients, seconds))
    return [{k: statistics.median(r[k] for r in side)
             for k in ("ops_per_sec", "p50_us", "main_us", "other_us")} for side in runs]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--a", required=True, type=Path)
    p.add_argument("--b", required=True, type=Path)
    p.add_argument("--models", default="onnx,torch,cnn")
    p.add_argument("--clients", default="1,8,32")
    p.add_argument("--tpq", type=int, default=1)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--seconds", type=float, default=1.0)
    args = p.parse_args()
    build_loadgen()
    clients = [int(c) for c in args.clients.split(",")]
    print(f"THREADS_PER_QUEUE {args.tpq}, {args.rounds} rounds of {args.seconds} s per side")
    print(f"{'model':6} {'clients':>7} {'A ops/s':>9} {'B ops/s':>9} {'B/A':>5} "
          f"{'A p50':>7} {'B p50':>7} {'B/floor':>7}  CPU us/call (main, other) A | B")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (backend, blob, x) in models(args.models.split(",")).items():
            floor = floor_row(backend, blob, x, 2, 0.5)
            print(f"{name:6} {'floor':>7} {floor['ops_per_sec']:9.0f} {'':>9} {'':>5} "
                  f"{floor['p50_us']:7.1f}")
            with loaded_server(Path(tmp) / "a", args.a.resolve(), args.tpq, backend, blob, x,
                               max(clients)) as a, \
                 loaded_server(Path(tmp) / "b", args.b.resolve(), args.tpq, backend, blob, x,
                               max(clients)) as b:
                for c in clients:
                    ra, rb = ab_rows((a, b), c, args.rounds, args.seconds)
                    print(f"{name:6} {c:7d} {ra['ops_per_sec']:9.0f} {rb['ops_per_sec']:9.0f} "
                          f"{rb['ops_per_sec'] / ra['ops_per_sec']:5.2f} {ra['p50_us']:7.1f} "
                          f"{rb['p50_us']:7.1f} {rb['ops_per_sec'] / floor['ops_per_sec']:6.2f}x"
                          f"  {ra['main_us']:5.1f} {ra['other_us']:6.1f} | "
                          f"{rb['main_us']:5.1f} {rb['other_us']:6.1f}", flush=True)


if __name__ == "__main__":
    main()
