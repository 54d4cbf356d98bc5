# cython: language_level=3, boundscheck=False, wraparound=False
# Worker threads (the GIL only inside bridge.run_op / run_batch). A part runs
# its device's ops in DAG order; a part whose next op needs another device's
# output parks until that output exists. A model op of a model stored with
# BATCHSIZE takes like requests off its queue and runs with them as one call
# (auto-batching, spec models-scripts.md), or waits for them when MINBATCHSIZE
# asks for more.
from libc.stdint cimport uint32_t, int64_t
from libc.limits cimport LLONG_MAX

from redisai.rm cimport RedisModule_Alloc, RedisModule_Realloc, RedisModule_Free, \
    RedisModule_Milliseconds, RedisModule_UnblockClient
from redisai.errors cimport E_NON_TENSOR_OUTPUT, E_NO_MEMORY, error_message
from redisai.tensor cimport Tensor, tensor_dims, tensor_concat, tensor_release
from redisai.model cimport Model, Op, OP_MODEL, OP_DONE, OP_FAILED, stats_add
from redisai.queue cimport (Job, RunQueue, queue_push_front, queue_take, queue_defer, queue_wake,
                            PICK_SKIP, PICK_TAKE, PICK_STOP)
from redisai.dag cimport Dag, Part, RUNNING, STOP_FAILED, STOP_TIMEDOUT
from redisai.bridge cimport run_op, run_batch
from redisai.clock cimport now_ns
from redisai.pthread cimport pthread_mutex_lock, pthread_mutex_unlock

cdef extern from "atomics.h" nogil:
    void *rai_load_ptr(void *const *p)
    int rai_decref(int *rc)
    int rai_load_int(const int *p)
    bint rai_set_once(int *p, int value)


cdef void unblock_dag(void *arg) noexcept nogil:
    cdef Dag *dag = (<Part *>arg).dag
    if dag.on_finish != NULL:
        dag.on_finish(dag, dag.on_finish_data)
    else:
        RedisModule_UnblockClient(dag.call.bc, dag)


cdef inline Op *current_op(Part *part) noexcept nogil:
    return &part.dag.ops[part.ops[part.next]]


cdef inline Tensor *slot(Dag *dag, int i) noexcept nogil:
    # Another device's part may fill it meanwhile (from NULL, once).
    return <Tensor *>rai_load_ptr(<void **>&dag.slots[i])


cdef bint inputs_ready(Dag *dag, Op *op) noexcept nogil:
    cdef uint32_t i
    for i in range(op.ninputs):
        if slot(dag, op.in_slots[i]) == NULL:
            return False
    return True


cdef void wake_parked(Dag *dag) noexcept nogil:
    """Requeues parts that wait for an output (dag.lock held): first in their
    queue, as they are already under way."""
    cdef int i
    for i in range(dag.nparts):
        if dag.parts[i].parked:
            dag.parts[i].parked = False
            queue_push_front(dag.parts[i].queue, &dag.parts[i].job)


cdef void stop_dag(Dag *dag, int reason) noexcept nogil:
    """The first stop wins; parts parked or waiting for a batch then run to
    their end at once."""
    cdef int i
    if rai_set_once(&dag.stop, reason) and dag.nparts > 1:
        pthread_mutex_lock(&dag.lock)
        wake_parked(dag)
        for i in range(dag.nparts):
            queue_wake(dag.parts[i].queue, &dag.parts[i].job)
        pthread_mutex_unlock(&dag.lock)


cdef long long first_dim(Op *op) noexcept nogil:
    if op.noutputs == 0 or op.outputs[0] == NULL or op.outputs[0].ndims == 0:
        return 0
    return tensor_dims(op.outputs[0])[0]


cdef void bind_inputs(Dag *dag, Op *op) noexcept nogil:
    cdef uint32_t i
    for i in range(op.ninputs):
        op.inputs[i] = dag.slots[op.in_slots[i]]


