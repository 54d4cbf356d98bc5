"""Auto-batching against spec/models-scripts.md ("Auto-batching", "Timeouts",
"Run statistics") and dag.md ("Execution"), with the README's deliberate
differences: requests merge only with the same stored model object, input
count, ranks, dims except dim 0 and dtypes; the total never exceeds
BATCHSIZE; MINBATCHSIZE is capped at BATCHSIZE; waits are event-driven.

Batches are made observable by probe models (tests/models.py) whose output n
repeats the batch's total dim 0 on each row, and made to form by queueing the
requests together behind a slow request (`together`). Every result is
compared with the request's own rows or with the framework run here."""
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pytest
from redis.exceptions import ResponseError

import models
from conftest import wait_until
from models import (CASES, NO_RUN_INFO, assert_alive, assert_results, info, modelexecute, outcome,
                    resp, store, tensorget, tensorset, wait_blocked)
from test_tensor import error_reply, wire_error

pytestmark = models.IGNORE_TORCH_JIT_DEPRECATION

SLOW_MS = 200               # far longer than the main thread takes to queue a few dozen requests
BATCH_SIZE_ERROR = "ERR Model did not generate the expected batch size"
TF_BATCH_SIZE_ERROR = ("ERR Tensorflow batching error: model did not generate the expected "
                       "batch size")


# ================================================================ helpers

@contextmanager
def writes_held(r):
    """CLIENT PAUSE WRITE: execution commands (write commands all) sent
    meanwhile are held back, each one a blocked client; CLIENT UNPAUSE runs
    them in the order they came, all in one pass of the main thread, before it
    answers."""
    assert r.execute_command("CLIENT", "PAUSE", 60000, "WRITE") == b"OK"
    try:
        yield
    finally:
        assert r.execute_command("CLIENT", "UNPAUSE") == b"OK"


def together(server, slow, requests, then=None):
    """Runs `requests` (functions of a client) from threads, each on its own
    connection, so that they reach the CPU queue together and in this order,
    behind a slow request that keeps the queue's worker busy until all are
    queued. `then()` runs once they are queued, before the batch starts.
    Returns their replies (ResponseErrors included)."""
    r = server.client()
    slow_inputs = slow.inputs(r, SLOW_MS)
    with ThreadPoolExecutor(len(requests) + 1) as pool:
        with writes_held(r):
            busy = pool.submit(modelexecute, server.client(), "slow", slow_inputs, ["slow_y"])
            wait_blocked(r, 1)
            futures = []
            for i, request in enumerate(requests):
                futures.append(pool.submit(outcome, request, server.client()))
                wait_blocked(r, i + 2)
        if then is not None:
            then()
        assert busy.result() == b"OK"
        return [f.result() for f in futures]


def probe(i, key="p", *extra):
    """A request of the probe at `key` on input in{i}, outputs y{i}, n{i}."""
    return lambda c: modelexecute(c, key, [f"in{i}"], [f"y{i}", f"n{i}"], *extra)


def seen_total(r, i, x):
    """Checks that request i got its own rows back; returns the batch total
    its rows of n report."""
    np.testing.assert_array_equal(tensorget(r, f"y{i}"), x)
    n = tensorget(r, f"n{i}")
    assert n.shape == (len(x),) and len(set(n.tolist())) == 1, n
    return int(n[0])


def rows(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((size, 3)).astype(np.float32) for size in sizes]


def batch_totals(server, slow, xs, key="p"):
    """Queues one probe request per input together; checks each got its own
    rows; returns the batch total each one saw."""
    r = server.client()
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    assert together(server, slow, [probe(i, key) for i in range(len(xs))]) == [b"OK"] * len(xs)
    return [seen_total(r, i, x) for i, x in enumerate(xs)]


def store_probe(r, blobs, *options, dtype="FLOAT", key="p"):
    assert store(r, key, "ONNX", blobs("onnx_batch_probe", dtype), *options) == b"OK"


# ================================================================ batches form

def test_requests_queued_together_run_as_one_batch(r, shared_server, blobs, slow):
    store_probe(r, blobs, "BATCHSIZE", 64)
    assert batch_totals(shared_server, slow, rows([1, 2, 3, 4])) == [10] * 4


