# cython: language_level=3
from libc.string cimport memset

from redisai.rm cimport *
from redisai.errors cimport *
from redisai.tensor cimport Tensor, tensor_retain, tensor_release
from redisai.model cimport (Model, Op, KIND_SCRIPT, OP_MODEL, OP_SCRIPT, OP_TENSORGET, OP_TENSORSET,
                            OP_PENDING, OP_FAILED, model_release, model_set_blob, op_clear,
                            stats_register)
from redisai.queue cimport Job, RunQueue, queue_push, queue_ensure
from redisai.execute cimport run_part, unblock_dag
from redisai.bridge cimport backend_error_message
from redisai.clock cimport now_ns
from redisai.types cimport TensorType, ModelType, ScriptType, replicate_tensorset, set_tensor
from redisai.config cimport ensure_backend, build_configured
from redisai.reply cimport reply_tensor
from redisai.pthread cimport pthread_mutex_init, pthread_mutex_destroy


# ---------------------------------------------------------------- requests

cdef Dag *dag_new(int nslots, int nops) noexcept nogil:
    # One allocation: the request, its slots and its ops (a one-op request is
    # on every model call's path).
    cdef size_t size = sizeof(Dag) + (nslots + 1) * sizeof(Tensor *) + (nops + 1) * sizeof(Op)
    cdef Dag *dag = <Dag *>RedisModule_Alloc(size)
    memset(dag, 0, size)
    dag.kind = REQ_DAG
    dag.nslots = nslots
    dag.ops = <Op *>(dag + 1)
    dag.nops = nops
    dag.slots = <Tensor **>(dag.ops + nops + 1)
    return dag


cdef void dag_set_persist(Dag *dag, int n, RedisModuleString **keys, const int *slots) noexcept nogil:
    cdef int i
    dag.npersist = n
    dag.persist_keys = <RedisModuleString **>RedisModule_Alloc(
        (n + 1) * (sizeof(RedisModuleString *) + sizeof(int)))
    dag.persist_slots = <int *>(dag.persist_keys + n + 1)
    for i in range(n):
        dag.persist_keys[i] = keys[i]
        RedisModule_RetainString(NULL, keys[i])
        dag.persist_slots[i] = slots[i]


cdef void dag_free(Dag *dag) noexcept nogil:
    """Main thread (it releases argument strings)."""
    cdef int i
    for i in range(dag.nops):
        op_clear(&dag.ops[i])
    for i in range(dag.nslots):
        tensor_release(dag.slots[i])
    for i in range(dag.npersist):
        RedisModule_FreeString(NULL, dag.persist_keys[i])
    if dag.nparts > 1:
        pthread_mutex_destroy(&dag.lock)
    if dag.call.user != NULL:
        RedisModule_FreeString(NULL, dag.call.user)
    if dag.parts != NULL:
        RedisModule_Free(dag.parts)
    if dag.persist_keys != NULL:
        RedisModule_Free(dag.persist_keys)
    RedisModule_Free(dag)


ctypedef struct Build:
    RequestKind kind                # REQ_BUILD
    Job job
    RedisModuleBlockedClient *bc
    Model *model
    char *error                     # failure text
    RedisModuleString **argv        # the command, retained
    int argc
    int blob_at
    int nchunks


cdef void free_request(RedisModuleCtx *ctx, void *arg) noexcept nogil:
    cdef Build *build = <Build *>arg
    cdef int i
    if build.kind == REQ_DAG:
        dag_free(<Dag *>arg)
        return
    model_release(build.model)
    if build.error != NULL:
        RedisModule_Free(build.error)
    for i in range(build.argc):
        RedisModule_FreeString(NULL, build.argv[i])
    RedisModule_Free(build.argv)
    RedisModule_Free(build)


