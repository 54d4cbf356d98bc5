# cython: language_level=3, boundscheck=False, wraparound=False
# The low-level API for other modules (spec/llapi.md, csrc/redisai_llapi.h):
# each RedisAI_<Name> is rai_llapi_<Name> here. Any thread that calls it; the
# GIL only inside the engine's backend calls. A run context or an LLAPI DAG is
# a builder: a run turns it into an ordinary request (redisai.dag's Dag), run
# in the calling thread (ModelRun, ScriptRun) or queued on its devices like a
# command's, with the caller's callback on the worker instead of a reply.
from libc.stdint cimport uint8_t, uint32_t, int64_t, uint64_t
from libc.string cimport memcpy, memset, strlen, strcmp
from posix.strings cimport strncasecmp

from redisai.rm cimport *
from redisai.errors cimport *
from redisai.tensor cimport (Tensor, DT_FLOAT, DT_DOUBLE, DT_BOOL, DT_STRING, dtype_from_name,
                             dtype_info, tensor_new, tensor_wrap, tensor_concat, tensor_retain,
                             tensor_release, tensor_dims, tensor_data, tensor_numel, shape_numel,
                             element_double, set_element_double, element_integer,
                             set_element_integer)
from redisai.parse cimport check_blob
from redisai.model cimport (Model, Op, OP_MODEL, OP_SCRIPT, OP_TENSORSET, OP_TENSORGET, OP_FAILED,
                            KIND_SCRIPT, model_new, model_set_names, model_retain, model_release,
                            op_init, op_clear, rm_strndup)
from redisai.dag cimport Dag, DagFinish, RUNNING, dag_new, dag_free, dag_submit_detached
from redisai.execute cimport run_now
from redisai.types cimport TensorType, ModelType, ScriptType
from redisai.model_commands cimport open_typed
from redisai.dag_commands cimport parse_dag_ops
from redisai.config cimport config, ensure_backend
from redisai.bridge cimport BE_TORCH, BE_TFLITE, BE_COUNT, build_model, backend_error_message
from redisai.queue cimport queue_ensure
from redisai.pthread cimport pthread_t, pthread_self, pthread_equal

cdef extern from "llapi_impl.h" nogil:
    ctypedef struct RAI_Tensor:
        pass
    ctypedef struct RAI_Model:
        pass
    ctypedef struct RAI_Script:
        pass
    ctypedef struct RAI_ModelRunCtx:
        pass
    ctypedef struct RAI_ScriptRunCtx:
        pass
    ctypedef struct RAI_DAGRunCtx:
        pass
    ctypedef struct RAI_DAGRunOp:
        pass
    ctypedef struct RAI_Error:
        pass
    ctypedef struct RAI_OnFinishCtx:
        pass
    ctypedef void (*RAI_OnFinishCB)(RAI_OnFinishCtx *ctx, void *private_data) noexcept nogil
    ctypedef struct RAI_ModelOpts:
        size_t batchsize
        size_t minbatchsize
        size_t minbatchtimeout
        long long backends_intra_op_parallelism
        long long backends_inter_op_parallelism
    ctypedef enum RAI_ErrorCode:
        RAI_OK
        RAI_EMODELRUN
        RAI_EMODELCREATE
        RAI_ESCRIPTRUN
        RAI_ESCRIPTCREATE
        RAI_EUNSUPPORTEDBACKEND
        RAI_EBACKENDNOTLOADED
        RAI_EDAGBUILDER
        RAI_EFINISHCTX
        RAI_EKEYEMPTY
    int rai_llapi_export(RedisModuleCtx *ctx)


cdef pthread_t main_thread


cdef void llapi_export(RedisModuleCtx *ctx) noexcept nogil:
    global main_thread
    main_thread = pthread_self()
    if rai_llapi_export(ctx) != 0:
        RedisModule_Log(ctx, b"warning", b"redisai: this server does not support shared APIs: "
                        b"the low-level API for other modules is not exported")


# ---------------------------------------------------------------- errors

ctypedef struct Error:              # RAI_Error
    RAI_ErrorCode code
    char *detail
    char *oneline                   # detail with line breaks as spaces


cdef void set_error(RAI_Error *e, RAI_ErrorCode code, const char *text) noexcept nogil:
    """Only the first error is kept until the error is cleared."""
    cdef Error *err = <Error *>e
    if err == NULL or err.code != RAI_OK:
        return
    if text == NULL:
        text = b""
    cdef size_t i, n = strlen(text)
    err.code = code
    err.detail = rm_strndup(text, n)
    err.oneline = rm_strndup(text, n)
    for i in range(n):
        if err.oneline[i] == b'\n' or err.oneline[i] == b'\r':
            err.oneline[i] = b' '


cdef void set_error_owned(RAI_Error *e, RAI_ErrorCode code, char *text) noexcept nogil:
    set_error(e, code, text)
    RedisModule_Free(text)


cdef public int rai_llapi_GetLLAPIVersion() noexcept nogil:
    return 1


cdef public int rai_llapi_InitError(RAI_Error **err) noexcept nogil:
    cdef Error *e = <Error *>RedisModule_Alloc(sizeof(Error))
    memset(e, 0, sizeof(Error))
    err[0] = <RAI_Error *>e
    return REDISMODULE_OK


cdef public void rai_llapi_ClearError(RAI_Error *err) noexcept nogil:
    cdef Error *e = <Error *>err
    if e.detail != NULL:
        RedisModule_Free(e.detail)
        RedisModule_Free(e.oneline)
    memset(e, 0, sizeof(Error))


cdef public void rai_llapi_FreeError(RAI_Error *err) noexcept nogil:
    rai_llapi_ClearError(err)
    RedisModule_Free(err)


cdef public const char *rai_llapi_GetError(RAI_Error *err) noexcept nogil:
    return (<Error *>err).detail