def test_without_batchsize_each_request_runs_alone(r, shared_server, blobs, slow):
    store_probe(r, blobs)
    assert batch_totals(shared_server, slow, rows([1, 2, 3, 4])) == [1, 2, 3, 4]


def test_modelexecute_modelrun_and_dag_ops_batch_together(r, shared_server, blobs, slow):
    store_probe(r, blobs, "BATCHSIZE", 64)
    xs = rows([1, 2, 3, 4])
    for i, x in enumerate(xs[:3]):
        tensorset(r, f"in{i}", x)
    local = ("AI.TENSORSET", "in", "FLOAT", *xs[3].shape, "BLOB", xs[3].tobytes())
    requests = [
        probe(0),
        lambda c: c.execute_command("AI.MODELRUN", "p", "INPUTS", "in1", "OUTPUTS", "y1", "n1"),
        lambda c: c.execute_command("AI.DAGEXECUTE", "LOAD", 1, "in2", "PERSIST", 2, "y2", "n2",
                                    "|>", "AI.MODELEXECUTE", "p", "INPUTS", 1, "in2",
                                    "OUTPUTS", 2, "y2", "n2"),
        lambda c: c.execute_command("AI.DAGEXECUTE", "ROUTING", "p", "|>", *local,
                                    "|>", "AI.MODELEXECUTE", "p", "INPUTS", 1, "in",
                                    "OUTPUTS", 2, "y", "n",
                                    "|>", "AI.TENSORGET", "y", "BLOB",
                                    "|>", "AI.TENSORGET", "n", "VALUES")]
    replies = together(shared_server, slow, requests)
    assert replies[:3] == [b"OK", b"OK", [b"OK"]]
    assert replies[3] == [b"OK", b"OK", xs[3].tobytes(), [10] * 4]
    assert [seen_total(r, i, x) for i, x in enumerate(xs[:3])] == [10] * 3


def test_pipelined_requests_reach_the_worker_at_once(r, blobs):
    """A client's pipelined requests are read one at a time, each when the one
    before is answered (in Redis's pass over unblocked clients, which follows
    the modules' before-sleep event): each must still reach the worker at once,
    not at the event loop's next wake-up. With hz 1 that wake-up can be a
    second away: each request's TIMEOUT 300 catches one held back."""
    store_probe(r, blobs, "BATCHSIZE", 8)
    tensorset(r, "in0", rows([1])[0])
    hz = r.config_get("hz")["hz"]
    assert r.config_set("hz", 1)
    try:
        pipe = r.pipeline(transaction=False)
        for _ in range(10):
            probe(0, "p", "TIMEOUT", 300)(pipe)
        replies = pipe.execute(raise_on_error=False)
    finally:
        assert r.config_set("hz", hz)
    assert replies == [b"OK"] * 10


def test_a_dag_taken_into_a_batch_goes_on_with_its_next_op(r, shared_server, blobs, slow):
    """Two DAGs of two probe ops each: their first ops run as one batch, then
    their second ops too."""
    store_probe(r, blobs, "BATCHSIZE", 64)
    xs = rows([1, 2])
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)

    def chain(i):
        return lambda c: c.execute_command(
            "AI.DAGEXECUTE", "LOAD", 1, f"in{i}", "PERSIST", 3, f"first{i}", f"y{i}", f"n{i}",
            "|>", "AI.MODELEXECUTE", "p", "INPUTS", 1, f"in{i}", "OUTPUTS", 2, "x", f"first{i}",
            "|>", "AI.MODELEXECUTE", "p", "INPUTS", 1, "x", "OUTPUTS", 2, f"y{i}", f"n{i}")

    assert together(shared_server, slow, [chain(0), chain(1)]) == [[b"OK", b"OK"]] * 2
    for i, x in enumerate(xs):
        np.testing.assert_array_equal(tensorget(r, f"first{i}"), np.full(len(x), 3))
    assert [seen_total(r, i, x) for i, x in enumerate(xs)] == [3, 3]
    assert info(r, "p")["calls"] == 4


