# cython: language_level=3
from libc.string cimport memset, strlen
from libc.stdint cimport uint32_t

from redisai.rm cimport *
from redisai.errors cimport *
from redisai.tensor cimport Tensor, tensor_retain, tensor_dims, tensor_data, dtype_info
from redisai.model cimport (Model, ModelRun, model_release, model_set_blob, modelrun_free,
                            stats_add, stats_register, rm_strndup)
from redisai.queue cimport Job, queue_push
from redisai.bridge cimport run_model, backend_error_message
from redisai.types cimport TensorType, ModelType, replicate_tensorset
from redisai.config cimport config, build_configured, ensure_backend

cdef enum RequestKind:
    RUN_MODEL
    BUILD_MODEL

ctypedef struct Request:
    Job job
    RequestKind kind
    RedisModuleBlockedClient *bc
    long long deadline              # ms since the epoch, 0: none
    bint timed_out
    ModelRun *run                   # RUN_MODEL
    Model *model                    # BUILD_MODEL
    char *error                     # BUILD_MODEL failure text
    RedisModuleString **keys        # RUN_MODEL: output keys; BUILD_MODEL: argv
    int nkeys
    int blob_at                     # BUILD_MODEL: index of BLOB in keys


cdef RedisModuleString **retain_strings(RedisModuleString **argv, int n) noexcept nogil:
    cdef RedisModuleString **out = <RedisModuleString **>RedisModule_Alloc(
        (n + 1) * sizeof(RedisModuleString *))
    cdef int i
    for i in range(n):
        out[i] = argv[i]
        RedisModule_RetainString(NULL, argv[i])
    return out


cdef Request *request_new(RequestKind kind, RedisModuleString **keys, int nkeys) noexcept nogil:
    cdef Request *req = <Request *>RedisModule_Alloc(sizeof(Request))
    memset(req, 0, sizeof(Request))
    req.kind = kind
    req.job.run = run_request
    req.job.done = hand_back_request
    req.job.arg = req
    req.keys = retain_strings(keys, nkeys)
    req.nkeys = nkeys
    return req


cdef void free_request(RedisModuleCtx *ctx, void *arg) noexcept nogil:
    cdef Request *req = <Request *>arg
    cdef int i
    if req.run != NULL:
        modelrun_free(req.run)
    model_release(req.model)
    if req.error != NULL:
        RedisModule_Free(req.error)
    for i in range(req.nkeys):
        RedisModule_FreeString(NULL, req.keys[i])
    RedisModule_Free(req.keys)
    RedisModule_Free(req)


cdef long long first_dim(ModelRun *run) noexcept nogil:
    if run.noutputs == 0 or run.outputs[0] == NULL or run.outputs[0].ndims == 0:
        return 0
    return tensor_dims(run.outputs[0])[0]


cdef void run_request(void *arg) noexcept nogil:
    """Worker side: run or build."""
    cdef Request *req = <Request *>arg
    if req.kind == BUILD_MODEL:
        # Joining the chunks of a large model is done here, not on the main thread.
        model_set_blob(req.model, req.keys + req.blob_at + 1, req.nkeys - req.blob_at - 1)
        if ensure_backend(req.model.backend) != REDISMODULE_OK:
            req.error = backend_error_message(E_COULD_NOT_LOAD_BACKEND, req.model.backend)
        elif build_configured(req.model, &req.error) == REDISMODULE_OK:
            store_built_model(req)
    elif req.deadline and RedisModule_Milliseconds() > req.deadline:
        req.timed_out = True
    else:
        run_model(req.run)
        stats_add(req.run.model, req.run.duration_us, first_dim(req.run), req.run.error != NULL)


cdef void hand_back_request(void *arg) noexcept nogil:
    """Worker side, after run_request: the main thread replies (reply_request)."""
    cdef Request *req = <Request *>arg
    RedisModule_UnblockClient(req.bc, req)