cdef public const char *rai_llapi_GetErrorOneLine(RAI_Error *err) noexcept nogil:
    return (<Error *>err).oneline


cdef public RAI_ErrorCode rai_llapi_GetErrorCode(RAI_Error *err) noexcept nogil:
    return (<Error *>err).code


cdef public void rai_llapi_CloneError(RAI_Error *dest, const RAI_Error *src) noexcept nogil:
    cdef const Error *s = <const Error *>src
    if s.code != RAI_OK:
        set_error(dest, s.code, s.detail)


# ---------------------------------------------------------------- tensors

cdef public RAI_Tensor *rai_llapi_TensorCreate(const char *dataType, long long *dims,
                                               int ndims) noexcept nogil:
    cdef int dt = dtype_from_name(dataType, strlen(dataType))
    if dt < 0 or ndims < 0:
        return NULL
    cdef int64_t numel = shape_numel(ndims, <int64_t *>dims)
    if numel < 0 or <uint64_t>numel > (<uint64_t>-1) // dtype_info(dt).size:
        return NULL
    cdef Tensor *t
    cdef char *zeros
    cdef RedisModuleString *blob
    if dt == DT_STRING:
        # Empty strings (a NUL each), held in a string of ours so that
        # TensorSetData can replace them with a blob of another size.
        zeros = <char *>rm_try_alloc(numel + 1)
        if zeros == NULL:
            return NULL
        memset(zeros, 0, numel)
        blob = RedisModule_CreateString(NULL, zeros, numel)
        RedisModule_Free(zeros)
        t = tensor_wrap(dt, ndims, <int64_t *>dims, blob)
        RedisModule_FreeString(NULL, blob)
        return <RAI_Tensor *>t
    t = tensor_new(dt, ndims, <int64_t *>dims, numel * dtype_info(dt).size)
    if t != NULL:
        memset(tensor_data(t), 0, t.nbytes)
    return <RAI_Tensor *>t


cdef bint joinable(Tensor **ts, long long n) noexcept nogil:
    """Same dtype and dims but the first, not STRING (its elements vary in size)."""
    cdef long long i
    cdef uint32_t d
    if n <= 0 or ts[0].dtype == DT_STRING or ts[0].ndims == 0:
        return False
    for i in range(1, n):
        if ts[i].dtype != ts[0].dtype or ts[i].ndims != ts[0].ndims:
            return False
        for d in range(1, ts[0].ndims):
            if tensor_dims(ts[i])[d] != tensor_dims(ts[0])[d]:
                return False
    return True


cdef public RAI_Tensor *rai_llapi_TensorCreateByConcatenatingTensors(RAI_Tensor **ts,
                                                                     long long n) noexcept nogil:
    if not joinable(<Tensor **>ts, n):
        return NULL
    return <RAI_Tensor *>tensor_concat(<Tensor **>ts, <int>n)


cdef public RAI_Tensor *rai_llapi_TensorCreateBySlicingTensor(RAI_Tensor *t, long long offset,
                                                              long long len) noexcept nogil:
    cdef Tensor *src = <Tensor *>t
    if not joinable(&src, 1) or offset < 0 or len < 0 or offset + len > tensor_dims(src)[0]:
        return NULL
    cdef uint64_t row = src.nbytes // tensor_dims(src)[0] if tensor_dims(src)[0] > 0 else 0
    cdef Tensor *out = tensor_new(src.dtype, src.ndims, tensor_dims(src), row * len)
    if out == NULL:
        return NULL
    tensor_dims(out)[0] = len
    memcpy(tensor_data(out), tensor_data(src) + row * offset, row * len)
    return <RAI_Tensor *>out


cdef public size_t rai_llapi_TensorLength(RAI_Tensor *t) noexcept nogil:
    return tensor_numel(<Tensor *>t)


cdef public size_t rai_llapi_TensorDataSize(RAI_Tensor *t) noexcept nogil:
    return dtype_info((<Tensor *>t).dtype).size


cdef public void rai_llapi_TensorFree(RAI_Tensor *t) noexcept nogil:
    tensor_release(<Tensor *>t)


cdef public int rai_llapi_TensorSetData(RAI_Tensor *t, const char *data, size_t len) noexcept nogil:
    """1 if copied: the data must fill the tensor exactly, as a BLOB would
    (STRING: as many NUL-terminated elements, of any length)."""
    cdef Tensor *x = <Tensor *>t
    if check_blob(x.dtype, data, len, tensor_numel(x)) != E_OK:
        return 0
    if x.dtype == DT_STRING and x.external:
        replace_string_blob(x, RedisModule_CreateString(NULL, data, len))
        return 1
    if x.external or len != x.nbytes:
        return 0
    memcpy(tensor_data(x), data, len)
    return 1


cdef void replace_string_blob(Tensor *t, RedisModuleString *blob) noexcept nogil:
    """A STRING tensor's data becomes `blob` (taken); `t` is external (the
    layout of tensor_wrap: its data, then the string that holds it)."""
    cdef void **tail = <void **>(tensor_dims(t) + t.ndims)
    cdef RedisModuleString *old = <RedisModuleString *>tail[1]
    cdef size_t len
    tail[0] = <void *>RedisModule_StringPtrLen(blob, &len)
    tail[1] = blob
    t.nbytes = len
    RedisModule_FreeString(NULL, old)


cdef bint in_range(Tensor *t, long long i) noexcept nogil:
    return 0 <= i < tensor_numel(t)


cdef bint is_floating(int dt) noexcept nogil:
    return dt == DT_FLOAT or dt == DT_DOUBLE