def test_two_workers_per_queue_never_mix_rows(server_factory, blobs):
    """Two workers collect batches and wait for MINBATCHSIZE at once: 32
    clients sending 5 requests each get the framework's outputs on their own
    rows."""
    server = server_factory(module_args=["THREADS_PER_QUEUE", 2])
    r = server.client()
    blob = blobs("onnx_mlp")
    assert store(r, "m", "ONNX", blob, "BATCHSIZE", 8, "MINBATCHSIZE", 4,
                 "MINBATCHTIMEOUT", 20) == b"OK"
    clients, rounds = 32, 5
    start = threading.Barrier(clients)

    def one_client(i):
        client = server.client()
        rng = np.random.default_rng(200 + i)
        start.wait()
        results = []
        for k in range(rounds):
            x, z = models.mlp_inputs(rng, 1 + (i + k) % 3)
            tensorset(client, f"x{i}", x)
            tensorset(client, f"z{i}", z)
            reply = modelexecute(client, "m", [f"x{i}", f"z{i}"], [f"y{i}", f"h{i}"])
            results.append((reply, (x, z), [tensorget(client, f"y{i}"),
                                            tensorget(client, f"h{i}")]))
        return results

    with ThreadPoolExecutor(clients) as pool:
        for results in pool.map(one_client, range(clients)):
            for reply, inputs, outputs in results:
                assert reply == b"OK"
                assert_results(outputs, models.onnx_run(blob, *inputs))
    stats = info(r, "m")
    assert (stats["calls"], stats["errors"]) == (clients * rounds, 0)


def test_a_request_of_batchsize_or_more_runs_alone(r, shared_server, blobs, slow):
    store_probe(r, blobs, "BATCHSIZE", 4)
    assert batch_totals(shared_server, slow, rows([1, 4, 5, 1])) == [2, 4, 5, 2]


@pytest.mark.parametrize("sizes, totals", [([3, 2, 2], [3, 4, 4]),
                                           ([1, 1, 1, 1, 1], [4, 4, 4, 4, 1])])
def test_the_total_never_exceeds_batchsize(r, shared_server, blobs, slow, sizes, totals):
    """A request that would push the total over BATCHSIZE waits for the next batch."""
    store_probe(r, blobs, "BATCHSIZE", 4)
    assert batch_totals(shared_server, slow, rows(sizes)) == totals


@pytest.mark.parametrize("batchsize, sizes, offsets", [(64, [1, 2, 3], [0, 1, 3]),
                                                       (4, [3, 2, 1, 2], [0, 0, 3, 2])])
def test_inputs_are_joined_in_queue_order(r, shared_server, blobs, slow, batchsize, sizes,
                                          offsets):
    """Each request finds where its rows were in its batch (BATCHSIZE 4: 3 + 1,
    then 2 + 2: a request that would exceed it waits for the next batch)."""
    assert store(r, "rows", "ONNX", blobs("onnx_row_index"), "BATCHSIZE", batchsize) == b"OK"
    for i, x in enumerate(rows(sizes)):
        tensorset(r, f"in{i}", x)
    replies = together(shared_server, slow, [
        lambda c, i=i: modelexecute(c, "rows", [f"in{i}"], [f"at{i}"]) for i in range(len(sizes))])
    assert replies == [b"OK"] * len(sizes)
    for i, (size, offset) in enumerate(zip(sizes, offsets)):
        np.testing.assert_array_equal(tensorget(r, f"at{i}"), np.arange(offset, offset + size))


def test_inputs_of_other_shapes_or_dtypes_never_merge(r, shared_server, blobs, slow):
    """Only same ranks, dims but dim 0 and dtypes merge; a request whose inputs
    disagree on dim 0, or with a 0-dim input, runs alone."""
    assert store(r, "t", "TORCH", blobs("torch_batch_probe"), "BATCHSIZE", 64) == b"OK"
    f32, f64, i32 = np.float32, np.float64, np.int32
    requests = [                # (a's shape and dtype, b's), batch total
        (((1, 3), f32), ((1, 2), f32), 6),
        (((1, 4), f32), ((1, 2), f32), 1),          # another dim 1
        (((2, 3), f64), ((2, 2), f64), 2),          # another dtype
        (((2, 3), f32), ((2, 2), f32), 6),
        (((1, 3, 1), f32), ((1, 2), f32), 1),       # another rank
        (((2, 3), f32), ((1, 2), f32), 2),          # dim 0 disagrees: alone
        (((), f32), ((1, 2), f32), 0),              # a 0-dim input: alone
        (((1, 3), f32), ((1, 2), i32), 1),          # another dtype of b
        (((3, 3), f32), ((3, 2), f32), 6)]
    rng = np.random.default_rng(5)
    inputs = []
    for i, (a, b, _) in enumerate(requests):
        arrays = [rng.standard_normal(shape).astype(dtype) for shape, dtype in (a, b)]
        for name, array in zip("ab", arrays):
            tensorset(r, f"{name}{i}", array)
        inputs.append(arrays)
    replies = together(shared_server, slow, [
        lambda c, i=i: modelexecute(c, "t", [f"a{i}", f"b{i}"], [f"y{i}", f"z{i}", f"n{i}"])
        for i in range(len(requests))])
    assert replies == [b"OK"] * len(requests)
    for i, ((a, b, total), arrays) in enumerate(zip(requests, inputs)):
        np.testing.assert_array_equal(tensorget(r, f"y{i}"), arrays[0])
        np.testing.assert_array_equal(tensorget(r, f"z{i}"), arrays[1])
        np.testing.assert_array_equal(tensorget(r, f"n{i}"), np.full(a[0][:1], total))