cdef void store_built_model(Request *req) noexcept nogil:
    """Worker side, the GIL released: stores the model under the server lock
    and propagates the command, whether or not its client is still there."""
    cdef RedisModuleCtx *ctx = RedisModule_GetThreadSafeContext(req.bc)
    RedisModule_ThreadSafeContextLock(ctx)
    cdef Err err = put_model(ctx, req.keys[1], req.model)
    if err == E_OK:
        req.model = NULL
        RedisModule_Replicate(ctx, RedisModule_StringPtrLen(req.keys[0], NULL), b"v",
                              req.keys + 1, <size_t>(req.nkeys - 1))
    RedisModule_ThreadSafeContextUnlock(ctx)
    RedisModule_FreeThreadSafeContext(ctx)
    if err != E_OK:
        req.error = error_message(err, NULL)


cdef void write_tensor(RedisModuleCtx *ctx, RedisModuleString *keyname, Tensor *t) noexcept nogil:
    """Stores an output tensor and propagates it as AI.TENSORSET ... BLOB."""
    cdef RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ | REDISMODULE_WRITE)
    RedisModule_ModuleTypeSetValue(key, TensorType, tensor_retain(t))
    RedisModule_CloseKey(key)
    replicate_tensorset(ctx, keyname, t)


cdef int reply_request(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    """Main thread, after the worker finished (not called if the client left)."""
    cdef Request *req = <Request *>RedisModule_GetBlockedClientPrivateData(ctx)
    cdef uint32_t i
    if req.kind == BUILD_MODEL:
        if req.error != NULL:
            return RedisModule_ReplyWithError(ctx, req.error)
        return RedisModule_ReplyWithSimpleString(ctx, b"OK")
    if req.timed_out:
        return RedisModule_ReplyWithSimpleString(ctx, b"TIMEDOUT")
    if req.run.error != NULL:
        return RedisModule_ReplyWithError(ctx, req.run.error)
    for i in range(req.run.noutputs):
        if req.run.outputs[i] != NULL:
            write_tensor(ctx, req.keys[i], req.run.outputs[i])
    return RedisModule_ReplyWithSimpleString(ctx, b"OK")


cdef void block_and_queue(RedisModuleCtx *ctx, Request *req) noexcept nogil:
    req.bc = RedisModule_BlockClient(ctx, reply_request, NULL, free_request, 0)
    queue_push((req.run.model if req.run != NULL else req.model).queue, &req.job)


cdef void submit_model_run(RedisModuleCtx *ctx, ModelRun *run, RedisModuleString **output_keys,
                           long long timeout_ms) noexcept nogil:
    cdef Request *req = request_new(RUN_MODEL, output_keys, run.noutputs)
    req.run = run
    req.job.alike = run.model
    if timeout_ms > 0:
        req.deadline = RedisModule_Milliseconds() + timeout_ms
    block_and_queue(ctx, req)


cdef void submit_model_build(RedisModuleCtx *ctx, Model *m, RedisModuleString **argv, int argc,
                             int blob_at) noexcept nogil:
    cdef Request *req = request_new(BUILD_MODEL, argv, argc)
    req.model = m
    req.blob_at = blob_at
    block_and_queue(ctx, req)


cdef Err put_model(RedisModuleCtx *ctx, RedisModuleString *keyname, Model *m) noexcept nogil:
    """Sets a built model at a key that is empty or holds a model; on E_OK the
    key owns `m`."""
    cdef RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ | REDISMODULE_WRITE)
    cdef int kt = RedisModule_KeyType(key)
    if kt != REDISMODULE_KEYTYPE_EMPTY and (kt != REDISMODULE_KEYTYPE_MODULE or
                                            RedisModule_ModuleTypeGetType(key) != ModelType):
        RedisModule_CloseKey(key)
        return E_WRONGTYPE
    cdef size_t len
    cdef const char *name = RedisModule_StringPtrLen(keyname, &len)
    stats_register(m, name, len)
    RedisModule_ModuleTypeSetValue(key, ModelType, m)
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
