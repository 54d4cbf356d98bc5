# cython: language_level=3
from libc.string cimport strlen
from libc.stdint cimport uint32_t

from redisai.rm cimport *
from redisai.errors cimport *
from redisai.tensor cimport Tensor, tensor_retain
from redisai.model cimport (Model, Op, OP_MODEL, KIND_MODEL, KIND_SCRIPT, model_release, model_set_blob,
                            op_init, stats_lookup_retain, stats_reset, stats_foreach)
from redisai.parse cimport (parse_modelstore, parse_modelset, parse_modelexecute, parse_modelrun,
                            ExecuteArgs, token_is)
from redisai.types cimport TensorType, ModelType
from redisai.bridge cimport BACKENDS, backend_error_message
from redisai.queue cimport queue_ensure
from redisai.config cimport config, ensure_backend, build_configured
from redisai.dag cimport Dag, dag_new, dag_set_persist, dag_submit, dag_free, submit_build, store_model
from redisai.command_info cimport KEY_READ, KEY_WRITE

# Where a client cannot be blocked, a model is built on the main thread.
cdef int NO_BLOCKING = (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA |
                        REDISMODULE_CTX_FLAGS_DENY_BLOCKING | REDISMODULE_CTX_FLAGS_LOADING |
                        REDISMODULE_CTX_FLAGS_REPLICATED)


cdef Err open_typed(RedisModuleCtx *ctx, RedisModuleString *name, RedisModuleType *mt, Err empty,
                    void **value) noexcept nogil:
    cdef RedisModuleKey *key = RedisModule_OpenKey(ctx, name, REDISMODULE_READ)
    cdef int kt = RedisModule_KeyType(key)
    cdef Err err = E_OK
    if kt == REDISMODULE_KEYTYPE_EMPTY:
        err = empty
    elif kt != REDISMODULE_KEYTYPE_MODULE or RedisModule_ModuleTypeGetType(key) != mt:
        err = E_WRONGTYPE
    else:
        value[0] = RedisModule_ModuleTypeGetValue(key)
    RedisModule_CloseKey(key)
    return err


cdef int store(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, Model *m,
               int blob_at, int nchunks, Err err) noexcept nogil:
    """Builds a parsed model or script from the `nchunks` arguments after
    argv[blob_at] (on a worker unless the client cannot block) and stores it
    at argv[1]."""
    if err != E_OK:
        return reply_error(ctx, err)
    cdef char *error = NULL
    m.queue = queue_ensure(m.device, strlen(m.device), config.threads_per_queue)
    if m.queue == NULL:
        model_release(m)
        return reply_error(ctx, E_QUEUE)
    if not (RedisModule_GetContextFlags(ctx) & NO_BLOCKING):
        submit_build(ctx, m, argv, argc, blob_at, nchunks)
        return REDISMODULE_OK
    if ensure_backend(m.backend) != REDISMODULE_OK:
        error = backend_error_message(E_COULD_NOT_LOAD_BACKEND, m.backend)
        model_release(m)
        return reply_owned_error(ctx, error)
    model_set_blob(m, argv + blob_at + 1, nchunks)
    if build_configured(m, &error) != REDISMODULE_OK:
        model_release(m)
        return reply_owned_error(ctx, error)
    if store_model(ctx, argv[1], m) == REDISMODULE_OK:
        RedisModule_ReplicateVerbatim(ctx)
    return REDISMODULE_OK


ctypedef Err (*ModelParser)(RedisModuleString **argv, int argc, Model **out,
                            int *blob_at) noexcept nogil


cdef int parse_and_store(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int min_argc,
                         ModelParser parse) noexcept nogil:
    if argc < min_argc:
        return reply_arity(ctx, argv[0])
    cdef Model *m = NULL
    cdef int blob_at = 0
    cdef Err err = parse(argv, argc, &m, &blob_at)
    return store(ctx, argv, argc, m, blob_at, argc - blob_at - 1, err)