cdef public int rai_llapi_TensorSetValueFromLongLong(RAI_Tensor *t, long long i,
                                                     long long val) noexcept nogil:
    """Setters never write an external tensor's data: a client's argument string."""
    cdef Tensor *x = <Tensor *>t
    if x.external or not in_range(x, i) or is_floating(x.dtype) or x.dtype == DT_STRING or \
            (x.dtype == DT_BOOL and val != 0 and val != 1):
        return 0
    set_element_integer(tensor_data(x), x.dtype, i, val)
    return 1


cdef public int rai_llapi_TensorSetValueFromDouble(RAI_Tensor *t, long long i,
                                                   double val) noexcept nogil:
    cdef Tensor *x = <Tensor *>t
    if x.external or not in_range(x, i) or not is_floating(x.dtype):
        return 0
    set_element_double(tensor_data(x), x.dtype, i, val)
    return 1


cdef public int rai_llapi_TensorGetValueAsDouble(RAI_Tensor *t, long long i,
                                                 double *val) noexcept nogil:
    cdef Tensor *x = <Tensor *>t
    if not in_range(x, i) or not is_floating(x.dtype):
        return 0
    val[0] = element_double(tensor_data(x), x.dtype, i)
    return 1


cdef public int rai_llapi_TensorGetValueAsLongLong(RAI_Tensor *t, long long i,
                                                   long long *val) noexcept nogil:
    cdef Tensor *x = <Tensor *>t
    if not in_range(x, i) or is_floating(x.dtype) or x.dtype == DT_STRING:
        return 0
    val[0] = element_integer(tensor_data(x), x.dtype, i)
    return 1


cdef public RAI_Tensor *rai_llapi_TensorGetShallowCopy(RAI_Tensor *t) noexcept nogil:
    return <RAI_Tensor *>tensor_retain(<Tensor *>t)


cdef public int rai_llapi_TensorNumDims(RAI_Tensor *t) noexcept nogil:
    return (<Tensor *>t).ndims


cdef public long long rai_llapi_TensorDim(RAI_Tensor *t, int dim) noexcept nogil:
    """-1 for a dimension it does not have."""
    cdef Tensor *x = <Tensor *>t
    return tensor_dims(x)[dim] if 0 <= dim < <int>x.ndims else -1


cdef public size_t rai_llapi_TensorByteSize(RAI_Tensor *t) noexcept nogil:
    return (<Tensor *>t).nbytes


cdef public char *rai_llapi_TensorData(RAI_Tensor *t) noexcept nogil:
    return tensor_data(<Tensor *>t)


cdef public RedisModuleType *rai_llapi_TensorRedisType() noexcept nogil:
    return TensorType


# ---------------------------------------------------------------- models and scripts

cdef enum OwnerKind:                # the first field of what a request's `owner` points to
    OWNER_MODEL_RUN
    OWNER_SCRIPT_RUN
    OWNER_DAG

ctypedef struct RunCtx:             # RAI_ModelRunCtx, RAI_ScriptRunCtx
    uint8_t kind                    # OwnerKind
    Model *model                    # a reference
    char *function                  # scripts
    uint32_t ninputs
    Tensor **inputs                 # references
    uint32_t noutputs
    Tensor **outputs                # references once run (NULL: not produced)


cdef Err options_error(int backend, const char *device, const RAI_ModelOpts *opts) noexcept nogil:
    """What AI.MODELSTORE would refuse in these options (E_OK: none)."""
    if strlen(device) < 3 or not (strncasecmp(device, b"CPU", 3) == 0 or
                                  strncasecmp(device, b"GPU", 3) == 0):
        return E_UNSUPPORTED_DEVICE
    if opts == NULL:
        return E_OK
    if backend == BE_TFLITE and opts.batchsize > 0:
        return E_TFLITE_BATCHING
    if opts.minbatchsize > 0 and opts.batchsize == 0:
        return E_MINBATCH_NO_BATCH
    if opts.minbatchtimeout > 0 and opts.batchsize == 0:
        return E_MINBATCHTIMEOUT_NO_BATCH
    if opts.minbatchtimeout > 0 and opts.minbatchsize == 0:
        return E_MINBATCHTIMEOUT_NO_MIN
    return E_OK


cdef Model *create(int backend, const char *device, RedisModuleString *tag, RAI_ErrorCode failure,
                   RAI_Error *err) noexcept nogil:
    """A model or script without blob; NULL (err set) if its backend or
    queue is missing. Main thread: it may load a backend or start a queue."""
    if ensure_backend(backend) != REDISMODULE_OK:
        set_error_owned(err, RAI_EBACKENDNOTLOADED,
                        backend_error_message(E_COULD_NOT_LOAD_BACKEND, backend))
        return NULL
    cdef size_t taglen = 0
    cdef const char *tagtext = b""
    if tag != NULL:
        tagtext = RedisModule_StringPtrLen(tag, &taglen)
    cdef Model *m = model_new(backend, device, tagtext, taglen)
    m.queue = queue_ensure(device, strlen(device), config.threads_per_queue)
    if m.queue == NULL:
        model_release(m)
        set_error(err, failure, err_text(E_QUEUE))
        return NULL
    return m


cdef Model *build(Model *m, const char *blob, size_t len, long long intra_op, long long inter_op,
                  RAI_ErrorCode failure, RAI_Error *err) noexcept nogil:
    cdef char *error = NULL
    m.blob = rm_strndup(blob, len)
    m.bloblen = len
    if build_model(m, intra_op if intra_op > 0 else config.intra_op_parallelism,
                   inter_op if inter_op > 0 else config.inter_op_parallelism,
                   config.model_execution_timeout, &error) != REDISMODULE_OK:
        model_release(m)
        set_error_owned(err, failure, error)
        return NULL
    return m