def test_requests_timed_out_in_the_queue_leave_their_batch(r, shared_server, blobs, slow):
    """Requests 0 and 2 expire behind the slow request: TIMEDOUT, not counted;
    1 and 3 run as one batch of their own rows."""
    store_probe(r, blobs, "BATCHSIZE", 64)
    xs = rows([2, 1, 2, 3])
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    replies = together(shared_server, slow, [probe(0, "p", "TIMEOUT", 1), probe(1),
                                             probe(2, "p", "TIMEOUT", 1), probe(3)])
    assert replies == [b"TIMEDOUT", b"OK", b"TIMEDOUT", b"OK"]
    assert [seen_total(r, i, xs[i]) for i in (1, 3)] == [4, 4]
    assert not r.exists("y0", "n0", "y2", "n2")
    stats = info(r, "p")
    assert (stats["calls"], stats["samples"]) == (2, 4)


def test_string_tensors_batch_through_onnx(r, shared_server, blobs, slow):
    store_probe(r, blobs, "BATCHSIZE", 64, dtype="STRING")
    words = [b"", b"a", b"batch", b"of", b"strings", b"\xc3\xa9t\xc3\xa9", b"x" * 300]
    xs = [np.array([[words[(i + j) % len(words)] for j in range(2)] * size], dtype=object)
          .reshape(size, 2) for i, size in enumerate([1, 2, 3])]
    assert batch_totals(shared_server, slow, xs) == [6] * 3


@pytest.mark.parametrize("name", ["onnx", "torch", "tf", "tflite"])
def test_every_client_gets_its_own_rows(r, shared_server, blobs, slow, name):
    """64 clients with inputs of 1-3 rows queued together make several
    batches of up to 16 rows; each client's outputs are the framework's on its
    own rows."""
    case = CASES[name]
    assert case.store(r, "m", blobs, "BATCHSIZE", 16) == b"OK"
    n_out = len(case.names(case.blob(blobs))[1])
    clients = 64
    inputs = [case.inputs(np.random.default_rng(100 + i), 1 + i % 3) for i in range(clients)]
    for i, arrays in enumerate(inputs):
        for k, array in enumerate(arrays):
            tensorset(r, f"in{i}:{k}", array)
    replies = together(shared_server, slow, [
        lambda c, i=i: modelexecute(c, "m", [f"in{i}:{k}" for k in range(len(inputs[i]))],
                                    [f"out{i}:{k}" for k in range(n_out)])
        for i in range(clients)])
    assert replies == [b"OK"] * clients
    for i, arrays in enumerate(inputs):
        actual = [tensorget(r, f"out{i}:{k}") for k in range(n_out)]
        assert_results(actual, case.run(case.blob(blobs), arrays))
    stats = info(r, "m")
    assert (stats["calls"], stats["errors"]) == (clients, 0)
    assert stats["samples"] == sum(len(arrays[0]) for arrays in inputs)


# ================================================================ outputs and errors

MODELS_OF_ANOTHER_BATCH_SIZE = {
    "ONNX": (("ONNX", "onnx_column_sums"), (), BATCH_SIZE_ERROR),
    "ONNX 0-dim": (("ONNX", "onnx_total"), (), BATCH_SIZE_ERROR),    # only TF skips 0-dim
    "TF": (("TF", "tf_sums"), ("INPUTS", 1, "a", "OUTPUTS", 1, "column_sums"),
           TF_BATCH_SIZE_ERROR)}


