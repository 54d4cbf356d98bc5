"""Hostile input (issue 11, section 4): model blobs that are not a model of
their backend, corrupt DUMP payloads of the three types, and TorchScript
scripts that fail, recurse, allocate without bound, loop forever or call
commands a script must not (models-scripts.md "TorchScript scripts",
commands.md). Each case checks the reply, that nothing was written and that
the server still serves.

Models are built at test time (tests/models.py); what a script cannot be
stopped from doing is documented in the README ("Hostile scripts")."""
import random
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from redis.exceptions import ConnectionError, ResponseError

import models
from models import BY_BACKEND, assert_alive, info, tensorset, wait_blocked
from rdb import module_fields, parse_dump, seal
from test_scripts import ENTRY, execute
from test_tensor import error_reply

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION

# ================================================================ model blobs

ORT_PARSE = "Failed to load model because protobuf parsing failed."
ORT_NO_GRAPH = "No graph was found in the protobuf."
TF_INVALID = "Invalid GraphDef"
TF_NO_INPUT = 'ERR Input node named "a" not found in TF graph.'
TFLITE_INVALID = "Failed to load model from buffer"
# torch's text names the reader that gave up: miniz (not a zip archive) or the stream.
TORCH_INVALID = ("PytorchStreamReader failed reading zip archive", "istream reader failed")