cdef public RAI_Model *rai_llapi_ModelCreate(int backend, char *devicestr, RedisModuleString *tag,
                                             RAI_ModelOpts opts, size_t ninputs, const char **inputs,
                                             size_t noutputs, const char **outputs,
                                             const char *modeldef, size_t modellen,
                                             RAI_Error *err) noexcept nogil:
    if backend < 0 or backend >= BE_COUNT:
        set_error(err, RAI_EUNSUPPORTEDBACKEND, err_text(E_LL_UNSUPPORTED_BACKEND))
        return NULL
    cdef Err e = options_error(backend, devicestr, &opts)
    if e != E_OK:
        set_error(err, RAI_EMODELCREATE, err_text(e))
        return NULL
    cdef Model *m = create(backend, devicestr, tag, RAI_EMODELCREATE, err)
    if m == NULL:
        return NULL
    m.batchsize = opts.batchsize
    m.minbatchsize = opts.minbatchsize
    m.minbatchtimeout = opts.minbatchtimeout
    model_set_names(m, ninputs, inputs, noutputs, outputs)
    return <RAI_Model *>build(m, modeldef, modellen, opts.backends_intra_op_parallelism,
                              opts.backends_inter_op_parallelism, RAI_EMODELCREATE, err)


cdef public void rai_llapi_ModelFree(RAI_Model *model, RAI_Error *err) noexcept nogil:
    model_release(<Model *>model)


cdef int from_keyspace(RedisModuleCtx *ctx, RedisModuleString *name, RedisModuleType *mt, Err empty,
                       RAI_ErrorCode wrongtype, void **out, RAI_Error *err) noexcept nogil:
    cdef Err e = open_typed(ctx, name, mt, empty, out)
    if e != E_OK:
        set_error(err, RAI_EKEYEMPTY if e == empty else wrongtype, err_text(e))
        return REDISMODULE_ERR
    return REDISMODULE_OK


cdef public int rai_llapi_GetModelFromKeyspace(RedisModuleCtx *ctx, RedisModuleString *keyName,
                                               RAI_Model **model, int mode,
                                               RAI_Error *err) noexcept nogil:
    return from_keyspace(ctx, keyName, ModelType, E_MODEL_EMPTY, RAI_EMODELRUN, <void **>model, err)


cdef RunCtx *run_ctx_new(int kind, Model *m, const char *function) noexcept nogil:
    cdef RunCtx *c = <RunCtx *>RedisModule_Alloc(sizeof(RunCtx))
    memset(c, 0, sizeof(RunCtx))
    c.kind = kind
    c.model = model_retain(m)
    if function != NULL:
        c.function = rm_strndup(function, strlen(function))
    return c


cdef int add_input(RunCtx *c, Tensor *t) noexcept nogil:
    c.inputs = <Tensor **>RedisModule_Realloc(c.inputs, (c.ninputs + 1) * sizeof(Tensor *))
    c.inputs[c.ninputs] = tensor_retain(t)
    c.ninputs += 1
    return REDISMODULE_OK


cdef int add_output(RunCtx *c) noexcept nogil:
    drop_outputs(c)
    c.noutputs += 1
    return REDISMODULE_OK


cdef RAI_Tensor *output_tensor(RunCtx *c, size_t index) noexcept nogil:
    """Lent: the context keeps its reference."""
    if c.outputs == NULL or index >= c.noutputs:
        return NULL
    return <RAI_Tensor *>c.outputs[index]


cdef void drop_outputs(RunCtx *c) noexcept nogil:
    cdef uint32_t i
    if c.outputs == NULL:
        return
    for i in range(c.noutputs):
        tensor_release(c.outputs[i])
    RedisModule_Free(c.outputs)
    c.outputs = NULL


cdef void run_ctx_free(RunCtx *c) noexcept nogil:
    cdef uint32_t i
    for i in range(c.ninputs):
        tensor_release(c.inputs[i])
    if c.inputs != NULL:
        RedisModule_Free(c.inputs)
    drop_outputs(c)
    if c.function != NULL:
        RedisModule_Free(c.function)
    model_release(c.model)
    RedisModule_Free(c)


cdef Dag *request(RunCtx *c) noexcept nogil:
    """A one-op request for the context's run: slots 0..n-1 are its inputs,
    the outputs follow."""
    cdef Dag *dag = dag_new(c.ninputs + c.noutputs, 1)
    cdef Op *op = &dag.ops[0]
    op_init(op, OP_SCRIPT if c.kind == OWNER_SCRIPT_RUN else OP_MODEL, c.model, c.ninputs, c.noutputs)
    if c.function != NULL:
        op.function = rm_strndup(c.function, strlen(c.function))
    cdef uint32_t i
    for i in range(c.ninputs):
        dag.slots[i] = tensor_retain(c.inputs[i])
        op.in_slots[i] = i
    for i in range(c.noutputs):
        op.out_slots[i] = c.ninputs + i
    dag.owner = c
    return dag


cdef int collect(RunCtx *c, Dag *dag, RAI_Error *err) noexcept nogil:
    """Takes a finished request's outputs and error into its context, and
    frees it."""
    cdef uint32_t i
    drop_outputs(c)
    c.outputs = <Tensor **>RedisModule_Alloc((c.noutputs + 1) * sizeof(Tensor *))
    for i in range(c.noutputs):
        c.outputs[i] = dag.slots[c.ninputs + i]
        dag.slots[c.ninputs + i] = NULL
    cdef Op *op = &dag.ops[0]
    cdef int rc = REDISMODULE_OK
    if op.state == OP_FAILED:
        set_error(err, RAI_ESCRIPTRUN if c.kind == OWNER_SCRIPT_RUN else RAI_EMODELRUN, op.error)
        rc = REDISMODULE_ERR
    dag_free(dag)
    return rc


