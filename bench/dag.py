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
from harness import pair, ratio, ratio_target, redis_server, target

BACKEND = "ONNX"
SCRIPT_KEY = "script:bench"
SCRIPT_SOURCE = """def f(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * 2 + 1
"""
CLIENTS = (1, 32)

DAG_VS_SEPARATE_TARGET = 1.8   # 1-client requests/s, DAG over the three commands
DAG_VS_EXECUTE_TARGET = 0.95   # 32-client ops/s, DAG over AI.MODELEXECUTE alone
CLIENT_SIDE_TARGET = models.CLIENT_SIDE_TARGET  # 32-client DAG over client-side, 4x
SCRIPT_SLACK_US = 10           # SCRIPTEXECUTE's p50 over its floor, beyond MODELEXECUTE's


def templates(mlp):
    """loadgen templates; one request each (the separate path is three
    commands, @THEN: each sent once the previous reply is in). @DATA is the
    MLP's input (loadgen -f), {c} the connection number. MODELEXECUTE's and
    SCRIPTEXECUTE's input keys are set by models.model_server."""
    key, inp = mlp.key(BACKEND), mlp.input_key()
    tensorset = ["FLOAT", *map(str, mlp.x.shape), "BLOB", "@DATA"]
    return {
        "dag": ["AI.DAGEXECUTE", "ROUTING", key,
                "|>", "AI.TENSORSET", "in", *tensorset,
                "|>", "AI.MODELEXECUTE", key, "INPUTS", "1", "in", "OUTPUTS", "1", "out",
                "|>", "AI.TENSORGET", "out", "BLOB"],
        "separate": ["AI.TENSORSET", inp, *tensorset,
                     "@THEN", *mlp.execute(BACKEND),
                     "@THEN", "AI.TENSORGET", "out:{c}", "BLOB"],
        "execute": mlp.execute(BACKEND),
        "script": ["AI.SCRIPTEXECUTE", SCRIPT_KEY, "f", "INPUTS", "1", inp,
                   "OUTPUTS", "1", "sout:{c}"],
    }


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


def server_row(server, tpl, mlp, path, clients, payload, duration, warmup):
    stats_key = SCRIPT_KEY if path == "script" else mlp.key(BACKEND)
    result = models.measured_run(*server, stats_key, tpl[path], clients, duration, warmup,
                                 "-f", payload,
                                 "-r", 4 * models.MLP_LAYERS[-1])  # TENSORGET's reply bytes
    script = path == "script"
    return {"model": None if script else mlp.label, "backend": "TORCH" if script else BACKEND,
            "path": path, "clients": clients, **result}


def server_rows(server, tpl, mlp, payload, duration, warmup):
    rows = []
    for i, (clients, paths) in enumerate(GROUPS):
        rows += models.back_to_back(i, *[
            lambda path=path: server_row(server, tpl, mlp, path, clients, payload, duration,
                                         warmup) for path in paths])
    return rows


def outputs_match(client, tpl, mlp):
    """Whether the DAG's TENSORGET reply equals the bare model call and the
    script's output the bare script call."""
    x = mlp.x
    expected = models.local_model(BACKEND, mlp.blobs[BACKEND])(x)
    reply = client.execute_command(*[x.tobytes() if a == "@DATA" else a for a in tpl["dag"]])
    dag = np.frombuffer(reply[-1], np.float32).reshape(expected.shape)
    client.execute_command(*[a.replace("{c}", "0") for a in tpl["script"]])
    script = np.frombuffer(client.execute_command("AI.TENSORGET", "sout:0", "BLOB"),
                           np.float32).reshape(x.shape)
    bare = torch.jit.CompilationUnit(SCRIPT_SOURCE).f([torch.from_numpy(x)], [], []).numpy()
    return {"DAG": bool(np.allclose(dag, expected, rtol=1e-4, atol=1e-5)),
            "SCRIPTEXECUTE": bool(np.array_equal(script, bare))}


def script_memory(client):
    """Memory per AI.SCRIPTSTORE of SCRIPT_SOURCE under new keys (after the
    warm-up store of SCRIPT_KEY)."""
    return models.memory_per_store(client, lambda key: client.execute_command(
        "AI.SCRIPTSTORE", key, "CPU", "ENTRY_POINTS", 1, "f", "SOURCE", SCRIPT_SOURCE))


# ---- targets -------------------------------------------------------------------------

