"""Memory limits and faults while requests run (issue 11, section 4): every
write command under maxmemory with noeviction, outputs computed while the
server went past it (all or nothing), and CLIENT KILL, SHUTDOWN and
DEBUG RELOAD while requests are queued and running (the `slow` model keeps
the CPU queue busy).

Models are built at test time (tests/models.py)."""
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from redis.exceptions import ConnectionError, ResponseError

import models
from conftest import wait_until
from models import (CASES, Slow, assert_alive, info, modelexecute, resp, store, tensorset,
                    wait_blocked)
from test_hostile import blocked_call, scriptstore
from test_tensor import error_reply

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION

OOM = "OOM command not allowed when used memory > 'maxmemory'."
MiB = 1 << 20


def used_memory(r):
    return r.info("memory")["used_memory"]


def snapshot(r, keys):
    """What the keys hold, to compare before and after a refused command."""
    return {key: (r.type(key), r.dump(key)) for key in keys}


# ================================================================ maxmemory

@pytest.fixture
def noeviction(r, blobs, mlp):
    """The mlp model and its inputs, a script, a tensor at `t`; then
    maxmemory far below what the server uses (policy noeviction); restored
    after the test."""
    assert scriptstore(r, "    return tensors[0] * 2") == b"OK"
    tensorset(r, "t", np.ones((2, 3), np.float32))
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", 1)
    yield r
    r.config_set("maxmemory", 0)