cdef int cmd_modelstore(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return parse_and_store(ctx, argv, argc, 6, parse_modelstore)


cdef int cmd_modelset(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return parse_and_store(ctx, argv, argc, 4, parse_modelset)


cdef void reply_names(RedisModuleCtx *ctx, uint32_t n, char **names) noexcept nogil:
    cdef uint32_t i
    RedisModule_ReplyWithArray(ctx, n)
    for i in range(n):
        RedisModule_ReplyWithStringBuffer(ctx, names[i], strlen(names[i]))


cdef void reply_label(RedisModuleCtx *ctx, const char *label) noexcept nogil:
    RedisModule_ReplyWithStringBuffer(ctx, label, strlen(label))


cdef void reply_blob(RedisModuleCtx *ctx, const Model *m) noexcept nogil:
    """The blob, split in MODEL_CHUNK_SIZE chunks when it takes more than one."""
    cdef size_t chunk = config.model_chunk_size
    cdef size_t n = m.bloblen // chunk + 1, i
    if n == 1:
        RedisModule_ReplyWithStringBuffer(ctx, m.blob, m.bloblen)
        return
    RedisModule_ReplyWithArray(ctx, n)
    for i in range(n):
        RedisModule_ReplyWithStringBuffer(ctx, m.blob + i * chunk,
                                          chunk if i + 1 < n else m.bloblen - i * chunk)


cdef void get_flags(RedisModuleString **argv, int argc, const char *content, bint *meta,
                    bint *data) noexcept nogil:
    """AI.MODELGET / AI.SCRIPTGET: META and the content token among argv[2:]
    (others ignored); neither given means both."""
    cdef int i
    meta[0] = data[0] = False
    for i in range(2, argc):
        meta[0] |= token_is(argv[i], b"META")
        data[0] |= token_is(argv[i], content)
    if not meta[0] and not data[0]:
        meta[0] = data[0] = True


cdef int cmd_modelget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    if argc < 2 or argc > 4:
        return reply_arity(ctx, argv[0])
    cdef Model *m = NULL
    cdef Err err = open_typed(ctx, argv[1], ModelType, E_MODEL_EMPTY, <void **>&m)
    if err != E_OK:
        return reply_error(ctx, err)
    cdef bint meta, blob
    get_flags(argv, argc, b"BLOB", &meta, &blob)
    if not meta:
        reply_blob(ctx, m)
        return REDISMODULE_OK
    RedisModule_ReplyWithArray(ctx, 18 if blob else 16)
    reply_label(ctx, b"backend")
    reply_label(ctx, BACKENDS[m.backend].name)
    reply_label(ctx, b"device")
    reply_label(ctx, m.device)
    reply_label(ctx, b"tag")
    RedisModule_ReplyWithStringBuffer(ctx, m.tag, m.taglen)
    reply_label(ctx, b"batchsize")
    RedisModule_ReplyWithLongLong(ctx, m.batchsize)
    reply_label(ctx, b"minbatchsize")
    RedisModule_ReplyWithLongLong(ctx, m.minbatchsize)
    reply_label(ctx, b"inputs")
    reply_names(ctx, m.ninputs, m.inputs)
    reply_label(ctx, b"outputs")
    reply_names(ctx, m.noutputs, m.outputs)
    reply_label(ctx, b"minbatchtimeout")
    RedisModule_ReplyWithLongLong(ctx, m.minbatchtimeout)
    if blob:
        reply_label(ctx, b"blob")
        reply_blob(ctx, m)
    return REDISMODULE_OK


cdef int delete_typed(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, RedisModuleType *mt,
                      Err empty) noexcept nogil:
    if argc != 2:
        return reply_arity(ctx, argv[0])
    cdef void *value = NULL
    cdef Err err = open_typed(ctx, argv[1], mt, empty, &value)
    if err != E_OK:
        return reply_error(ctx, err)
    cdef RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_WRITE)
    RedisModule_DeleteKey(key)
    RedisModule_CloseKey(key)
    RedisModule_ReplicateVerbatim(ctx)
    return RedisModule_ReplyWithSimpleString(ctx, b"OK")


cdef int cmd_modeldel(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return delete_typed(ctx, argv, argc, ModelType, E_MODEL_EMPTY)


cdef void report_execute_keys(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    """getkeys-api: the model, the input keys and the output keys."""
    cdef long long n, m, i
    rm_key_at(ctx, 1, argc, KEY_READ)
    if argc < 4 or RedisModule_StringToLongLong(argv[3], &n) != REDISMODULE_OK or n < 0:
        return
    n = min(n, argc)    # no overflow below
    for i in range(4, 4 + n):
        rm_key_at(ctx, i, argc, KEY_READ)
    i = 4 + n           # OUTPUTS <m>
    if i + 1 >= argc or RedisModule_StringToLongLong(argv[i + 1], &m) != REDISMODULE_OK or m < 0:
        return
    for i in range(i + 2, i + 2 + min(m, argc)):
        rm_key_at(ctx, i, argc, KEY_WRITE)


cdef Err open_to_run(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int min_argc,
                     Err arity, RedisModuleType *mt, Err empty, Model **m) noexcept nogil:
    if in_transaction(ctx):
        return E_IN_TX
    if argc < min_argc:
        return arity
    return open_typed(ctx, argv[1], mt, empty, <void **>m)


cdef bint in_transaction(RedisModuleCtx *ctx) noexcept nogil:
    return RedisModule_GetContextFlags(ctx) & (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA |
                                               REDISMODULE_CTX_FLAGS_DENY_BLOCKING) != 0


cdef Err load_inputs(RedisModuleCtx *ctx, Dag *dag, Op *op, RedisModuleString **keys,
                     RedisModuleString **skip) noexcept nogil:
    """Slots 0..n-1 of a one-op request: its input tensors, by reference."""
    cdef Tensor *t = NULL
    cdef Err err
    cdef uint32_t i
    for i in range(op.ninputs):
        if keys == skip:
            keys += 1
        err = open_typed(ctx, keys[0], TensorType, E_TENSOR_EMPTY, <void **>&t)
        if err != E_OK:
            return err
        dag.slots[i] = tensor_retain(t)
        op.in_slots[i] = i
        keys += 1
    return E_OK


cdef Err check_outputs(RedisModuleCtx *ctx, Dag *dag, Op *op, RedisModuleString **keys) noexcept nogil:
    """Slots n.. are the outputs, persisted to their keys; a key holding
    another type fails now, with one reply."""
    cdef Tensor *t = NULL
    cdef Err err
    cdef uint32_t i
    for i in range(op.noutputs):
        err = open_typed(ctx, keys[i], TensorType, E_OK, <void **>&t)
        if err != E_OK:
            return err
        op.out_slots[i] = op.ninputs + i
    dag_set_persist(dag, op.noutputs, keys, op.out_slots)
    return E_OK


cdef int submit_single(RedisModuleCtx *ctx, Dag *dag, Err err, long long timeout) noexcept nogil:
    """Queues a one-op request, or replies its parse error."""
    if err != E_OK:
        dag_free(dag)
        return reply_error(ctx, err)
    dag.single = True
    if timeout > 0:
        dag.deadline = RedisModule_Milliseconds() + timeout
    return dag_submit(ctx, dag)


cdef int execute(RedisModuleCtx *ctx, RedisModuleString **argv, Model *m,
                 ExecuteArgs *args) noexcept nogil:
    """Resolves the keys of a parsed model execution and queues it."""
    cdef Dag *dag = dag_new(args.ninputs + args.noutputs, 1)
    cdef Op *op = &dag.ops[0]
    op_init(op, OP_MODEL, m, args.ninputs, args.noutputs)
    cdef Err err = load_inputs(ctx, dag, op, argv + args.inputs, NULL)
    if err == E_OK:
        err = check_outputs(ctx, dag, op, argv + args.outputs)
    return submit_single(ctx, dag, err, args.timeout)


cdef int cmd_modelexecute(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    if RedisModule_IsKeysPositionRequest(ctx):
        report_execute_keys(ctx, argv, argc)
        return REDISMODULE_OK
    cdef Model *m = NULL
    cdef Err err = open_to_run(ctx, argv, argc, 8, E_MODELEXECUTE_ARITY, ModelType, E_MODEL_EMPTY, &m)
    cdef ExecuteArgs args
    cdef RedisModuleString *bad = NULL
    if err == E_OK:
        err = parse_modelexecute(argv, argc, m, &args, &bad)
    if err == E_INVALID_ARGUMENT:
        return reply_error_token(ctx, err, bad)
    if err != E_OK:
        return reply_error(ctx, err)
    return execute(ctx, argv, m, &args)


cdef void report_modelrun_keys(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    """getkeys-api: the model, then every argument after INPUTS: inputs up to
    the first OUTPUTS token, outputs after it (as parse_modelrun reads them)."""
    rm_key_at(ctx, 1, argc, KEY_READ)
    cdef int i = 4 if argc > 2 and token_is(argv[2], b"TIMEOUT") else 2
    cdef int flags = KEY_READ
    for i in range(i + 1, argc):
        if flags == KEY_READ and token_is(argv[i], b"OUTPUTS"):
            flags = KEY_WRITE
        else:
            rm_key_at(ctx, i, argc, flags)


cdef int cmd_modelrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    if RedisModule_IsKeysPositionRequest(ctx):
        report_modelrun_keys(ctx, argv, argc)
        return REDISMODULE_OK
    cdef Model *m = NULL
    cdef Err err = open_to_run(ctx, argv, argc, 6, E_MODELRUN_ARITY, ModelType, E_MODEL_EMPTY, &m)
    cdef ExecuteArgs args
    if err == E_OK:
        err = parse_modelrun(argv, argc, m, &args)
    if err != E_OK:
        return reply_error(ctx, err)
    return execute(ctx, argv, m, &args)


ctypedef struct ScanReply:
    RedisModuleCtx *ctx
    int kind
    long count


cdef void reply_scan_entry(const char *key, size_t keylen, Model *m, void *arg) noexcept nogil:
    cdef ScanReply *scan = <ScanReply *>arg
    if m.kind != scan.kind:
        return
    RedisModule_ReplyWithArray(scan.ctx, 2)
    RedisModule_ReplyWithStringBuffer(scan.ctx, key, keylen)
    RedisModule_ReplyWithStringBuffer(scan.ctx, m.tag, m.taglen)
    scan.count += 1


cdef int scan(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int kind) noexcept nogil:
    """AI._MODELSCAN / AI._SCRIPTSCAN: [key, tag] of each registered one."""
    if argc != 1:
        return reply_arity(ctx, argv[0])
    RedisModule_Log(ctx, b"warning", b"%s is experimental and might be removed in future versions",
                    <const char *>(b"AI._SCRIPTSCAN" if kind == KIND_SCRIPT else b"AI._MODELSCAN"))
    cdef ScanReply entries
    entries.ctx = ctx
    entries.kind = kind
    entries.count = 0
    RedisModule_ReplyWithArray(ctx, REDISMODULE_POSTPONED_LEN)
    stats_foreach(reply_scan_entry, &entries)
    RedisModule_ReplySetArrayLength(ctx, entries.count)
    return REDISMODULE_OK


cdef int cmd_modelscan(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return scan(ctx, argv, argc, KIND_MODEL)


cdef int cmd_scriptscan(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return scan(ctx, argv, argc, KIND_SCRIPT)


cdef int cmd_info(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    if argc < 2 or argc > 3:
        return reply_arity(ctx, argv[0])
    cdef size_t len
    cdef const char *key = RedisModule_StringPtrLen(argv[1], &len)
    cdef Model *m = stats_lookup_retain(key, len)
    if m == NULL:
        return reply_error(ctx, E_NO_RUN_INFO)
    if argc == 3 and token_is(argv[2], b"RESETSTAT"):
        stats_reset(m)
        model_release(m)
        return RedisModule_ReplyWithSimpleString(ctx, b"OK")
    RedisModule_ReplyWithArray(ctx, 18)
    reply_label(ctx, b"key")
    RedisModule_ReplyWithStringBuffer(ctx, key, len)
    reply_label(ctx, b"type")
    reply_label(ctx, b"SCRIPT" if m.kind == KIND_SCRIPT else b"MODEL")
    reply_label(ctx, b"backend")
    reply_label(ctx, BACKENDS[m.backend].name)
    reply_label(ctx, b"device")
    reply_label(ctx, m.device)
    reply_label(ctx, b"tag")
    RedisModule_ReplyWithStringBuffer(ctx, m.tag, m.taglen)
    reply_label(ctx, b"duration")
    RedisModule_ReplyWithLongLong(ctx, m.stats.duration_us)
    reply_label(ctx, b"samples")
    RedisModule_ReplyWithLongLong(ctx, -1 if m.kind == KIND_SCRIPT else m.stats.samples)
    reply_label(ctx, b"calls")
    RedisModule_ReplyWithLongLong(ctx, m.stats.calls)
    reply_label(ctx, b"errors")
    RedisModule_ReplyWithLongLong(ctx, m.stats.errors)
    model_release(m)
    return REDISMODULE_OK