cdef int run_sync(RunCtx **cs, long long n, RAI_Error *err) noexcept nogil:
    if n <= 0:
        set_error(err, RAI_EMODELRUN, err_text(E_LL_NOTHING_TO_RUN))
        return REDISMODULE_ERR
    cdef Dag **dags = <Dag **>RedisModule_Alloc(n * sizeof(Dag *))
    cdef long long i
    # The main thread runs commands holding the server lock: a script it runs
    # calls back into the server without taking it again.
    cdef bint holds_lock = pthread_equal(pthread_self(), main_thread)
    for i in range(n):
        dags[i] = request(cs[i])
        dags[i].call.holds_lock = holds_lock
    run_now(dags, <int>n)
    cdef int rc = REDISMODULE_OK
    for i in range(n):
        if collect(cs[i], dags[i], err) != REDISMODULE_OK:
            rc = REDISMODULE_ERR
    RedisModule_Free(dags)
    return rc


cdef int run_async(RunCtx *c, RAI_OnFinishCB cb, void *private_data) noexcept nogil:
    cdef Dag *dag = request(c)
    dag.on_finish = <DagFinish>cb
    dag.on_finish_data = private_data
    dag_submit_detached(dag)
    return REDISMODULE_OK


cdef RunCtx *finished_run(RAI_OnFinishCtx *ctx, int kind, Err misuse, RAI_Error *err) noexcept nogil:
    cdef Dag *dag = <Dag *>ctx
    cdef RunCtx *c = <RunCtx *>dag.owner
    if c.kind != kind:
        set_error(err, RAI_EFINISHCTX, err_text(misuse))
        return NULL
    collect(c, dag, err)
    return c


cdef public RAI_ModelRunCtx *rai_llapi_ModelRunCtxCreate(RAI_Model *model) noexcept nogil:
    return <RAI_ModelRunCtx *>run_ctx_new(OWNER_MODEL_RUN, <Model *>model, NULL)


cdef public int rai_llapi_ModelRunCtxAddInput(RAI_ModelRunCtx *mctx, const char *inputName,
                                              RAI_Tensor *inputTensor) noexcept nogil:
    return add_input(<RunCtx *>mctx, <Tensor *>inputTensor)


cdef public int rai_llapi_ModelRunCtxAddOutput(RAI_ModelRunCtx *mctx,
                                               const char *outputName) noexcept nogil:
    return add_output(<RunCtx *>mctx)


cdef public size_t rai_llapi_ModelRunCtxNumOutputs(RAI_ModelRunCtx *mctx) noexcept nogil:
    return (<RunCtx *>mctx).noutputs


cdef public RAI_Tensor *rai_llapi_ModelRunCtxOutputTensor(RAI_ModelRunCtx *mctx,
                                                          size_t index) noexcept nogil:
    return output_tensor(<RunCtx *>mctx, index)


cdef public void rai_llapi_ModelRunCtxFree(RAI_ModelRunCtx *mctx) noexcept nogil:
    run_ctx_free(<RunCtx *>mctx)


cdef public int rai_llapi_ModelRun(RAI_ModelRunCtx **mctxs, long long n, RAI_Error *err) noexcept nogil:
    return run_sync(<RunCtx **>mctxs, n, err)


cdef public int rai_llapi_ModelRunAsync(RAI_ModelRunCtx *mctx, RAI_OnFinishCB cb,
                                        void *private_data) noexcept nogil:
    return run_async(<RunCtx *>mctx, cb, private_data)


cdef public RAI_ModelRunCtx *rai_llapi_GetAsModelRunCtx(RAI_OnFinishCtx *ctx,
                                                        RAI_Error *err) noexcept nogil:
    return <RAI_ModelRunCtx *>finished_run(ctx, OWNER_MODEL_RUN, E_LL_NOT_MODEL_CTX, err)


cdef public int rai_llapi_ModelSerialize(RAI_Model *model, char **buffer, size_t *len,
                                         RAI_Error *err) noexcept nogil:
    cdef Model *m = <Model *>model
    buffer[0] = rm_strndup(m.blob, m.bloblen)
    len[0] = m.bloblen
    return REDISMODULE_OK


cdef public RAI_Model *rai_llapi_ModelGetShallowCopy(RAI_Model *model) noexcept nogil:
    return <RAI_Model *>model_retain(<Model *>model)


cdef public RedisModuleType *rai_llapi_ModelRedisType() noexcept nogil:
    return ModelType


cdef public RAI_Script *rai_llapi_ScriptCreate(char *devicestr, RedisModuleString *tag,
                                               const char *scriptdef, RAI_Error *err) noexcept nogil:
    if options_error(BE_TORCH, devicestr, NULL) != E_OK:
        set_error(err, RAI_ESCRIPTCREATE, err_text(E_UNSUPPORTED_DEVICE))
        return NULL
    cdef Model *s = create(BE_TORCH, devicestr, tag, RAI_ESCRIPTCREATE, err)
    if s == NULL:
        return NULL
    s.kind = KIND_SCRIPT
    return <RAI_Script *>build(s, scriptdef, strlen(scriptdef), 0, 0, RAI_ESCRIPTCREATE, err)


cdef public int rai_llapi_GetScriptFromKeyspace(RedisModuleCtx *ctx, RedisModuleString *keyName,
                                                RAI_Script **script, int mode,
                                                RAI_Error *err) noexcept nogil:
    return from_keyspace(ctx, keyName, ScriptType, E_SCRIPT_EMPTY, RAI_ESCRIPTRUN, <void **>script,
                         err)


cdef public void rai_llapi_ScriptFree(RAI_Script *script, RAI_Error *err) noexcept nogil:
    model_release(<Model *>script)


cdef public RAI_ScriptRunCtx *rai_llapi_ScriptRunCtxCreate(RAI_Script *script,
                                                           const char *fnname) noexcept nogil:
    return <RAI_ScriptRunCtx *>run_ctx_new(OWNER_SCRIPT_RUN, <Model *>script, fnname)