@pytest.mark.parametrize("backend", MODELS_OF_ANOTHER_BATCH_SIZE)
def test_a_model_returning_another_batch_size_fails_the_whole_batch(r, shared_server, blobs,
                                                                     slow, backend):
    (name, builder), io, error = MODELS_OF_ANOTHER_BATCH_SIZE[backend]
    assert store(r, "s", name, blobs(builder), "BATCHSIZE", 8, *io) == b"OK"
    for i, x in enumerate(rows([1, 2])):
        tensorset(r, f"in{i}", x)
    replies = together(shared_server, slow, [
        lambda c, i=i: modelexecute(c, "s", [f"in{i}"], [f"out{i}"]) for i in range(2)])
    assert [wire_error(reply) for reply in replies] == [error] * 2
    assert not r.exists("out0", "out1")
    stats = info(r, "s")
    assert (stats["calls"], stats["errors"], stats["samples"]) == (2, 2, 0)


def test_a_backend_error_fails_every_request_of_the_batch(r, shared_server, blobs, slow):
    """A model that takes exactly one row runs each request alone, and fails
    a batch of three: all three get the backend's message."""
    assert store(r, "one", "ONNX", blobs("onnx_identity", "FLOAT", (1, 3)), "BATCHSIZE", 4) == b"OK"
    xs = rows([1, 1, 1])
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    assert modelexecute(r, "one", ["in0"], ["alone"]) == b"OK"
    np.testing.assert_array_equal(tensorget(r, "alone"), xs[0])
    assert r.execute_command("AI.INFO", "one", "RESETSTAT") == b"OK"
    replies = together(shared_server, slow, [
        lambda c, i=i: modelexecute(c, "one", [f"in{i}"], [f"out{i}"]) for i in range(3)])
    assert all(isinstance(reply, ResponseError) for reply in replies), replies
    assert len({wire_error(reply) for reply in replies}) == 1
    assert wire_error(replies[0]) != BATCH_SIZE_ERROR
    stats = info(r, "one")
    assert (stats["calls"], stats["errors"]) == (3, 3)


def test_tf_0_dim_outputs_go_whole_to_every_request(r, shared_server, blobs, slow):
    assert store(r, "s", "TF", blobs("tf_sums"), "BATCHSIZE", 8,
                 "INPUTS", 1, "a", "OUTPUTS", 2, "copy", "total") == b"OK"
    xs = rows([1, 2, 3])
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    replies = together(shared_server, slow, [
        lambda c, i=i: modelexecute(c, "s", [f"in{i}"], [f"copy{i}", f"total{i}"])
        for i in range(3)])
    assert replies == [b"OK"] * 3
    (total,) = models.tf_run(blobs("tf_sums"), ["a"], ["total"], np.concatenate(xs))
    for i, x in enumerate(xs):
        np.testing.assert_array_equal(tensorget(r, f"copy{i}"), x)
        assert_results([tensorget(r, f"total{i}")], [total])


def test_batch_statistics(r, shared_server, blobs, slow):
    """Each request counts one call, its own samples and the whole batch's
    duration: five requests of one batch add five equal durations."""
    store_probe(r, blobs, "BATCHSIZE", 64)
    assert batch_totals(shared_server, slow, rows([1, 2, 3, 4, 5])) == [15] * 5
    stats = info(r, "p")
    assert (stats["calls"], stats["errors"], stats["samples"]) == (5, 0, 15)
    assert stats["duration"] > 0 and stats["duration"] % 5 == 0


# ================================================================ MINBATCHSIZE

def send(pool, r, server, request, blocked):
    """Submits one request from its own connection; returns once it is queued
    (`blocked` clients in all) or answered."""
    future = pool.submit(outcome, request, server.client())
    wait_until(lambda: future.done() or r.info("clients")["blocked_clients"] >= blocked,
               f"{blocked} blocked clients", interval=0.01)
    return future