cdef void finish_op(Dag *dag, Op *op) noexcept nogil:
    """Records a run op: statistics, and its outputs into their slots."""
    cdef uint32_t i
    if op.error == NULL and not dag.single:
        for i in range(op.noutputs):
            if op.outputs[i] == NULL:      # e.g. an ONNX sequence or map
                op.error = error_message(E_NON_TENSOR_OUTPUT, NULL)
                break
    stats_add(op.model, op.duration_us, first_dim(op) if op.kind == OP_MODEL else 0,
              op.error != NULL)
    if op.error != NULL:
        op.state = OP_FAILED
        return
    if dag.nparts > 1:
        pthread_mutex_lock(&dag.lock)
    for i in range(op.noutputs):
        dag.slots[op.out_slots[i]] = op.outputs[i]
        op.outputs[i] = NULL
    op.state = OP_DONE
    if dag.nparts > 1:
        wake_parked(dag)
        pthread_mutex_unlock(&dag.lock)


cdef void run_one(Dag *dag, Op *op) noexcept nogil:
    bind_inputs(dag, op)
    run_op(op, &dag.call)
    finish_op(dag, op)


cdef bint park_unless_ready(Dag *dag, Part *part, Op *op) noexcept nogil:
    """True if the part parked itself (another device's output is missing);
    the part must then not be touched: a waking part may already run it."""
    if dag.nparts == 1:
        return False
    pthread_mutex_lock(&dag.lock)
    # Stops are checked under the lock too: a stop wakes parked parts under it.
    part.parked = rai_load_int(&dag.stop) == RUNNING and not inputs_ready(dag, op)
    cdef bint parked = part.parked
    pthread_mutex_unlock(&dag.lock)
    return parked


cdef bint run_part(void *arg) noexcept nogil:
    """True (hand back) only for the part that finished last."""
    cdef Part *part = <Part *>arg
    cdef Dag *dag = part.dag
    cdef Op *op
    while part.next < part.nops and rai_load_int(&dag.stop) == RUNNING:
        if dag.deadline and RedisModule_Milliseconds() > dag.deadline:
            stop_dag(dag, STOP_TIMEDOUT)
            break
        op = current_op(part)
        if park_unless_ready(dag, part, op):
            return False
        if rai_load_int(&dag.stop) != RUNNING:
            break
        if op.kind == OP_MODEL and op.model.batchsize > 0:
            if run_batchable(part, op):
                return False                # waiting in the queue for a bigger batch
        else:
            run_one(dag, op)
        if op.state == OP_FAILED:
            stop_dag(dag, STOP_FAILED)
            break
        part.next += 1
    return rai_decref(&dag.unfinished) == 0


# ---------------------------------------------------------------- auto-batching

ctypedef struct Batch:
    Op *head                        # the op whose worker collects the batch
    int64_t total                   # rows collected, the head's included
    int64_t limit                   # BATCHSIZE
    long long now_ms                # requests past their deadline are left to time out
    int n                           # parts taken off the queue
    int capacity
    Part **parts


cdef int64_t request_rows(Op *op, Dag *dag, Op *like) noexcept nogil:
    """A request's batch size: dim 0 of its inputs if they all agree (0
    otherwise, or if an input is missing or has no dims). Its inputs are
    op.inputs, or with `dag` its slots. With `like`, also 0 unless every
    input has like's dtype, rank and dims but the first."""
    cdef int64_t rows = -1
    cdef uint32_t i, d
    cdef Tensor *t
    if op.ninputs == 0 or (like != NULL and like.ninputs != op.ninputs):
        return 0
    for i in range(op.ninputs):
        t = op.inputs[i] if dag == NULL else slot(dag, op.in_slots[i])
        if t == NULL or t.ndims == 0:
            return 0
        if like != NULL:
            if t.dtype != like.inputs[i].dtype or t.ndims != like.inputs[i].ndims:
                return 0
            for d in range(1, t.ndims):
                if tensor_dims(t)[d] != tensor_dims(like.inputs[i])[d]:
                    return 0
        if rows < 0:
            rows = tensor_dims(t)[0]
        elif rows != tensor_dims(t)[0]:
            return 0
    return rows