cdef public int rai_llapi_ScriptRunCtxAddInput(RAI_ScriptRunCtx *sctx, RAI_Tensor *inputTensor,
                                               RAI_Error *err) noexcept nogil:
    return add_input(<RunCtx *>sctx, <Tensor *>inputTensor)


cdef public int rai_llapi_ScriptRunCtxAddInputList(RAI_ScriptRunCtx *sctx, RAI_Tensor **inputTensors,
                                                   size_t len, RAI_Error *err) noexcept nogil:
    return rai_llapi_ScriptRunCtxAddTensorInputList(sctx, inputTensors, len)


cdef public int rai_llapi_ScriptRunCtxAddTensorInput(RAI_ScriptRunCtx *sctx,
                                                     RAI_Tensor *inputTensor) noexcept nogil:
    return add_input(<RunCtx *>sctx, <Tensor *>inputTensor)


cdef public int rai_llapi_ScriptRunCtxAddTensorInputList(RAI_ScriptRunCtx *sctx,
                                                         RAI_Tensor **inputTensors,
                                                         size_t count) noexcept nogil:
    # A script's trailing List[Tensor] parameter takes the inputs after its
    # fixed ones (backends/script.py), so a list is its tensors appended.
    cdef size_t i
    for i in range(count):
        add_input(<RunCtx *>sctx, <Tensor *>inputTensors[i])
    return REDISMODULE_OK


cdef public int rai_llapi_ScriptRunCtxAddOutput(RAI_ScriptRunCtx *sctx) noexcept nogil:
    return add_output(<RunCtx *>sctx)


cdef public size_t rai_llapi_ScriptRunCtxNumOutputs(RAI_ScriptRunCtx *sctx) noexcept nogil:
    return (<RunCtx *>sctx).noutputs


cdef public RAI_Tensor *rai_llapi_ScriptRunCtxOutputTensor(RAI_ScriptRunCtx *sctx,
                                                           size_t index) noexcept nogil:
    return output_tensor(<RunCtx *>sctx, index)


cdef public void rai_llapi_ScriptRunCtxFree(RAI_ScriptRunCtx *sctx) noexcept nogil:
    run_ctx_free(<RunCtx *>sctx)


cdef public int rai_llapi_ScriptRun(RAI_ScriptRunCtx *sctx, RAI_Error *err) noexcept nogil:
    return run_sync(<RunCtx **>&sctx, 1, err)


cdef public int rai_llapi_ScriptRunAsync(RAI_ScriptRunCtx *sctx, RAI_OnFinishCB cb,
                                         void *private_data) noexcept nogil:
    return run_async(<RunCtx *>sctx, cb, private_data)


cdef public RAI_ScriptRunCtx *rai_llapi_GetAsScriptRunCtx(RAI_OnFinishCtx *ctx,
                                                          RAI_Error *err) noexcept nogil:
    return <RAI_ScriptRunCtx *>finished_run(ctx, OWNER_SCRIPT_RUN, E_LL_NOT_SCRIPT_CTX, err)


cdef public RAI_Script *rai_llapi_ScriptGetShallowCopy(RAI_Script *script) noexcept nogil:
    return <RAI_Script *>model_retain(<Model *>script)


cdef public RedisModuleType *rai_llapi_ScriptRedisType() noexcept nogil:
    return ScriptType


# ---------------------------------------------------------------- DAGs

ctypedef struct Step:               # RAI_DAGRunOp; an op of an LLAPI DAG
    Op op                           # slots unset until the DAG runs (API ops: arrays too)
    uint32_t nin
    char **in_names
    uint32_t nout
    char **out_names

ctypedef struct DagCtx:             # RAI_DAGRunCtx
    uint8_t kind                    # OWNER_DAG
    int nsteps
    Step **steps
    int nloaded
    char **loaded_names
    Tensor **loaded                 # references
    Dag *dag                        # the request, once run
    Error error                     # DAGGetError's, filled when asked


cdef void append_name(char ***names, uint32_t *n, const char *name) noexcept nogil:
    names[0] = <char **>RedisModule_Realloc(names[0], (n[0] + 1) * sizeof(char *))
    names[0][n[0]] = rm_strndup(name, strlen(name))
    n[0] += 1


cdef void free_names(char **names, uint32_t n) noexcept nogil:
    cdef uint32_t i
    for i in range(n):
        RedisModule_Free(names[i])
    if names != NULL:
        RedisModule_Free(names)


cdef Step *step_new() noexcept nogil:
    cdef Step *s = <Step *>RedisModule_Alloc(sizeof(Step))
    memset(s, 0, sizeof(Step))
    return s


cdef void step_free(Step *s) noexcept nogil:
    op_clear(&s.op)
    free_names(s.in_names, s.nin)
    free_names(s.out_names, s.nout)
    RedisModule_Free(s)


cdef void append_step(DagCtx *d, Step *s) noexcept nogil:
    d.steps = <Step **>RedisModule_Realloc(d.steps, (d.nsteps + 1) * sizeof(Step *))
    d.steps[d.nsteps] = s
    d.nsteps += 1


cdef public RAI_DAGRunCtx *rai_llapi_DAGRunCtxCreate() noexcept nogil:
    cdef DagCtx *d = <DagCtx *>RedisModule_Alloc(sizeof(DagCtx))
    memset(d, 0, sizeof(DagCtx))
    d.kind = OWNER_DAG
    return <RAI_DAGRunCtx *>d


cdef Step *run_step(int kind, Model *m, const char *function) noexcept nogil:
    cdef Step *s = step_new()
    s.op.kind = kind
    s.op.model = model_retain(m)
    if function != NULL:
        s.op.function = rm_strndup(function, strlen(function))
    return s