def hostile_blobs(backend, blobs):
    """name -> blob: empty, random bytes, each truncation point class of the
    backend's own model, and every other backend's model."""
    own = BY_BACKEND[backend].blob(blobs)
    cases = {"empty": b"", "random bytes": random.Random(backend).randbytes(4096),
             "header only": own[:16], "half": own[:len(own) // 2],
             "all but the last 8 bytes": own[:-8], "all but the last byte": own[:-1]}
    cases.update((f"{other} model", BY_BACKEND[other].blob(blobs))
                 for other in BY_BACKEND if other != backend)
    return cases


# What each backend replies, by blob (the reference's frameworks and glue; an
# empty GraphDef imports, so TF looks for the declared nodes in it).
EXPECTED = {
    "ONNX": {"empty": ORT_NO_GRAPH, "TF model": ORT_NO_GRAPH},
    "TF": {"empty": TF_NO_INPUT},
    "TFLITE": {},
    "TORCH": {},
}
DEFAULT = {"ONNX": ORT_PARSE, "TF": TF_INVALID, "TFLITE": TFLITE_INVALID, "TORCH": TORCH_INVALID}


@pytest.mark.parametrize("backend", BY_BACKEND)
def test_a_blob_that_is_not_a_model_of_the_backend_is_refused(r, shared_server, blobs, backend):
    """Each bad blob: the backend's error reply on one line, no key, no
    statistics; then the server still stores and runs a good model."""
    case = BY_BACKEND[backend]
    for name, blob in hostile_blobs(backend, blobs).items():
        text = error_reply(r, "AI.MODELSTORE", "m", backend, "CPU", *case.declared, "BLOB", blob)
        expected = EXPECTED[backend].get(name, DEFAULT[backend])
        if isinstance(expected, tuple):
            assert text.startswith(expected), (name, text)
        else:
            assert text == expected, (name, text)
        assert "\n" not in text
        assert not r.exists("m"), name
        assert error_reply(r, "AI.INFO", "m") == models.NO_RUN_INFO
    assert_alive(shared_server)
    assert case.store(r, "m", blobs) == b"OK"
    case.execute_and_compare(r, "m", blobs, np.random.default_rng(1))



# ================================================================ DUMP payloads

BAD_FORMAT = "ERR Bad data format"


def forge(like, values):
    """A payload of the type of the DUMP `like` holding `values` (ints are
    unsigned, bytes string buffers), in the module value encoding."""
    # like[:10]: the RDB type, module id and encoding version; like[-10:-8]: the RDB version
    return seal(like[:10] + module_fields(values), like[-10:-8])


def store_value(r, kind, blobs):
    if kind == "tensor":
        tensorset(r, "v", np.arange(6, dtype=np.float32).reshape(2, 3))
    elif kind == "script":
        assert r.execute_command("AI.SCRIPTSTORE", "v", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE",
                                 f"def f{ENTRY}:\n    return tensors[0]\n") == b"OK"
    else:
        assert BY_BACKEND[kind].store(r, "v", blobs) == b"OK"


READ_BACK = {"tensor": ("AI.TENSORGET", "VALUES"), "script": ("AI.SCRIPTGET",),
             "model": ("AI.MODELGET", "META")}


@pytest.mark.parametrize("kind", ["tensor", "ONNX", "TORCH", "TF", "TFLITE", "script"])
def test_corrupt_dump_payloads_are_refused_or_load_a_whole_value(r, shared_server, blobs, kind):
    """Truncations are refused; a changed byte either is refused or loads a
    value that reads back whole (a byte of the tensor data, the tag...)."""
    store_value(r, kind, blobs)
    payload = r.dump("v")
    body, version = payload[:-10], payload[-10:-8]
    read_back = READ_BACK.get(kind, READ_BACK["model"])
    for end in (1, 10, 11, 14, len(body) // 2, len(body) - 1):
        assert error_reply(r, "RESTORE", "x", 0, seal(body[:end], version)) == BAD_FORMAT, end
        assert not r.exists("x")
    rng = random.Random(kind)
    for _ in range(40):
        changed = bytearray(body)
        at = rng.randrange(10, len(body))
        changed[at] = (changed[at] + rng.randrange(1, 256)) % 256
        try:
            assert r.restore("x", 0, seal(bytes(changed), version)) == b"OK"
        except ResponseError as exc:
            assert str(exc) == "Bad data format", at
            assert not r.exists("x")
            continue
        assert r.type("x") == r.type("v")
        r.execute_command(read_back[0], "x", *read_back[1:])
        r.delete("x")
    assert_alive(shared_server)


def test_forged_tensor_payloads_are_refused(r, shared_server):
    """Lengths no data backs: 2**61 DOUBLE elements in 0 bytes (their byte
    count wraps around 64 bits: restored, it crashed TENSORGET), and 2**31
    dimensions."""
    tensorset(r, "t", np.zeros(2, np.float32))
    like = r.dump("t")
    double = (2, 64)                    # DLPack float, 64 bits
    for values in ([*double, 1, 2**61, b""], [*double, 2**31], [*double, 2**32 - 1, 1, 1]):
        start = time.monotonic()
        assert error_reply(r, "RESTORE", "x", 0, forge(like, values)) == BAD_FORMAT
        assert time.monotonic() - start < 5
    assert not r.exists("x")
    assert_alive(shared_server)


def test_forged_model_payloads_are_refused(r, shared_server, blobs):
    """The ONNX model's blob under every other backend id (and ids no backend
    has): it cannot be rebuilt, and the log names the key. A blob length of
    2**64 - 1 (one more wraps to 0) or of 1 TiB, with 1000 bytes of blob."""
    assert BY_BACKEND["ONNX"].store(r, "m", blobs) == b"OK"
    r.config_set("rdbcompression", "no")            # (parse_dump reads plain strings)
    try:
        like = r.dump("m")
    finally:
        r.config_set("rdbcompression", "yes")
    # backend, device, tag, 3 batching values, inputs (count, names), outputs, then the blob
    values = parse_dump(like)[2]
    outputs_at = 7 + values[6]
    blob_at = outputs_at + 1 + values[outputs_at]
    for backend in (b for b in range(8) if b != values[0]):
        assert error_reply(r, "RESTORE", "x", 0, forge(like, [backend, *values[1:]])) \
            == BAD_FORMAT
    assert "cannot rebuild model x" in shared_server.log()
    assert r.restore("x", 0, forge(like, values)) == b"OK"          # the forging is right
    r.delete("x")
    for total in (2**64 - 1, 2**40):
        assert error_reply(r, "RESTORE", "x", 0, forge(like, [*values[:blob_at], total, 1,
                                                              b"A" * 1000])) == BAD_FORMAT
    assert not r.exists("x")
    assert_alive(shared_server)


# ================================================================ scripts

def scriptstore(r, body, key="s"):
    """A script whose entry point `f` runs `body`."""
    return r.execute_command("AI.SCRIPTSTORE", key, "CPU", "ENTRY_POINTS", 1, "f", "SOURCE",
                             f"def f{ENTRY}:\n{body}\n")


@pytest.mark.parametrize("body, expected", [
    ("    return (", "expected ident but found 'eof' here:"),
    ("    return nope(tensors[0])", "undefined value nope:"),
    ("    return f(tensors, keys, args)",
     "function 'f' is called recursively. Recursive calls are not supported"),
], ids=["syntax error", "undefined name", "recursion"])
def test_scripts_that_do_not_compile_are_refused(r, body, expected):
    """TorchScript compiles no recursion: a recursive script is refused at store."""
    with pytest.raises(ResponseError) as exc:
        scriptstore(r, body)
    assert expected in str(exc.value) and "\n" not in str(exc.value)
    assert not r.exists("s")


def test_a_script_that_raises_fails_its_request(r):
    assert scriptstore(r, "    raise ValueError('boom ' + args[0])") == b"OK"
    text = error_reply(r, "AI.SCRIPTEXECUTE", "s", "f", "KEYS", 1, "k", "ARGS", 1, "now",
                       "OUTPUTS", 1, "o")
    assert text.endswith("builtins.ValueError: boom now") and "\n" not in text
    assert not r.exists("o")
    assert (info(r, "s")["calls"], info(r, "s")["errors"]) == (1, 1)


# redis.execute: what Lua's redis.call may not run is refused, with Redis's
# wording for Lua (WAIT crashed the server, MULTI and BLPOP were run); the
# AI.* commands that block are refused as inside Lua.
NOT_ALLOWED = "ERR This Redis command is not allowed from script"
IN_TX = models.IN_TX


REFUSED_CALLS = [
    ("'BLPOP', keys[0], '0'", NOT_ALLOWED),
    ("'BLMOVE', keys[0], keys[0], 'LEFT', 'LEFT', '0'", NOT_ALLOWED),
    ("'WAIT', '1', '0'", NOT_ALLOWED),
    ("'MULTI'", NOT_ALLOWED),
    ("'SUBSCRIBE', keys[0]", NOT_ALLOWED),
    ("'CLIENT', 'PAUSE', '100'", NOT_ALLOWED),
    ("'SHUTDOWN', 'NOSAVE'", NOT_ALLOWED),
    ("'DEBUG', 'RELOAD'", NOT_ALLOWED),
    ("'EVAL', 'return 1', '0'", NOT_ALLOWED),
    ("'AI.MODELEXECUTE', 'm', 'INPUTS', '1', keys[0], 'OUTPUTS', '1', keys[0]", IN_TX),
    ("'AI.SCRIPTEXECUTE', 's', 'f', 'KEYS', '1', keys[0]", IN_TX),
    ("'AI.DAGEXECUTE', 'ROUTING', keys[0], '|>', 'AI.TENSORGET', keys[0], 'META'", IN_TX),
    ("'NOSUCHCOMMAND', keys[0]", "ERR Unknown Redis command called from script"),
    ("''", "ERR Unknown Redis command called from script"),
    ("'GET'", "Invalid argument"),                  # wrong arity (test_scripts: too many)
]


@pytest.mark.parametrize("call, expected", REFUSED_CALLS,
                         ids=[call.split(",")[0].strip("'") or "empty name"
                              for call, _ in REFUSED_CALLS])
def test_commands_a_script_may_not_call(r, shared_server, call, expected):
    assert scriptstore(r, f"    redis.execute({call})") == b"OK"
    text = error_reply(r, "AI.SCRIPTEXECUTE", "s", "f", "KEYS", 1, "k", "OUTPUTS", 0)
    assert text.endswith(f"Redis command returned an error: {expected}"), text
    assert not r.exists("k")
    assert_alive(shared_server)


def test_a_script_may_call_module_commands_that_do_not_block(r):
    assert scriptstore(r, "    redis.execute('AI.TENSORSET', keys[0], 'FLOAT', '2', 'VALUES', "
                          "'1', '2')\n    redis.execute('AI.SCRIPTDEL', keys[1])") == b"OK"
    assert scriptstore(r, "    pass", "other") == b"OK"
    assert execute(r, "s", "f", keys=["t", "other"]) == b"OK"
    assert r.execute_command("AI.TENSORGET", "t", "VALUES") == [b"1", b"2"]
    assert not r.exists("other")


def limit_address_space_above_now(server, spare):
    """Caps the server's virtual memory `spare` bytes above its current size:
    an allocation past it fails with ENOMEM instead of the whole machine
    going to the kernel's OOM killer (torch allocates outside maxmemory)."""
    size = next(int(line.split()[1]) * 1024 for line in open(f"/proc/{server.proc.pid}/status")
                if line.startswith("VmSize:"))
    resource.prlimit(server.proc.pid, resource.RLIMIT_AS, (size + spare, size + spare))


@pytest.mark.parametrize("body, args", [
    ("    return torch.zeros(int(args[0]), int(args[0]))", ["1000000"]),
    ("    grown: List[Tensor] = []\n    for i in range(int(args[0])):\n"
     "        grown.append(torch.ones(1000000))\n    return torch.stack(grown).sum(0)", ["100000"]),
], ids=["4 TB at once", "a list growing by 4 MB"])
def test_unbounded_allocation_fails_the_request_under_an_address_space_limit(server_factory, body,
                                                                             args):
    """torch's allocations are not Redis's, so maxmemory cannot stop them: what
    keeps a script from the OOM killer is a memory limit on the process
    (README "Hostile scripts"). Under one, the allocation fails the request."""
    server = server_factory()
    r = server.client()
    assert scriptstore(r, body) == b"OK"
    limit_address_space_above_now(server, 1 << 30)
    text = error_reply(r, "AI.SCRIPTEXECUTE", "s", "f", "KEYS", 1, "k", "ARGS", 1, *args,
                       "OUTPUTS", 1, "o")
    assert "DefaultCPUAllocator: can't allocate memory" in text, text
    assert not r.exists("o")
    assert execute(r, "s", "f", keys=["k"], args=["2"], outputs=["o"]) == b"OK"
    assert_alive(server)


def blocked_call(client, *argv):
    """The reply, or the error (a connection the server closed too)."""
    try:
        return client.execute_command(*argv)
    except (ResponseError, ConnectionError) as exc:
        return exc


def test_an_endless_script_holds_only_its_own_queue(server_factory, blobs):
    """A running TorchScript cannot be interrupted (neither by TIMEOUT nor by
    MODEL_EXECUTION_TIMEOUT, which stops ONNX runs only): its worker is lost.
    The main thread and the other queues go on; a request queued behind it
    is never taken, so its TIMEOUT (checked when a worker takes it) never
    fires; SHUTDOWN still exits at once, with status 0."""
    server = server_factory(module_args=["MODEL_EXECUTION_TIMEOUT", 1000])
    r = server.client()
    assert scriptstore(r, "    i = 0\n    while i >= 0:\n        i += 1\n    return tensors[0]") \
        == b"OK"
    assert BY_BACKEND["ONNX"].store(r, "m1", blobs, device="CPU:1") == b"OK"
    tensorset(r, "t", np.ones((2, 3), np.float32))
    with ThreadPoolExecutor(2) as pool:
        endless = pool.submit(blocked_call, server.client(), "AI.SCRIPTEXECUTE", "s", "f",
                              "INPUTS", 1, "t", "OUTPUTS", 1, "o")
        wait_blocked(r, 1)
        queued = pool.submit(blocked_call, server.client(), "AI.SCRIPTEXECUTE", "s", "f",
                             "INPUTS", 1, "t", "OUTPUTS", 1, "o", "TIMEOUT", 100)
        wait_blocked(r, 2)
        assert r.ping() and r.set("k", "v")
        BY_BACKEND["ONNX"].execute_and_compare(r, "m1", blobs, np.random.default_rng(3))
        time.sleep(1.5)                 # past TIMEOUT and MODEL_EXECUTION_TIMEOUT
        assert not endless.done() and not queued.done()
        assert r.info("clients")["blocked_clients"] == 2
        start = time.monotonic()
        server.stop()
        assert server.proc.returncode == 0 and time.monotonic() - start < 30
        assert all(isinstance(f.result(), ConnectionError) for f in (endless, queued))
    assert "crashed" not in server.log()


def test_other_workers_of_the_queue_go_on_behind_an_endless_script(server_factory):
    """With THREADS_PER_QUEUE 2 the endless script holds one worker; the
    other takes the requests queued after it."""
    server = server_factory(module_args=["THREADS_PER_QUEUE", 2])
    r = server.client()
    assert scriptstore(r, "    i = 0\n    while i >= 0:\n        i += 1\n    return tensors[0]") \
        == b"OK"
    assert scriptstore(r, "    return tensors[0] + 1", "plus") == b"OK"
    tensorset(r, "t", np.ones((2, 3), np.float32))
    with ThreadPoolExecutor(1) as pool:
        endless = pool.submit(blocked_call, server.client(), "AI.SCRIPTEXECUTE", "s", "f",
                              "INPUTS", 1, "t", "OUTPUTS", 1, "o")
        wait_blocked(r, 1)
        for _ in range(3):
            assert execute(r, "plus", "f", ["t"], ["o"], timeout=5000) == b"OK"
        assert not endless.done()
        server.stop()
        assert server.proc.returncode == 0
        assert isinstance(endless.result(), ConnectionError)