cdef int reply_request(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    """Main thread, once the work is done (not called if the client left)."""
    cdef Build *build = <Build *>RedisModule_GetBlockedClientPrivateData(ctx)
    if build.kind == REQ_DAG:
        return reply_dag(ctx, <Dag *>build)
    if build.error != NULL:
        return RedisModule_ReplyWithError(ctx, build.error)
    return RedisModule_ReplyWithSimpleString(ctx, b"OK")


cdef void unblock_build(void *arg) noexcept nogil:
    """Job.done of a build: the main thread replies (reply_request)."""
    RedisModule_UnblockClient((<Build *>arg).bc, arg)


cdef int part_of(Dag *dag, int n, RunQueue *q) noexcept nogil:
    """The index of the part of queue `q` among the first n (n if none)."""
    cdef int j
    for j in range(n):
        if dag.parts[j].queue == q:
            return j
    return n


cdef void part_init(Part *part, Dag *dag, RunQueue *q) noexcept nogil:
    part.queue = q
    part.dag = dag
    part.job.run = run_part
    part.job.done = unblock_dag
    part.job.arg = part


cdef int plan_parts(Dag *dag) noexcept nogil:
    """Splits the ops into parts; returns their number."""
    cdef int i, j, n = 0, offset = 0
    cdef Op *op
    cdef Part *part
    # One part per device queue, in order of first use; one allocation for
    # the parts and their op lists. First pass: the parts and their sizes.
    dag.parts = <Part *>RedisModule_Alloc((dag.nops + 1) * (sizeof(Part) + sizeof(int)))
    memset(dag.parts, 0, (dag.nops + 1) * sizeof(Part))
    cdef int *op_lists = <int *>(dag.parts + dag.nops + 1)
    for i in range(dag.nops):
        op = &dag.ops[i]
        if op.kind != OP_MODEL and op.kind != OP_SCRIPT:
            continue
        j = part_of(dag, n, op.model.queue)
        part = &dag.parts[j]
        if j == n:
            n += 1
            part_init(part, dag, op.model.queue)
            # Completions of one-op requests of the same model may be handed
            # back together (queue.pyx).
            part.job.alike = op.model if dag.nops == 1 else NULL
        part.nops += 1
    for j in range(n):
        dag.parts[j].ops = op_lists + offset
        offset += dag.parts[j].nops
        dag.parts[j].nops = 0
    for i in range(dag.nops):                   # second pass: the op lists
        op = &dag.ops[i]
        if op.kind == OP_MODEL or op.kind == OP_SCRIPT:
            part = &dag.parts[part_of(dag, n, op.model.queue)]
            part.ops[part.nops] = i
            part.nops += 1
    dag.nparts = n
    dag.unfinished = n
    if n > 1:
        pthread_mutex_init(&dag.lock, NULL)
    return n


cdef void queue_parts(Dag *dag) noexcept nogil:
    cdef int i
    dag.queued_ns = now_ns()
    for i in range(dag.nparts):
        queue_push(dag.parts[i].queue, &dag.parts[i].job)


cdef int dag_submit(RedisModuleCtx *ctx, Dag *dag) noexcept nogil:
    if plan_parts(dag) == 0:                # only TENSORSET / TENSORGET ops
        reply_dag(ctx, dag)
        dag_free(dag)
        return REDISMODULE_OK
    dag.call.bc = RedisModule_BlockClient(ctx, reply_request, NULL, free_request, 0)
    queue_parts(dag)
    return REDISMODULE_OK


cdef void dag_submit_detached(Dag *dag) noexcept nogil:
    if plan_parts(dag) == 0:
        # an empty part: completes on a worker (the CPU queue is found: OnLoad starts it)
        part_init(&dag.parts[0], dag, queue_ensure(b"CPU", 3, 0))
        dag.nparts = dag.unfinished = 1
    queue_parts(dag)


# ---------------------------------------------------------------- reply (main thread)

cdef Err persist(RedisModuleCtx *ctx, Dag *dag) noexcept nogil:
    """Writes the persisted slots (each propagated as AI.TENSORSET ... BLOB);
    stops at a key of another type. Slots never produced are skipped."""
    cdef int i
    cdef Tensor *t
    cdef RedisModuleKey *key
    cdef int kt
    for i in range(dag.npersist):
        t = dag.slots[dag.persist_slots[i]]
        if t == NULL:
            continue
        key = RedisModule_OpenKey(ctx, dag.persist_keys[i], REDISMODULE_READ | REDISMODULE_WRITE)
        kt = RedisModule_KeyType(key)
        if kt != REDISMODULE_KEYTYPE_EMPTY and (kt != REDISMODULE_KEYTYPE_MODULE or
                                                RedisModule_ModuleTypeGetType(key) != TensorType):
            RedisModule_CloseKey(key)
            return E_WRONGTYPE
        set_tensor(key, tensor_retain(t))
        RedisModule_CloseKey(key)
        replicate_tensorset(ctx, dag.persist_keys[i], t)
    return E_OK


cdef void reply_op(RedisModuleCtx *ctx, Dag *dag, Op *op) noexcept nogil:
    cdef Tensor *t
    if op.kind == OP_TENSORGET:
        t = dag.slots[op.in_slots[0]]
        if t == NULL:
            RedisModule_ReplyWithSimpleString(ctx, b"NA")
        else:
            reply_tensor(ctx, t, op.format)
    elif op.state == OP_FAILED:
        RedisModule_ReplyWithError(ctx, op.error)
    elif op.state == OP_PENDING and op.kind != OP_TENSORSET:
        RedisModule_ReplyWithSimpleString(ctx, b"NA")
    else:
        RedisModule_ReplyWithSimpleString(ctx, b"OK")


cdef bint out_of_memory(RedisModuleCtx *ctx, Dag *dag) noexcept nogil:
    """Whether outputs are in hand while the server is past maxmemory with
    nothing it may evict: under noeviction they are not written (all or
    nothing), as Redis refuses a write command then."""
    if dag.npersist == 0:
        return False
    cdef int flags = RedisModule_GetContextFlags(ctx)
    return flags & REDISMODULE_CTX_FLAGS_OOM and not flags & REDISMODULE_CTX_FLAGS_EVICT


cdef int reply_dag(RedisModuleCtx *ctx, Dag *dag) noexcept nogil:
    if dag.stop == STOP_TIMEDOUT:
        return RedisModule_ReplyWithSimpleString(ctx, b"TIMEDOUT")
    if dag.single and dag.ops[0].state == OP_FAILED:
        return RedisModule_ReplyWithError(ctx, dag.ops[0].error)
    cdef Err err = E_OK
    if dag.stop == RUNNING:
        err = E_OOM if out_of_memory(ctx, dag) else persist(ctx, dag)
    if dag.single:
        return reply_error(ctx, err) if err != E_OK else RedisModule_ReplyWithSimpleString(ctx, b"OK")
    cdef int i
    RedisModule_ReplyWithArray(ctx, dag.nops + (err != E_OK))
    for i in range(dag.nops):
        reply_op(ctx, dag, &dag.ops[i])
    if err != E_OK:
        reply_error(ctx, err)
    return REDISMODULE_OK


# ---------------------------------------------------------------- builds

cdef bint run_build(void *arg) noexcept nogil:
    """Job.run of a build: join the blob, build, store under the server lock."""
    cdef Build *build = <Build *>arg
    cdef Model *m = build.model
    model_set_blob(m, build.argv + build.blob_at + 1, build.nchunks)
    if ensure_backend(m.backend) != REDISMODULE_OK:
        build.error = backend_error_message(E_COULD_NOT_LOAD_BACKEND, m.backend)
    elif build_configured(m, &build.error) == REDISMODULE_OK:
        store_built(build)
    return True


cdef void store_built(Build *build) noexcept nogil:
    """Worker side, the GIL released: stores the model or script under the
    server lock and propagates the command, whether or not its client is
    still there."""
    cdef RedisModuleCtx *ctx = RedisModule_GetThreadSafeContext(build.bc)
    RedisModule_ThreadSafeContextLock(ctx)
    cdef Err err = put_model(ctx, build.argv[1], build.model)
    if err == E_OK:
        build.model = NULL
        RedisModule_Replicate(ctx, RedisModule_StringPtrLen(build.argv[0], NULL), b"v",
                              build.argv + 1, <size_t>(build.argc - 1))
    RedisModule_ThreadSafeContextUnlock(ctx)
    RedisModule_FreeThreadSafeContext(ctx)
    if err != E_OK:
        build.error = error_message(err, NULL)


cdef void submit_build(RedisModuleCtx *ctx, Model *m, RedisModuleString **argv, int argc,
                       int blob_at, int nchunks) noexcept nogil:
    cdef Build *build = <Build *>RedisModule_Alloc(sizeof(Build))
    memset(build, 0, sizeof(Build))
    build.kind = REQ_BUILD
    build.model = m
    build.argv = <RedisModuleString **>RedisModule_Alloc((argc + 1) * sizeof(RedisModuleString *))
    cdef int i
    for i in range(argc):
        build.argv[i] = argv[i]
        RedisModule_RetainString(NULL, argv[i])
    build.argc = argc
    build.blob_at = blob_at
    build.nchunks = nchunks
    build.job.run = run_build
    build.job.done = unblock_build
    build.job.arg = build
    build.bc = RedisModule_BlockClient(ctx, reply_request, NULL, free_request, 0)
    queue_push(m.queue, &build.job)


cdef Err put_model(RedisModuleCtx *ctx, RedisModuleString *keyname, Model *m) noexcept nogil:
    """Sets a built model or script at a key that is empty or holds one of the
    same kind; on E_OK the key owns `m`."""
    cdef RedisModuleType *mt = ScriptType if m.kind == KIND_SCRIPT else ModelType
    cdef RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ | REDISMODULE_WRITE)
    cdef int kt = RedisModule_KeyType(key)
    if kt != REDISMODULE_KEYTYPE_EMPTY and (kt != REDISMODULE_KEYTYPE_MODULE or
                                            RedisModule_ModuleTypeGetType(key) != mt):
        RedisModule_CloseKey(key)
        return E_WRONGTYPE
    cdef size_t len
    cdef const char *name = RedisModule_StringPtrLen(keyname, &len)
    stats_register(m, name, len)
    RedisModule_ModuleTypeSetValue(key, mt, m)
    RedisModule_CloseKey(key)
    return E_OK


cdef int store_model(RedisModuleCtx *ctx, RedisModuleString *keyname, Model *m) noexcept nogil:
    cdef Err err = put_model(ctx, keyname, m)
    if err != E_OK:
        model_release(m)
        reply_error(ctx, err)
        return REDISMODULE_ERR
    RedisModule_ReplyWithSimpleString(ctx, b"OK")
    return REDISMODULE_OK