cdef public RAI_DAGRunOp *rai_llapi_DAGCreateModelRunOp(RAI_Model *model) noexcept nogil:
    return <RAI_DAGRunOp *>run_step(OP_MODEL, <Model *>model, NULL)


cdef public RAI_DAGRunOp *rai_llapi_DAGCreateScriptRunOp(RAI_Script *script,
                                                         const char *func_name) noexcept nogil:
    return <RAI_DAGRunOp *>run_step(OP_SCRIPT, <Model *>script, func_name)


cdef public int rai_llapi_DAGRunOpAddInput(RAI_DAGRunOp *op, const char *input) noexcept nogil:
    cdef Step *s = <Step *>op
    append_name(&s.in_names, &s.nin, input)
    return REDISMODULE_OK


cdef public int rai_llapi_DAGRunOpAddOutput(RAI_DAGRunOp *op, const char *output) noexcept nogil:
    cdef Step *s = <Step *>op
    append_name(&s.out_names, &s.nout, output)
    return REDISMODULE_OK


cdef public int rai_llapi_DAGAddRunOp(RAI_DAGRunCtx *dag, RAI_DAGRunOp *op,
                                      RAI_Error *err) noexcept nogil:
    """Takes the op on success; on error the caller still owns it."""
    cdef Step *s = <Step *>op
    cdef Model *m = s.op.model
    if s.op.kind == OP_MODEL and s.nin != m.ninputs:
        set_error(err, RAI_EDAGBUILDER, err_text(E_LL_INPUTS_MISMATCH))
        return REDISMODULE_ERR
    if s.op.kind == OP_MODEL and s.nout != m.noutputs:
        set_error(err, RAI_EDAGBUILDER, err_text(E_LL_OUTPUTS_MISMATCH))
        return REDISMODULE_ERR
    cdef char *function = s.op.function
    op_init(&s.op, s.op.kind, m, s.nin, s.nout)     # its arrays, now that the counts are known
    model_release(m)
    s.op.function = function
    append_step(<DagCtx *>dag, s)
    return REDISMODULE_OK


cdef public int rai_llapi_DAGLoadTensor(RAI_DAGRunCtx *dag, const char *t_name,
                                        RAI_Tensor *tensor) noexcept nogil:
    cdef DagCtx *d = <DagCtx *>dag
    cdef int i
    for i in range(d.nloaded):
        if strcmp(d.loaded_names[i], t_name) == 0:
            return REDISMODULE_ERR
    cdef uint32_t n = d.nloaded
    append_name(&d.loaded_names, &n, t_name)
    d.loaded = <Tensor **>RedisModule_Realloc(d.loaded, n * sizeof(Tensor *))
    d.loaded[d.nloaded] = tensor_retain(<Tensor *>tensor)
    d.nloaded = n
    return REDISMODULE_OK


cdef public int rai_llapi_DAGAddTensorSet(RAI_DAGRunCtx *dag, const char *t_name,
                                          RAI_Tensor *tensor) noexcept nogil:
    cdef Step *s = step_new()
    op_init(&s.op, OP_TENSORSET, NULL, 0, 1)
    s.op.outputs[0] = tensor_retain(<Tensor *>tensor)
    append_name(&s.out_names, &s.nout, t_name)
    append_step(<DagCtx *>dag, s)
    return REDISMODULE_OK


cdef public int rai_llapi_DAGAddTensorGet(RAI_DAGRunCtx *dag, const char *t_name) noexcept nogil:
    cdef Step *s = step_new()
    op_init(&s.op, OP_TENSORGET, NULL, 1, 0)
    append_name(&s.in_names, &s.nin, t_name)
    append_step(<DagCtx *>dag, s)
    return REDISMODULE_OK


cdef RedisModuleCtx *detached = NULL


cdef public int rai_llapi_DAGAddOpsFromString(RAI_DAGRunCtx *dag, const char *dag_str,
                                              RAI_Error *err) noexcept nogil:
    """The caller holds the server lock: model and script keys are read (db 0)."""
    global detached
    if detached == NULL:
        detached = RedisModule_GetThreadSafeContext(NULL)
    # Tokens are split on single spaces, as the reference does.
    cdef size_t len = strlen(dag_str), i, start = 0
    cdef int argc = 0, k
    cdef RedisModuleString **argv = <RedisModuleString **>RedisModule_Alloc(
        (len + 2) * sizeof(RedisModuleString *))
    for i in range(len + 1):
        if i == len or dag_str[i] == b' ':
            argv[argc] = RedisModule_CreateString(NULL, dag_str + start, i - start)
            argc += 1
            start = i + 1
    cdef Dag *parsed = dag_new(0, argc)
    cdef RedisModuleString *bad = NULL
    cdef Err e = parse_dag_ops(detached, argv, argc, parsed, &bad)
    cdef Step *s
    cdef Op *op
    cdef uint32_t j
    if e != E_OK and bad != NULL:
        set_error_owned(err, RAI_EDAGBUILDER, error_message_token(e, bad))
    elif e != E_OK:
        set_error(err, RAI_EDAGBUILDER, err_text(e))
    else:
        for k in range(parsed.nops):
            s = step_new()
            op = &parsed.ops[k]
            for j in range(op.ninputs):
                append_name(&s.in_names, &s.nin, RedisModule_StringPtrLen(argv[op.in_slots[j]], NULL))
            for j in range(op.noutputs):
                append_name(&s.out_names, &s.nout,
                            RedisModule_StringPtrLen(argv[op.out_slots[j]], NULL))
            s.op = op[0]                # the step takes what the op owns
            memset(op, 0, sizeof(Op))
            append_step(<DagCtx *>dag, s)
    dag_free(parsed)
    for k in range(argc):
        RedisModule_FreeString(NULL, argv[k])
    RedisModule_Free(argv)
    return REDISMODULE_OK if e == E_OK else REDISMODULE_ERR