cdef int pick_alike(void *arg, Job *job) noexcept nogil:
    """queue_take's picker (queue lock held): requests whose current op is
    ready and runs the head's model on inputs that join the head's."""
    cdef Batch *b = <Batch *>arg
    if job.run != run_part:
        return PICK_SKIP
    cdef Part *part = <Part *>job.arg
    cdef Dag *dag = part.dag
    if (part.next >= part.nops or rai_load_int(&dag.stop) != RUNNING or
            (dag.deadline and b.now_ms > dag.deadline)):
        return PICK_SKIP
    cdef Op *op = current_op(part)
    if op.model != b.head.model or op.kind != OP_MODEL:
        return PICK_SKIP
    cdef int64_t rows = request_rows(op, dag, b.head)
    if rows == 0 or b.total + rows > b.limit:
        return PICK_SKIP
    if b.n == b.capacity:
        b.capacity *= 2
        b.parts = <Part **>RedisModule_Realloc(b.parts, b.capacity * sizeof(Part *))
    b.parts[b.n] = part
    b.n += 1
    b.total += rows
    return PICK_TAKE | PICK_STOP if b.total >= b.limit else PICK_TAKE


cdef long long wait_until_ns(Dag *dag, Model *m, long long now, long long now_ms) noexcept nogil:
    """When a request waiting for a bigger batch must be looked at again: its
    deadline, or when its MINBATCHTIMEOUT expires."""
    cdef long long until = LLONG_MAX
    if m.minbatchtimeout > 0:
        until = dag.queued_ns + <long long>m.minbatchtimeout * 1000000
    if dag.deadline and now + (dag.deadline - now_ms + 1) * 1000000 < until:
        until = now + (dag.deadline - now_ms + 1) * 1000000
    return until


cdef void defer_batch(Part *head, Batch *b) noexcept nogil:
    """Puts the collected requests back at the end of the queue to wait for
    more (or for their timeouts)."""
    cdef long long now = now_ns()
    cdef long long until
    cdef Part *part
    cdef Job *job
    cdef int i
    for i in range(b.n + 1):
        part = head if i == 0 else b.parts[i - 1]
        job = &part.job
        until = wait_until_ns(part.dag, current_op(part).model, now, b.now_ms)
        if part.dag.nparts == 1:
            queue_defer(part.queue, &job, &until, 1)
            continue
        # Under the DAG's lock: a stop either sees it waiting (and wakes it)
        # or is seen here.
        pthread_mutex_lock(&part.dag.lock)
        if rai_load_int(&part.dag.stop) == RUNNING:
            queue_defer(part.queue, &job, &until, 1)
        else:
            queue_push_front(part.queue, &part.job)
        pthread_mutex_unlock(&part.dag.lock)


cdef void run_joined(Op **ops, int n) noexcept nogil:
    """One backend call for n requests: inputs joined along dim 0 (their
    only copy), each op getting its own rows of every output."""
    cdef Op *head = ops[0]
    cdef Tensor **joined = <Tensor **>RedisModule_Alloc(
        (head.ninputs + 1) * sizeof(Tensor *) + n * sizeof(Tensor *))
    cdef Tensor **column = joined + head.ninputs + 1
    cdef uint32_t i
    cdef int j
    cdef bint ok = True
    for i in range(head.ninputs):
        for j in range(n):
            column[j] = ops[j].inputs[i]
        joined[i] = tensor_concat(column, n) if ok else NULL
        ok = joined[i] != NULL
    if ok:
        run_batch(ops, n, joined)
    else:
        for j in range(n):
            ops[j].error = error_message(E_NO_MEMORY, NULL)
    for i in range(head.ninputs):
        tensor_release(joined[i])
    RedisModule_Free(joined)


