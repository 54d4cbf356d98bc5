"""DAG and script section of the benchmark.

On the models section's ONNX MLP (bench/models.py, whose helpers this reuses):
one AI.DAGEXECUTE of TENSORSET |> MODELEXECUTE |> TENSORGET against the same
three commands sent one after the other, AI.MODELEXECUTE alone and
client-side inference, at 1 and 32 clients; and AI.SCRIPTEXECUTE of a small
tensor-math function against the bare TorchScript call of the same source
(its floor), beside AI.MODELEXECUTE against its own floor. Every figure a
target compares is measured in this section, on one server, back to back.
"""
import numpy as np
import torch

import models
from harness import redis_server

BACKEND = "ONNX"
MODEL_KEY = f"mlp:{BACKEND}"
SCRIPT_KEY = "script:bench"
SCRIPT_SOURCE = """def f(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * 2 + 1
"""
CLIENTS = (1, 32)

DAG_VS_SEPARATE_TARGET = 1.8   # 1-client requests/s, DAG over the three commands
DAG_VS_EXECUTE_TARGET = 0.95   # 32-client ops/s, DAG over AI.MODELEXECUTE alone
CLIENT_SIDE_TARGET = models.CLIENT_SIDE_TARGET  # 32-client DAG over client-side, 4x
SCRIPT_SLACK_US = 10           # SCRIPTEXECUTE's p50 over its floor, beyond MODELEXECUTE's

# loadgen templates; one request each (the separate path is three commands,
# @THEN: each sent once the previous reply is in). @DATA is the MLP's input
# (loadgen -f), {c} the connection number. MODELEXECUTE's and SCRIPTEXECUTE's
# input keys in:{c} are set by models.model_server.
TENSORSET_ARGS = ["FLOAT", "1", str(models.LAYERS[0]), "BLOB", "@DATA"]
TEMPLATES = {
    "dag": ["AI.DAGEXECUTE", "ROUTING", MODEL_KEY,
            "|>", "AI.TENSORSET", "in", *TENSORSET_ARGS,
            "|>", "AI.MODELEXECUTE", MODEL_KEY, "INPUTS", "1", "in", "OUTPUTS", "1", "out",
            "|>", "AI.TENSORGET", "out", "BLOB"],
    "separate": ["AI.TENSORSET", "in:{c}", *TENSORSET_ARGS,
                 "@THEN", "AI.MODELEXECUTE", MODEL_KEY, "INPUTS", "1", "in:{c}",
                 "OUTPUTS", "1", "out:{c}",
                 "@THEN", "AI.TENSORGET", "out:{c}", "BLOB"],
    "execute": models.execute_template(BACKEND),
    "script": ["AI.SCRIPTEXECUTE", SCRIPT_KEY, "f", "INPUTS", "1", "in:{c}",
               "OUTPUTS", "1", "sout:{c}"],
}
STATS_KEY = {"dag": MODEL_KEY, "separate": MODEL_KEY, "execute": MODEL_KEY,
             "script": SCRIPT_KEY}  # whose AI.INFO gives a row's per-call figures
# Server rows in run order; the rows compared by a target run back to back,
# and which goes first alternates from group to group, so drift hits both.
GROUPS = [(1, ("execute", "script")), (1, ("dag", "separate")),
          (32, ("dag", "separate", "execute"))]


# ---- rows ---------------------------------------------------------------------------

def script_floor_row(x, duration, warmup):
    """The bare call of SCRIPT_SOURCE's function (torch.jit.CompilationUnit,
    one intra-op thread) on the same [1, 256] tensor, measured as the model
    floors are."""
    def make_step():
        f = torch.jit.CompilationUnit(SCRIPT_SOURCE).f
        tensors = [torch.from_numpy(x)]

        def step():
            with torch.no_grad():
                f(tensors, [], [])
        return step
    return models.latency_row(models.floor_samples(make_step, duration, warmup), duration,
                              backend="TORCH", path="script-floor", clients=1)


def server_row(port, client, path, clients, payload, duration, warmup):
    result = models.measured_run(port, client, STATS_KEY[path], TEMPLATES[path], clients,
                                 duration, warmup, "-f", payload,
                                 "-r", 4 * models.LAYERS[-1])  # TENSORGET's reply bytes
    return {"backend": "TORCH" if path == "script" else BACKEND, "path": path,
            "clients": clients, **result}


def server_rows(port, client, payload, duration, warmup):
    rows = []
    for i, (clients, paths) in enumerate(GROUPS):
        for path in paths if i % 2 == 0 else reversed(paths):
            rows.append(server_row(port, client, path, clients, payload, duration, warmup))
    return rows


def outputs_match(client, x, expected):
    """Whether the DAG's TENSORGET reply equals the bare model call and the
    script's output the bare script call."""
    reply = client.execute_command(*[x.tobytes() if a == "@DATA" else a
                                     for a in TEMPLATES["dag"]])
    dag = np.frombuffer(reply[-1], np.float32).reshape(expected.shape)
    client.execute_command(*[a.replace("{c}", "0") for a in TEMPLATES["script"]])
    script = np.frombuffer(client.execute_command("AI.TENSORGET", "sout:0", "BLOB"),
                           np.float32).reshape(x.shape)
    bare = torch.jit.CompilationUnit(SCRIPT_SOURCE).f([torch.from_numpy(x)], [], []).numpy()
    return {"DAG": bool(np.allclose(dag, expected, rtol=1e-4, atol=1e-5)),
            "SCRIPTEXECUTE": bool(np.array_equal(script, bare))}