cdef public size_t rai_llapi_DAGNumOps(RAI_DAGRunCtx *dag) noexcept nogil:
    cdef DagCtx *d = <DagCtx *>dag
    return d.dag.nops if d.dag != NULL else d.nsteps


cdef int find_slot(char **names, int n, const char *name) noexcept nogil:
    """The latest slot of that name (a later output shadows), -1 if none."""
    cdef int i
    for i in range(n - 1, -1, -1):
        if strcmp(names[i], name) == 0:
            return i
    return -1


cdef Err resolve(DagCtx *d, Dag *dag) noexcept nogil:
    """Moves the loaded tensors and the steps' ops into the request, binding
    each input to the latest slot of its name before it; each output gets a
    new slot."""
    cdef char **names = <char **>RedisModule_Alloc((dag.nslots + 1) * sizeof(char *))
    cdef int i, slot, n = 0
    cdef uint32_t k
    cdef Step *s
    cdef Op *op
    cdef Err e = E_OK
    for i in range(d.nloaded):
        dag.slots[n] = d.loaded[i]
        d.loaded[i] = NULL
        names[n] = d.loaded_names[i]
        n += 1
    for i in range(d.nsteps):
        s = d.steps[i]
        op = &dag.ops[i]
        op[0] = s.op
        memset(&s.op, 0, sizeof(Op))
        for k in range(s.nin):
            slot = find_slot(names, n, s.in_names[k])
            if slot < 0:
                e = E_DAG_INPUT_NOT_FOUND
                break
            op.in_slots[k] = slot
        if e != E_OK:
            break
        for k in range(s.nout):
            op.out_slots[k] = n
            names[n] = s.out_names[k]
            n += 1
        if op.kind == OP_TENSORSET:
            dag.slots[op.out_slots[0]] = op.outputs[0]
            op.outputs[0] = NULL
    RedisModule_Free(names)
    return e


cdef public int rai_llapi_DAGRun(RAI_DAGRunCtx *dag, RAI_OnFinishCB cb, void *private_data,
                                 RAI_Error *err) noexcept nogil:
    cdef DagCtx *d = <DagCtx *>dag
    if d.nsteps == 0:
        set_error(err, RAI_EDAGBUILDER, err_text(E_DAG_EMPTY))
        return REDISMODULE_ERR
    cdef int i, nslots = d.nloaded
    for i in range(d.nsteps):
        nslots += d.steps[i].nout
    d.dag = dag_new(nslots, d.nsteps)
    d.dag.owner = d
    cdef Err e = resolve(d, d.dag)
    for i in range(d.nsteps):       # their ops are the request's now
        step_free(d.steps[i])
    d.nsteps = 0
    if e != E_OK:                   # never queued: DAGFree frees it
        set_error(err, RAI_EDAGBUILDER, err_text(e))
        return REDISMODULE_ERR
    d.dag.on_finish = <DagFinish>cb
    d.dag.on_finish_data = private_data
    dag_submit_detached(d.dag)
    return REDISMODULE_OK


cdef Op *nth_get(Dag *dag, size_t index) noexcept nogil:
    cdef int i
    for i in range(dag.nops):
        if dag.ops[i].kind == OP_TENSORGET:
            if index == 0:
                return &dag.ops[i]
            index -= 1
    return NULL


cdef public size_t rai_llapi_DAGNumOutputs(RAI_OnFinishCtx *finish_ctx) noexcept nogil:
    cdef Dag *dag = <Dag *>finish_ctx
    cdef size_t n = 0
    cdef int i
    for i in range(dag.nops):
        n += dag.ops[i].kind == OP_TENSORGET
    return n


cdef public const RAI_Tensor *rai_llapi_DAGOutputTensor(RAI_OnFinishCtx *finish_ctx,
                                                        size_t index) noexcept nogil:
    cdef Dag *dag = <Dag *>finish_ctx
    cdef Op *op = nth_get(dag, index)
    return <RAI_Tensor *>dag.slots[op.in_slots[0]] if op != NULL else NULL


cdef public int rai_llapi_DAGRunError(RAI_OnFinishCtx *finish_ctx) noexcept nogil:
    return (<Dag *>finish_ctx).stop != RUNNING


cdef public const RAI_Error *rai_llapi_DAGGetError(RAI_OnFinishCtx *finish_ctx) noexcept nogil:
    cdef Dag *dag = <Dag *>finish_ctx
    cdef DagCtx *d = <DagCtx *>dag.owner
    cdef int i
    for i in range(dag.nops):
        if dag.ops[i].state == OP_FAILED:
            set_error(<RAI_Error *>&d.error,
                      RAI_ESCRIPTRUN if dag.ops[i].kind == OP_SCRIPT else RAI_EMODELRUN,
                      dag.ops[i].error)
            break
    return <RAI_Error *>&d.error


cdef public void rai_llapi_DAGRunOpFree(RAI_DAGRunOp *op) noexcept nogil:
    step_free(<Step *>op)


cdef public void rai_llapi_DAGFree(RAI_DAGRunCtx *dag) noexcept nogil:
    cdef DagCtx *d = <DagCtx *>dag
    cdef int i
    for i in range(d.nsteps):
        step_free(d.steps[i])
    if d.steps != NULL:
        RedisModule_Free(d.steps)
    for i in range(d.nloaded):
        tensor_release(d.loaded[i])
    free_names(d.loaded_names, d.nloaded)
    if d.loaded != NULL:
        RedisModule_Free(d.loaded)
    if d.dag != NULL:
        dag_free(d.dag)
    rai_llapi_ClearError(<RAI_Error *>&d.error)
    RedisModule_Free(d)