def test_minbatchsize_holds_the_batch_until_enough_requests_arrive(r, shared_server, blobs, mlp):
    """The waiting requests do not hold the queue: another model runs and
    another model is built on it meanwhile."""
    store_probe(r, blobs, "BATCHSIZE", 8, "MINBATCHSIZE", 3)
    xs = rows([1, 1, 1])
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    with ThreadPoolExecutor(3) as pool:
        waiting = [send(pool, r, shared_server, probe(i), i + 1) for i in range(2)]
        assert modelexecute(r, "m", ["x", "z"], ["y", "h"]) == b"OK"
        assert store(r, "m2", "ONNX", blobs("onnx_mlp")) == b"OK"
        assert r.info("clients")["blocked_clients"] == 2
        assert not any(f.done() for f in waiting)
        last = send(pool, r, shared_server, probe(2), 3)
        assert [f.result() for f in waiting + [last]] == [b"OK"] * 3
    assert [seen_total(r, i, x) for i, x in enumerate(xs)] == [3] * 3


def test_minbatchtimeout_runs_the_batch_it_has(r, shared_server, blobs):
    store_probe(r, blobs, "BATCHSIZE", 8, "MINBATCHSIZE", 4, "MINBATCHTIMEOUT", 500)
    xs = rows([1, 2])
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    start = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        futures = [send(pool, r, shared_server, probe(i), i + 1) for i in range(2)]
        assert [f.result() for f in futures] == [b"OK"] * 2
    # Not a speed bound: the batch must not run before MINBATCHTIMEOUT (ms
    # granularity) has passed since the first request was queued.
    assert time.monotonic() - start > 0.49
    assert [seen_total(r, i, x) for i, x in enumerate(xs)] == [3] * 2


def test_minbatchsize_is_capped_at_batchsize(r, shared_server, blobs):
    """MINBATCHSIZE 5 > BATCHSIZE 2 waits for 2 rows only (a TIMEOUT ends the
    test rather than an indefinite wait)."""
    store_probe(r, blobs, "BATCHSIZE", 2, "MINBATCHSIZE", 5)
    xs = rows([1, 1, 2, 3])
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    with ThreadPoolExecutor(2) as pool:
        futures = [send(pool, r, shared_server, probe(i, "p", "TIMEOUT", 20000), i + 1)
                   for i in range(2)]
        assert [f.result() for f in futures] == [b"OK"] * 2
    for i in (2, 3):                # batch size >= BATCHSIZE: runs alone, at once
        assert probe(i, "p", "TIMEOUT", 20000)(r) == b"OK"
    assert [seen_total(r, i, x) for i, x in enumerate(xs)] == [2, 2, 2, 3]


def test_timeout_while_waiting_for_minbatchsize(r, shared_server, blobs):
    """A request whose TIMEOUT expires while its batch waits replies TIMEDOUT
    and leaves the batch: the others' total does not count its 2 rows."""
    store_probe(r, blobs, "BATCHSIZE", 8, "MINBATCHSIZE", 4)
    xs = rows([1, 2, 1, 3])         # request 1 times out
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    with ThreadPoolExecutor(3) as pool:
        first = send(pool, r, shared_server, probe(0, "p", "TIMEOUT", 20000), 1)
        assert probe(1, "p", "TIMEOUT", 100)(r) == b"TIMEDOUT"
        assert not first.done()
        rest = [send(pool, r, shared_server, probe(i, "p", "TIMEOUT", 20000), i) for i in (2, 3)]
        assert [f.result() for f in [first] + rest] == [b"OK"] * 3
    assert not r.exists("y1", "n1")
    assert [seen_total(r, i, xs[i]) for i in (0, 2, 3)] == [5] * 3
    stats = info(r, "p")
    assert (stats["calls"], stats["samples"]) == (3, 5)


def test_a_dag_failing_on_another_device_stops_its_waiting_op(r, shared_server, blobs):
    """The DAG's CPU op waits for MINBATCHSIZE rows that never come; its op on
    CPU:1 fails: the DAG answers at once, the waiting op not executed."""
    store_probe(r, blobs, "BATCHSIZE", 8, "MINBATCHSIZE", 3)
    assert store(r, "q", "ONNX", blobs("onnx_batch_probe", "FLOAT"), device="CPU:1") == b"OK"
    tensorset(r, "in0", rows([1])[0])
    tensorset(r, "ints", np.ones((1, 3), np.int32))          # not the FLOAT q takes
    reply = r.execute_command(
        "AI.DAGEXECUTE", "LOAD", 2, "in0", "ints", "TIMEOUT", 20000,
        "|>", "AI.MODELEXECUTE", "p", "INPUTS", 1, "in0", "OUTPUTS", 2, "y", "n",
        "|>", "AI.MODELEXECUTE", "q", "INPUTS", 1, "ints", "OUTPUTS", 2, "qy", "qn")
    assert reply[0] == b"NA" and isinstance(reply[1], ResponseError), reply
    assert info(r, "p")["calls"] == 0