def targets(rows):
    def row(path, clients=1):
        return next(r for r in rows if r["path"] == path and r["clients"] == clients)
    top = max(CLIENTS)
    out = [ratio_target(f"{BACKEND} MLP: {name}", row(ours, n), row(anchor, n), goal, anchor_name)
           for name, ours, anchor, n, goal, anchor_name in [
               ("1-client requests/s, DAG vs 3 commands", "dag", "separate", 1,
                DAG_VS_SEPARATE_TARGET, "3 commands"),
               (f"{top}-client ops/s, DAG vs MODELEXECUTE", "dag", "execute", top,
                DAG_VS_EXECUTE_TARGET, "MODELEXECUTE"),
               (f"{top}-client ops/s, DAG vs client-side", "dag", "client-side", top,
                CLIENT_SIDE_TARGET, "client-side inference")]]
    script, execute = row("script"), row("execute")
    script_extra = round(script["p50_us"] - row("script-floor")["p50_us"], 1)
    execute_extra = round(execute["p50_us"] - row("floor")["p50_us"], 1)
    limit = round(execute_extra + SCRIPT_SLACK_US, 1)
    out.append(target("1-client SCRIPTEXECUTE p50 over the bare script call", script_extra,
                      "us", f"<= {limit:g}", script["errors"] == 0 and execute["errors"] == 0
                      and script_extra <= limit,
                      f"MODELEXECUTE's p50 over its bare call {execute_extra:g} us "
                      f"+ {SCRIPT_SLACK_US} us",
                      pair(script, row("script-floor"), "bare script call")))
    return out


# ---- section ----------------------------------------------------------------------------

def run_section(module, workdir, duration, warmup, module_args=(), quick=False):
    """The whole section as one report dict; `module_args` as in the model
    section (its server also runs with THREADS_PER_QUEUE 1); `quick` changes
    nothing here but the durations."""
    mlp = models.mlp_model()
    tpl = templates(mlp)
    section = {"mlp": {"layers": list(models.MLP_LAYERS), "bytes": len(mlp.blobs[BACKEND])},
               "script": SCRIPT_SOURCE, "duration_s": duration, "warmup_s": warmup,
               "server_cpus": models.MODEL_SERVER_CPUS, "module_args": list(module_args)}
    rows = [models.floor_row(mlp, BACKEND, duration, warmup),
            script_floor_row(mlp.x, duration, warmup)]
    payload = workdir / "dag-input.bin"  # @DATA for loadgen
    payload.write_bytes(mlp.x.tobytes())
    args = ("THREADS_PER_QUEUE", 1, *module_args)
    with models.model_server(workdir / "dag", module, [mlp], args) as server:
        client = server[1]
        client.execute_command("AI.SCRIPTSTORE", SCRIPT_KEY, "CPU", "ENTRY_POINTS", 1, "f",
                               "SOURCE", SCRIPT_SOURCE)
        section["script_memory"] = script_memory(client)  # before anything ran
        rows += server_rows(server, tpl, mlp, payload, duration, warmup)
        section["outputs_match"] = outputs_match(client, tpl, mlp)
    with redis_server(workdir / "dag-plain", cpus=models.MODEL_SERVER_CPUS) as plain:
        rows += [models.client_side_row(*plain, mlp, BACKEND, n, duration, warmup)
                 for n in CLIENTS]
    for r in rows:
        r["p99_over_p50"] = ratio(r["p99_us"], r["p50_us"])
    section["rows"], section["targets"] = rows, targets(rows)
    return section


# ---- report ---------------------------------------------------------------------------

PATH_NAMES = {**models.PATH_NAMES, "script-floor": "bare script call",
              "execute": "MODELEXECUTE", "script": "SCRIPTEXECUTE",
              "dag": "DAGEXECUTE, 3 ops", "separate": "3 commands in a row"}
ROW_ORDER = ["floor", "execute", "dag", "separate", "client-side", "script-floor", "script"]


def markdown(s):
    """The section's report (Markdown lines)."""
    m = s["script_memory"]
    lines = [f"## DAG and scripts\n\nThe models section's MLP as ONNX; {s['duration_s']} s per "
             f"row after {s['warmup_s']} s warm-up; server on CPUs {s['server_cpus']} "
             f"(THREADS_PER_QUEUE 1). ops/s and latency per request: one DAG (TENSORSET |> "
             f"MODELEXECUTE |> TENSORGET), the same three commands each sent once the previous "
             f"reply is in, or one command; run/main/other us per request, as in the models "
             f"section. The script: `{s['script'].splitlines()[1].strip()}` on the MLP's "
             f"[1, 256] input."]
    if s["module_args"]:
        lines.append(f"\nExtra module arguments: `{' '.join(map(str, s['module_args']))}`")
    rows = sorted(s["rows"], key=lambda r: (ROW_ORDER.index(r["path"]), r["clients"]))
    lines += ["", *models.rows_table(rows, PATH_NAMES)]
    lines.append("\nOutputs match the bare call: " + ", ".join(
        f"{k} {'yes' if ok else 'NO'}" for k, ok in s["outputs_match"].items()))
    lines.append(f"\nMemory per stored script ({m['copies']} more `AI.SCRIPTSTORE`s of the "
                 f"script after a warm-up store, after MEMORY PURGE): RSS {m['rss'] / 1024:.1f} "
                 f"KiB (whole pages: noise at this size), heap (allocator_allocated) "
                 f"{m['allocated'] / 1024:.1f} KiB, of which Redis used_memory "
                 f"{m['used_memory'] / 1024:.1f} KiB.")
    return lines