# ---- targets -------------------------------------------------------------------------

def targets(rows, wakeup):
    def row(path, clients=1):
        return next(r for r in rows if r["path"] == path and r["clients"] == clients)
    top = max(CLIENTS)
    out = []
    for name, num, den, goal in [
            ("1-client requests/s, DAG vs 3 commands", row("dag"), row("separate"),
             DAG_VS_SEPARATE_TARGET),
            (f"{top}-client ops/s, DAG vs MODELEXECUTE", row("dag", top), row("execute", top),
             DAG_VS_EXECUTE_TARGET),
            (f"{top}-client ops/s, DAG vs client-side", row("dag", top),
             row("client-side", top), CLIENT_SIDE_TARGET)]:
        value = models.ratio(num["ops_per_sec"], den["ops_per_sec"])
        out.append({"backend": BACKEND, "name": name, "value": value, "unit": "x",
                    "target": f">= {goal}", "reference": None,
                    "pass": num["errors"] == 0 and den["errors"] == 0 and value >= goal})
    script, execute = row("script"), row("execute")
    script_extra = round(script["p50_us"] - row("script-floor")["p50_us"], 1)
    execute_extra = round(execute["p50_us"] - row("floor")["p50_us"], 1)
    limit = round(execute_extra + SCRIPT_SLACK_US, 1)
    out.append({"backend": "TORCH", "name": "1-client SCRIPTEXECUTE p50 over the floor",
                "value": script_extra, "unit": "us",
                "target": f"<= {limit}: MODELEXECUTE's {execute_extra} over its floor "
                          f"+ {SCRIPT_SLACK_US}",
                "reference": models.wakeup_reference(wakeup),
                "pass": script["errors"] == 0 and execute["errors"] == 0
                and script_extra <= limit})
    return out


# ---- section ----------------------------------------------------------------------------

def run_section(module, workdir, duration, warmup, module_args=()):
    """The whole section as one report dict; `module_args` as in the model
    section (its server also runs with THREADS_PER_QUEUE 1)."""
    blobs, x = models.mlp_models()
    section = {"mlp": {"layers": list(models.LAYERS), "bytes": len(blobs[BACKEND])},
               "script": SCRIPT_SOURCE, "duration_s": duration, "warmup_s": warmup,
               "server_cpus": models.MODEL_SERVER_CPUS, "module_args": list(module_args)}
    rows = [models.floor_row(BACKEND, blobs[BACKEND], x, duration, warmup),
            script_floor_row(x, duration, warmup)]
    payload = workdir / "dag-input.bin"  # @DATA for loadgen
    payload.write_bytes(x.tobytes())
    args = ("THREADS_PER_QUEUE", 1, *module_args)
    with models.model_server(workdir / "dag", module, blobs, x, args) as (port, client):
        client.execute_command("AI.SCRIPTSTORE", SCRIPT_KEY, "CPU", "ENTRY_POINTS", 1, "f",
                               "SOURCE", SCRIPT_SOURCE)
        rows += server_rows(port, client, payload, duration, warmup)
        section["outputs_match"] = outputs_match(
            client, x, models.local_model(BACKEND, blobs[BACKEND])(x))
    with redis_server(workdir / "dag-plain", cpus=models.MODEL_SERVER_CPUS) as (port, client):
        rows += models.client_side_rows(port, client, blobs, x, duration, warmup,
                                        backends=(BACKEND,), clients=CLIENTS)
    for r in rows:
        r["p99_over_p50"] = models.ratio(r["p99_us"], r["p50_us"])
    section["wakeup"] = models.wakeup_cost()  # at the end, with no server running
    section["rows"], section["targets"] = rows, targets(rows, section["wakeup"])
    return section


def target_results(section):
    """PASS/FAIL of every target of the section, for the report's totals."""
    return [t["pass"] for t in section["targets"]]


# ---- report ---------------------------------------------------------------------------

PATH_NAMES = {**models.PATH_NAMES, "script-floor": "bare script call",
              "execute": "MODELEXECUTE", "script": "SCRIPTEXECUTE",
              "dag": "DAGEXECUTE, 3 ops", "separate": "3 commands in a row"}
ROW_ORDER = ["floor", "execute", "dag", "separate", "client-side", "script-floor", "script"]


def print_section(s):
    print(f"\nDAG and scripts: the models section's MLP as ONNX; {s['duration_s']} s per row after "
          f"{s['warmup_s']} s warm-up; server on CPUs {s['server_cpus']} (THREADS_PER_QUEUE 1)")
    if s["module_args"]:
        print(f"  extra module arguments: {' '.join(map(str, s['module_args']))}")
    print("  ops/s and latency per request: one DAG (TENSORSET |> MODELEXECUTE |> TENSORGET), "
          "the same three commands\n  each sent once the previous reply is in, or one command; "
          "run/main/other us per request, as in the models section;\n"
          f"  the script: {s['script'].splitlines()[1].strip()} on the [1, 256] input")
    models.print_rows(sorted(s["rows"], key=lambda r: (ROW_ORDER.index(r["path"]), r["clients"])),
                      PATH_NAMES)
    print("  outputs match the bare call: " + ", ".join(
        f"{k} {'yes' if ok else 'NO'}" for k, ok in s["outputs_match"].items()))
    models.print_targets(s["targets"])