ACTIONS = {
    "MODELDEL": lambda r, blobs: r.execute_command("AI.MODELDEL", "p"),
    "FLUSHALL": lambda r, blobs: r.flushall(),
    "overwrite": lambda r, blobs: store_probe(r, blobs, "BATCHSIZE", 8),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_changes_while_requests_wait_in_a_batch(r, shared_server, blobs, action):
    """Waiting requests run on the model object they were queued for, after
    MINBATCHTIMEOUT; a request for the model now at the key never joins them."""
    store_probe(r, blobs, "BATCHSIZE", 8, "MINBATCHSIZE", 4, "MINBATCHTIMEOUT", 500)
    xs = rows([1, 2, 1])
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    with ThreadPoolExecutor(2) as pool:
        waiting = [send(pool, r, shared_server, probe(i), i + 1) for i in range(2)]
        ACTIONS[action](r, blobs)
        if action == "overwrite":
            assert probe(2)(r) == b"OK"
            assert seen_total(r, 2, xs[2]) == 1
        assert [f.result() for f in waiting] == [b"OK"] * 2
    assert [seen_total(r, i, x) for i, x in enumerate(xs[:2])] == [3] * 2
    assert_alive(shared_server)
    if action == "overwrite":           # the old model's statistics went with it
        assert info(r, "p")["calls"] == 1
    else:
        wait_until(lambda: isinstance(outcome(info, r, "p"), ResponseError), "stats released", 10)
        assert error_reply(r, "AI.INFO", "p") == NO_RUN_INFO


def test_a_disconnected_clients_batch_mates_get_their_rows(r, shared_server, blobs, slow):
    """Requests 0 and 2 are sent from sockets closed once they are queued,
    before their batch runs."""
    store_probe(r, blobs, "BATCHSIZE", 64)
    xs = rows([1, 2, 3, 4])
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    sockets = []

    def abandoned(i):
        def send_only(client):
            sockets.append(socket.create_connection(("127.0.0.1", shared_server.port)))
            sockets[-1].sendall(resp("AI.MODELEXECUTE", "p", "INPUTS", 1, f"in{i}",
                                     "OUTPUTS", 2, f"y{i}", f"n{i}"))
        return send_only

    def disconnect():
        for sock in sockets:
            sock.close()

    replies = together(shared_server, slow, [abandoned(0), probe(1), abandoned(2), probe(3)],
                       then=disconnect)
    assert replies[1::2] == [b"OK", b"OK"]
    totals = [seen_total(r, i, xs[i]) for i in (1, 3)]
    # Whether abandoned requests still run is not specified; their mates' rows are.
    assert totals in ([10, 10], [6, 6])
    assert_alive(shared_server)


def test_a_client_that_disconnects_while_its_batch_waits(r, shared_server, blobs):
    store_probe(r, blobs, "BATCHSIZE", 8, "MINBATCHSIZE", 3, "MINBATCHTIMEOUT", 500)
    xs = rows([1, 1, 1])
    for i, x in enumerate(xs):
        tensorset(r, f"in{i}", x)
    with socket.create_connection(("127.0.0.1", shared_server.port)) as sock:
        sock.sendall(resp("AI.MODELEXECUTE", "p", "INPUTS", 1, "in0", "OUTPUTS", 2, "y0", "n0"))
        wait_blocked(r, 1)
    wait_until(lambda: r.info("clients")["blocked_clients"] == 0, "the client gone")
    with ThreadPoolExecutor(2) as pool:
        futures = [send(pool, r, shared_server, probe(i), i) for i in (1, 2)]
        assert [f.result() for f in futures] == [b"OK"] * 2
    totals = [seen_total(r, i, xs[i]) for i in (1, 2)]
    # Whether the abandoned request still runs is not specified; its mates' rows are.
    assert totals in ([3, 3], [2, 2])
    assert_alive(shared_server)