cdef void complete_taken(Part *part, Op *op) noexcept nogil:
    """A request that ran in another's batch goes on with its next op, or
    is handed back if it was its last part to finish."""
    cdef Dag *dag = part.dag
    if op.state == OP_FAILED:
        stop_dag(dag, STOP_FAILED)
    else:
        part.next += 1
    if part.next < part.nops and rai_load_int(&dag.stop) == RUNNING:
        queue_push_front(part.queue, &part.job)
    elif rai_decref(&dag.unfinished) == 0:
        part.job.done(part.job.arg)


cdef bint run_batchable(Part *part, Op *op) noexcept nogil:
    """Runs `op` (of a model with BATCHSIZE) with like requests taken off the
    queue. True if they were all put back to wait for more."""
    cdef Dag *dag = part.dag
    cdef Model *m = op.model
    bind_inputs(dag, op)
    cdef Batch b
    b.head = op
    b.total = request_rows(op, NULL, NULL)
    b.limit = <int64_t>m.batchsize
    if b.total == 0 or b.total >= b.limit:
        run_one(dag, op)
        return False
    b.now_ms = RedisModule_Milliseconds()
    b.n = 0
    b.capacity = 16
    b.parts = <Part **>RedisModule_Alloc(b.capacity * sizeof(Part *))
    queue_take(part.queue, pick_alike, &b)
    # MINBATCHSIZE above BATCHSIZE could never be met: capped.
    cdef int64_t minimum = <int64_t>(m.minbatchsize if m.minbatchsize < m.batchsize else m.batchsize)
    if b.total < minimum and not (m.minbatchtimeout > 0 and
                                  now_ns() - dag.queued_ns >= <long long>m.minbatchtimeout * 1000000):
        defer_batch(part, &b)
        RedisModule_Free(b.parts)
        return True
    cdef Op **ops = <Op **>RedisModule_Alloc((b.n + 1) * sizeof(Op *))
    cdef int j
    ops[0] = op
    for j in range(b.n):
        ops[j + 1] = current_op(b.parts[j])
        bind_inputs(b.parts[j].dag, ops[j + 1])
    if b.n == 0:
        run_op(op, &dag.call)
    else:
        run_joined(ops, b.n + 1)
        part.job.alike = NULL       # handed back now, like its batch-mates (queue.pyx)
    finish_op(dag, op)
    for j in range(b.n):
        finish_op(b.parts[j].dag, ops[j + 1])
        complete_taken(b.parts[j], ops[j + 1])
    RedisModule_Free(ops)
    RedisModule_Free(b.parts)
    return False


# ---------------------------------------------------------------- in the calling thread

cdef void run_now(Dag **dags, int n) noexcept nogil:
    """The low-level API's synchronous runs: the one op of each request,
    joined into one backend call when they are model runs of one model on
    inputs that join (as auto-batching would), else one after the other."""
    cdef Op *head = &dags[0].ops[0]
    cdef int j
    for j in range(n):
        bind_inputs(dags[j], &dags[j].ops[0])
    cdef bint join = n > 1 and head.kind == OP_MODEL and request_rows(head, NULL, NULL) > 0
    for j in range(1, n):
        join = join and dags[j].ops[0].model == head.model and \
            request_rows(&dags[j].ops[0], NULL, head) > 0
    if not join:
        for j in range(n):
            run_op(&dags[j].ops[0], &dags[j].call)
            finish_op(dags[j], &dags[j].ops[0])
        return
    cdef Op **ops = <Op **>RedisModule_Alloc(n * sizeof(Op *))
    for j in range(n):
        ops[j] = &dags[j].ops[0]
    run_joined(ops, n)
    for j in range(n):
        finish_op(dags[j], ops[j])
    RedisModule_Free(ops)