WRITES = {
    "TENSORSET": ("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 5),
    "MODELSTORE": ("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", b"x"),
    "MODELSET": ("AI.MODELSET", "m", "ONNX", "CPU", "BLOB", b"x"),
    "SCRIPTSTORE": ("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE", "x"),
    "SCRIPTSET": ("AI.SCRIPTSET", "s", "CPU", "SOURCE", "x"),
    "MODELEXECUTE": ("AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "z", "OUTPUTS", 2, "y", "h"),
    "MODELRUN": ("AI.MODELRUN", "m", "INPUTS", "x", "z", "OUTPUTS", "y", "h"),
    "SCRIPTEXECUTE": ("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "t", "OUTPUTS", 1, "y"),
    "SCRIPTRUN": ("AI.SCRIPTRUN", "s", "f", "INPUTS", "t", "OUTPUTS", "y"),
    "DAGEXECUTE": ("AI.DAGEXECUTE", "LOAD", 1, "t", "PERSIST", 1, "y", "|>",
                   "AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "t", "OUTPUTS", 1, "y"),
    "DAGRUN": ("AI.DAGRUN", "LOAD", 1, "t", "PERSIST", 1, "y", "|>",
               "AI.SCRIPTRUN", "s", "f", "INPUTS", "t", "OUTPUTS", "y"),
}


@pytest.mark.parametrize("command", WRITES)
def test_writes_past_maxmemory_are_refused_up_front(noeviction, command):
    """deny-oom: Redis refuses the command before it runs, with its own
    wording; nothing changes."""
    r = noeviction
    keys = ["m", "s", "t", "x", "z", "y", "h"]
    before = snapshot(r, keys)
    assert error_reply(r, *WRITES[command]) == OOM
    assert snapshot(r, keys) == before


def test_reads_deletes_and_read_only_dags_still_run_past_maxmemory(noeviction):
    r = noeviction
    assert r.execute_command("AI.TENSORGET", "t", "VALUES") == [b"1"] * 6
    assert r.execute_command("AI.MODELGET", "m", "META")[:2] == [b"backend", b"ONNX"]
    assert r.execute_command("AI.DAGEXECUTE_RO", "LOAD", 2, "x", "z", "|>",
                             "AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "z", "OUTPUTS", 2, "y",
                             "h", "|>", "AI.TENSORGET", "h", "META")[0] == b"OK"
    assert r.execute_command("AI.SCRIPTDEL", "s") == b"OK"
    r.config_set("maxmemory", 0)
    assert r.execute_command("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 5) == b"OK"


@pytest.fixture
def big(r, blobs):
    """Two 8 MiB tensors `a`, `b`, a model and a script that copy them, and
    maxmemory 4 MiB above what the server then uses (noeviction): each
    request is accepted, and its outputs take the server past maxmemory."""
    tensorset(r, "a", np.ones((2 * MiB, 1), np.float32))
    tensorset(r, "b", np.full((2 * MiB, 1), 2, np.float32))
    assert store(r, "copy", "TORCH", blobs("torch_batch_probe")) == b"OK"
    assert scriptstore(r, "    return tensors[0] * 3, tensors[1] * 3") == b"OK"
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", used_memory(r) + 4 * MiB)
    yield r
    r.config_set("maxmemory", 0)


OUTPUTS = ["o1", "o2", "o3"]
GROWING = {
    "MODELEXECUTE": ("AI.MODELEXECUTE", "copy", "INPUTS", 2, "a", "b", "OUTPUTS", 3, *OUTPUTS),
    "SCRIPTEXECUTE": ("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 2, "a", "b", "OUTPUTS", 2,
                      *OUTPUTS[:2]),
}


@pytest.mark.parametrize("command", GROWING)
def test_outputs_that_go_past_maxmemory_are_not_written(big, shared_server, command):
    """The outputs (16 MiB) are computed under a 4 MiB margin: the request
    fails with Redis's OOM text and no output is written, none half."""
    r = big
    before = used_memory(r)
    assert error_reply(r, *GROWING[command]) == OOM
    assert r.exists(*OUTPUTS) == 0
    # The outputs in hand are released with the request.
    wait_until(lambda: used_memory(r) < before + 2 * MiB, "outputs released", 10)
    assert_alive(shared_server)
    r.config_set("maxmemory", 0)
    assert r.execute_command(*GROWING[command]) == b"OK"


def test_dag_persist_past_maxmemory_writes_nothing(big):
    """The DAG's ops ran: their replies come, then one trailing OOM error as
    for any PERSIST failure; no key is written."""
    r = big
    reply = r.execute_command(
        "AI.DAGEXECUTE", "LOAD", 2, "a", "b", "PERSIST", 2, "p1", "p2", "|>",
        "AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "p1", "p2", "|>",
        "AI.TENSORGET", "p1", "META")
    assert reply[:2] == [b"OK", [b"dtype", b"FLOAT", b"shape", [2 * MiB, 1]]]
    assert isinstance(reply[2], ResponseError) and str(reply[2]) == OOM[4:]
    assert len(reply) == 3 and r.exists("p1", "p2") == 0


def test_outputs_are_written_when_the_policy_may_evict(big):
    """allkeys-lru: the outputs are written past maxmemory and Redis makes
    room by evicting before the next command."""
    r = big
    evicted = r.info("stats")["evicted_keys"]
    r.config_set("maxmemory-policy", "allkeys-lru")
    try:
        assert r.execute_command(*GROWING["SCRIPTEXECUTE"]) == b"OK"
        assert r.ping() and r.info("stats")["evicted_keys"] > evicted
    finally:
        r.config_set("maxmemory-policy", "noeviction")


def test_a_script_write_past_maxmemory_is_refused(r):
    """redis.execute refuses deny-oom commands once the server is past
    maxmemory, as Lua does: the first write (2 MiB, accepted under the limit)
    takes it past, the second is refused; what ran stays written."""
    assert scriptstore(r, "    redis.execute('SETRANGE', keys[0], args[0], 'x')\n"
                          "    redis.execute('SET', keys[1], 'v')") == b"OK"
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", used_memory(r) + MiB)
    try:
        text = error_reply(r, "AI.SCRIPTEXECUTE", "s", "f", "KEYS", 2, "k1", "k2",
                           "ARGS", 1, 2 * MiB, "OUTPUTS", 0)
    finally:
        r.config_set("maxmemory", 0)
    assert text.endswith(f"Redis command returned an error: {OOM}"), text
    assert r.strlen("k1") == 2 * MiB + 1 and not r.exists("k2")


# ================================================================ faults while requests run

def send_as(server, name, *argv):
    """A raw connection named `name` that sent argv and waits for its reply."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(resp("CLIENT", "SETNAME", name) + resp(*argv))
    assert sock.recv(5) == b"+OK\r\n"
    return sock


def client_id(r, name):
    return next(c["id"] for c in r.client_list() if c["name"] == name)


@pytest.fixture
def mlp_and_script(r, mlp):
    """A script at `s` (x -> y = x + 1) beside the mlp model."""
    assert scriptstore(r, "    return tensors[0] + 1") == b"OK"
    return r


KILLED = {
    "MODELEXECUTE": ("AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "z", "OUTPUTS", 2, "y", "h"),
    "SCRIPTEXECUTE": ("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "x", "OUTPUTS", 1, "y"),
    "DAGEXECUTE": ("AI.DAGEXECUTE", "LOAD", 2, "x", "z", "PERSIST", 1, "y", "|>",
                   "AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "z", "OUTPUTS", 2, "y", "h"),
}


@pytest.mark.parametrize("command", KILLED)
def test_client_kill_of_queued_and_running_requests(mlp_and_script, shared_server, slow, command):
    """CLIENT KILL of a client whose request runs (the slow model) and of one
    whose request is queued behind it: both requests run to completion
    without writing their outputs (the client is gone: README, "Blocking
    clients"), and the worker goes on with the next request."""
    r = mlp_and_script
    running = send_as(shared_server, "running", "AI.MODELEXECUTE", "slow", "INPUTS", 2,
                      *slow.inputs(r, 300), "OUTPUTS", 1, "killed")
    wait_blocked(r, 1)
    queued = send_as(shared_server, "queued", *KILLED[command])
    wait_blocked(r, 2)
    for name in ("queued", "running"):
        assert r.client_kill_filter(_id=client_id(r, name)) == 1
    for sock in (running, queued):
        assert sock.recv(64) == b""                     # closed, no reply
        sock.close()
    # FIFO: once this reply is in, the killed requests are done.
    assert modelexecute(r, "m", ["x", "z"], ["after_y", "after_h"]) == b"OK"
    assert r.exists("killed", "y", "h") == 0
    assert info(r, "slow")["calls"] == 1
    assert_alive(shared_server)


def queue_work(server, pool, slow, mlp_clients=4):
    """The slow model running and MODELEXECUTEs of the mlp queued behind it;
    returns their futures."""
    r = server.client()
    futures = [pool.submit(blocked_call, server.client(), "AI.MODELEXECUTE", "slow", "INPUTS", 2,
                           *slow.inputs(r, 500), "OUTPUTS", 1, "slow_y")]
    wait_blocked(r, 1)
    futures += [pool.submit(blocked_call, server.client(), *KILLED["MODELEXECUTE"][:-2],
                            f"y{i}", f"h{i}") for i in range(mlp_clients)]
    wait_blocked(r, 1 + mlp_clients)
    return futures


@pytest.fixture
def busy_server(server_factory, blobs):
    """A server of its own with the slow model, the mlp and its inputs."""
    server = server_factory()
    r = server.client()
    slow = Slow(r, blobs)
    assert store(r, "m", "ONNX", blobs("onnx_mlp")) == b"OK"
    x, z = models.mlp_inputs(np.random.default_rng(4))
    tensorset(r, "x", x)
    tensorset(r, "z", z)
    return server, slow


@pytest.mark.parametrize("save", [False, True], ids=["SHUTDOWN NOSAVE", "SHUTDOWN SAVE"])
def test_shutdown_while_requests_run_and_wait(busy_server, save):
    """The server exits at once with status 0 (no core, no waiting for the
    queue); SAVE writes the keys, which a restart loads and runs."""
    server, slow = busy_server
    with ThreadPoolExecutor(5) as pool:
        futures = queue_work(server, pool, slow)
        start = time.monotonic()
        server.stop(save=save)
        took = time.monotonic() - start
        replies = [f.result() for f in futures]
    assert server.proc.returncode == 0 and took < 10, took
    assert all(isinstance(reply, ConnectionError) for reply in replies), replies
    assert "crashed" not in server.log()
    assert (server.dir / "dump.rdb").exists() == save
    if save:
        server.start()
        r = server.client()
        assert r.exists("m", "slow", "x", "z") == 4
        CASES["onnx"].execute_and_compare(r, "m", models.Blobs(), np.random.default_rng(5))


def test_debug_reload_while_requests_run_and_wait(busy_server, blobs):
    """DEBUG RELOAD (save, flush, load) under running and queued requests:
    the server survives, the keys come back, every request completes (the
    requests hold their model and inputs) and the models run after."""
    server, slow = busy_server
    r = server.client()
    with ThreadPoolExecutor(5) as pool:
        futures = queue_work(server, pool, slow)
        assert r.execute_command("DEBUG", "RELOAD") == b"OK"
        replies = [f.result() for f in futures]
    assert replies == [b"OK"] * 5, replies
    assert r.exists("m", "slow", "x", "z", "slow_y", "y0", "h3") == 7
    CASES["onnx"].execute_and_compare(r, "m", blobs, np.random.default_rng(6))
    assert slow.run(r, 10) == b"OK"
    assert_alive(server)
