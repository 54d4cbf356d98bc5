# cython: language_level=3
from libc.string cimport strlen
from posix.strings cimport strncasecmp
from posix.signal cimport sigaction, sigaction_t
from libc.signal cimport SIGINT, SIGTERM, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPIPE, SIGHUP, SIGALRM, SIGUSR1

from libc.stdint cimport int64_t, uint32_t
from libc.string cimport memcpy
from cpython.ref cimport Py_INCREF, Py_DECREF
from cpython.object cimport PyTypeObject

from redisai.rm cimport *
from redisai.tensor cimport *
from redisai.model cimport (Model, Op, KIND_SCRIPT, OP_SCRIPT, model_set_names, rm_strndup,
                            set_session_release)
from redisai.errors cimport Err, error_message, E_BATCH_OUTPUT, E_TF_BATCH_OUTPUT
from redisai.clock cimport now_ns
from redisai.pthread cimport pthread_mutex_t, pthread_mutex_init, pthread_mutex_lock, pthread_mutex_unlock

cdef extern from "<string.h>" nogil:
    char *strdup(const char *s)

# numpy's C API: tensors become arrays (and arrays tensors) without the
# buffer protocol's per-call Python objects. Its function table is filled
# by import_numpy() with the first model; nothing here runs before that.
cdef extern from *:
    """
    #define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
    """
cdef extern from "numpy/arrayobject.h":
    ctypedef Py_ssize_t npy_intp
    ctypedef struct PyArrayObject
    PyTypeObject PyArray_Type
    enum:
        NPY_BOOL, NPY_INT8, NPY_INT16, NPY_INT32, NPY_INT64, NPY_UINT8, NPY_UINT16, NPY_FLOAT,
        NPY_DOUBLE
    int _import_array() except -1
    object PyArray_New(PyTypeObject *subtype, int nd, npy_intp *dims, int type_num,
                       npy_intp *strides, void *data, int itemsize, int flags, object obj)
    int PyArray_SetBaseObject(PyArrayObject *arr, object base) except -1    # steals `base`
    bint PyArray_CheckExact(object o)
    bint PyArray_IS_C_CONTIGUOUS(PyArrayObject *arr)
    int PyArray_TYPE(PyArrayObject *arr)
    int PyArray_NDIM(PyArrayObject *arr)
    npy_intp *PyArray_DIMS(PyArrayObject *arr)
    char *PyArray_BYTES(PyArrayObject *arr)
    npy_intp PyArray_NBYTES(PyArrayObject *arr)

# numpy type of each DType (STRING: its blob, as uint8).
cdef int NPY_TYPES[<int>DT_COUNT]
NPY_TYPES[:] = [NPY_FLOAT, NPY_DOUBLE, NPY_INT8, NPY_INT16, NPY_INT32, NPY_INT64, NPY_UINT8,
                NPY_UINT16, NPY_BOOL, NPY_UINT8]

cdef extern from *:
    """
    /* The script call a worker thread is running (redisai.host reads it). */
    static __thread const void *redisai_current_call;
    """
    const void *redisai_current_call

BACKENDS[<int>BE_TF] = BackendInfo(b"TF", b"TensorFlow_version", NULL, NULL)
BACKENDS[<int>BE_TFLITE] = BackendInfo(b"TFLITE", b"TensorFlowLite_version", NULL, NULL)
BACKENDS[<int>BE_TORCH] = BackendInfo(b"TORCH", b"Torch_version", NULL, NULL)
BACKENDS[<int>BE_ONNX] = BackendInfo(b"ONNX", b"onnxruntime_version", NULL, NULL)

# Signals Redis handles itself; a framework import must not take them over.
cdef int[10] GUARDED_SIGNALS = [SIGINT, SIGTERM, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPIPE,
                                SIGHUP, SIGALRM, SIGUSR1]


cdef int backend_from_name(const char *name, size_t len) noexcept nogil:
    cdef int i
    for i in range(<int>BE_COUNT):
        if strncasecmp(name, BACKENDS[i].name, len) == 0 and BACKENDS[i].name[len] == 0:
            return i
    return -1


cdef int load_backend(RedisModuleCtx *ctx, int backend, const char *path,
                      bint loaded_is_error) noexcept nogil:
    cdef sigaction_t saved[10]
    cdef int i
    cdef bint was_loaded = False
    cdef char *version = NULL
    for i in range(10):
        sigaction(GUARDED_SIGNALS[i], NULL, &saved[i])
    with gil:
        # Checked under the GIL: two first stores may race to import.
        was_loaded = BACKENDS[backend].version != NULL
        if not was_loaded:
            version = import_backend(ctx, backend, path)
            BACKENDS[backend].version = version
    for i in range(10):
        sigaction(GUARDED_SIGNALS[i], &saved[i], NULL)
    if was_loaded:
        if loaded_is_error:
            set_backend_error(backend, b"the backend is already loaded")
            RedisModule_Log(ctx, b"warning", b"redisai: backend %s is already loaded",
                            BACKENDS[backend].name)
        return REDISMODULE_ERR if loaded_is_error else REDISMODULE_OK
    if version == NULL:
        return REDISMODULE_ERR
    RedisModule_Log(ctx, b"notice", b"redisai: backend %s loaded (version %s)",
                    BACKENDS[backend].name, version)
    return REDISMODULE_OK


cdef pthread_mutex_t error_lock          # BACKENDS[].error: set by any thread
pthread_mutex_init(&error_lock, NULL)


cdef void set_backend_error(int backend, const char *text) noexcept nogil:
    pthread_mutex_lock(&error_lock)
    if BACKENDS[backend].error != NULL:
        RedisModule_Free(BACKENDS[backend].error)
    BACKENDS[backend].error = rm_strndup(text, strlen(text))
    pthread_mutex_unlock(&error_lock)


cdef char *backend_error_message(Err err, int backend) noexcept nogil:
    pthread_mutex_lock(&error_lock)
    cdef char *message = error_message(err, BACKENDS[backend].error)
    pthread_mutex_unlock(&error_lock)
    return message


cdef char *import_backend(RedisModuleCtx *ctx, int backend, const char *path) noexcept:
    name = BACKENDS[backend].name
    try:
        from redisai import backends
        version = backends.load(name.decode(), path.decode("utf-8", "surrogateescape"))
        return strdup(version.encode())
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}".replace("\n", " ").encode("utf-8", "replace")
        set_backend_error(backend, message)
        RedisModule_Log(ctx, b"warning", b"redisai: cannot load backend %s: %s", <const char *>name,
                        <const char *>message)
        return NULL


cdef int reply_tensor_view(RedisModuleCtx *ctx, Tensor *t) noexcept nogil:
    with gil:
        return reply_view_locked(ctx, t)


cdef int reply_view_locked(RedisModuleCtx *ctx, Tensor *t) noexcept:
    try:
        zero_copy, dtype, shape, checksum = describe_view(t)
    except Exception as exc:
        message = f"ERR {type(exc).__name__}: {exc}".replace("\n", " ").encode()
        return RedisModule_ReplyWithError(ctx, message)
    RedisModule_ReplyWithArray(ctx, 8)
    RedisModule_ReplyWithStringBuffer(ctx, b"zero_copy", 9)
    RedisModule_ReplyWithLongLong(ctx, zero_copy)
    reply_str(ctx, b"dtype", dtype.encode())
    RedisModule_ReplyWithStringBuffer(ctx, b"shape", 5)
    RedisModule_ReplyWithArray(ctx, len(shape))
    for d in shape:
        RedisModule_ReplyWithLongLong(ctx, d)
    reply_str(ctx, b"sum", repr(checksum).encode())
    return REDISMODULE_OK


cdef void reply_str(RedisModuleCtx *ctx, bytes name, bytes value):
    RedisModule_ReplyWithStringBuffer(ctx, name, len(name))
    RedisModule_ReplyWithStringBuffer(ctx, value, len(value))


cdef tuple describe_view(Tensor *t):
    import_numpy()
    array = numpy_view(t)
    zero_copy = array.ctypes.data == <size_t>tensor_data(t) and not array.flags.writeable
    if t.dtype == DT_STRING:
        checksum = sum(len(e) for e in array.tobytes().split(b"\0")[:-1])
    else:
        checksum = array.astype(numpy.float64).sum().item()
    return int(zero_copy), array.dtype.name, array.shape, checksum


cdef class RedisLog:
    """A sys.stdout / sys.stderr that writes whole lines to the Redis log, so
    Python output and tracebacks survive `--daemonize yes`."""
    cdef bytes level
    cdef str pending
    cdef int fd
    encoding = "utf-8"

    def __init__(self, bytes level, int fd):
        self.level = level
        self.pending = ""
        self.fd = fd

    def write(self, str text):
        self.pending += text
        cdef str line
        while "\n" in self.pending:
            line, _, self.pending = self.pending.partition("\n")
            if line.strip():
                data = line.encode("utf-8", "replace")
                RedisModule_Log(NULL, self.level, b"%s", <const char *>data)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        return self.fd


import sys
sys.stdout = RedisLog(b"notice", 1)
sys.stderr = RedisLog(b"warning", 2)


# ---- models ------------------------------------------------------------------

cdef object numpy = None                  # imported with the first model
cdef dict NUMPY_DTYPES = None              # numpy dtype number -> DType
cdef object BackendError = None
cdef object string_blob = None

cdef enum:
    # Outputs at least this large are copied with the GIL released, so other
    # workers' calls go on meanwhile; for smaller ones the release would cost
    # more than the copy.
    GIL_FREE_COPY_BYTES = 1 << 16


cdef char *error_text(object exc) noexcept:
    """The reply text for a backend exception, one line, Redis-allocated."""
    text = str(exc) or type(exc).__name__
    data = text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")
    return rm_strndup(data, len(data))


cdef void import_numpy():
    global numpy, NUMPY_DTYPES, BackendError, string_blob
    if numpy is not None:
        return
    import numpy as np
    from redisai import backends
    _import_array()
    numpy = np
    BackendError = backends.BackendError
    string_blob = backends.string_blob
    # Keyed by dtype number (dtype.name is slow, and int64 has two numbers).
    by_kind = {("f", 4): DT_FLOAT, ("f", 8): DT_DOUBLE, ("i", 1): DT_INT8, ("i", 2): DT_INT16,
               ("i", 4): DT_INT32, ("i", 8): DT_INT64, ("u", 1): DT_UINT8, ("u", 2): DT_UINT16,
               ("b", 1): DT_BOOL}
    NUMPY_DTYPES = {}
    for code in np.typecodes["All"]:
        d = np.dtype(code)
        dtype = DT_STRING if d.kind in "OSU" else by_kind.get((d.kind, d.itemsize))
        if dtype is not None:
            NUMPY_DTYPES[d.num] = dtype


cdef list c_names(uint32_t n, char **names):
    return [names[i].decode("utf-8", "surrogateescape") for i in range(n)]


cdef const char **names_array(list encoded) noexcept:
    cdef const char **out = <const char **>RedisModule_Alloc((len(encoded) + 1) * sizeof(char *))
    for i, name in enumerate(encoded):
        out[i] = <const char *>name
    return out


cdef int build_model(Model *m, long long intra_op, long long inter_op, long long execution_timeout_ms,
                     char **error) noexcept nogil:
    with gil:
        return build_locked(m, intra_op, inter_op, execution_timeout_ms, error)


cdef int build_locked(Model *m, long long intra_op, long long inter_op, long long execution_timeout_ms,
                      char **error) noexcept:
    cdef const char **ins
    cdef const char **outs
    try:
        import_numpy()
        from redisai import backends
        settings = backends.Settings(intra_op, inter_op, execution_timeout_ms)
        if m.kind == KIND_SCRIPT:
            session = new_script(m, settings)
        else:
            session = backends.create(BACKENDS[m.backend].name.decode(), m.blob[:m.bloblen],
                                      m.device.decode(), c_names(m.ninputs, m.inputs),
                                      c_names(m.noutputs, m.outputs), settings)
        if m.kind != KIND_SCRIPT and m.backend != BE_TF:
            inputs = [n.encode("utf-8", "surrogateescape") for n in session.inputs]
            outputs = [n.encode("utf-8", "surrogateescape") for n in session.outputs]
            ins = names_array(inputs)
            outs = names_array(outputs)
            model_set_names(m, len(inputs), ins, len(outputs), outs)
            RedisModule_Free(ins)
            RedisModule_Free(outs)
    except BaseException as exc:
        error[0] = error_text(exc)
        return REDISMODULE_ERR
    Py_INCREF(session)
    m.session = <void *>session
    return REDISMODULE_OK


cdef void release_session_locked(void *session) noexcept nogil:
    with gil:
        Py_DECREF(<object>session)


cdef object numpy_view(Tensor *t):
    """A read-only numpy array over a tensor's data (no copy), holding a
    reference to the tensor; a STRING tensor's is its blob, as uint8."""
    cdef npy_intp blob_len = t.nbytes
    # int64_t dims are npy_intp on the 64-bit platforms we build for.
    array = PyArray_New(&PyArray_Type, 1 if t.dtype == DT_STRING else t.ndims,
                        &blob_len if t.dtype == DT_STRING else <npy_intp *>tensor_dims(t),
                        NPY_TYPES[t.dtype], NULL, tensor_data(t), 0, 0, None)
    view = tensor_view(t, False)
    Py_INCREF(view)
    PyArray_SetBaseObject(<PyArrayObject *>array, view)
    return array


cdef object input_array(Tensor *t):
    """A numpy view of a tensor (no copy); STRING tensors become an array of
    bytes elements (frameworks need one object per element)."""
    array = numpy_view(t)
    if t.dtype == DT_STRING:
        elements = array.tobytes().split(b"\0")[:-1]
        out = numpy.empty(len(elements), dtype=object)
        out[:] = elements
        return out.reshape([tensor_dims(t)[i] for i in range(t.ndims)])
    if t.external and (<size_t>tensor_data(t)) % dtype_info(t.dtype).size:
        # A large BLOB kept in its (unaligned) argument string: frameworks need
        # aligned elements, so this one input is copied, here on the worker.
        return array.copy()
    return array


cdef Tensor *output_tensor(object result) except NULL:
    """Copies a backend output (a numpy array) into a new Redis-allocated tensor."""
    cdef const char *src
    cdef size_t nbytes
    array = result if PyArray_CheckExact(result) else numpy.asarray(result)
    cdef PyArrayObject *a = <PyArrayObject *>array
    dtype = NUMPY_DTYPES.get(PyArray_TYPE(a))
    if dtype is None:
        raise BackendError("ERR unsupported dtype")
    if dtype == DT_STRING:
        data = string_blob(array)
        src = <bytes>data
        nbytes = len(<bytes>data)
    else:
        data = array if PyArray_IS_C_CONTIGUOUS(a) else array.copy()
        src = PyArray_BYTES(<PyArrayObject *>data)
        nbytes = PyArray_NBYTES(<PyArrayObject *>data)
    cdef Tensor *t = tensor_new(dtype, PyArray_NDIM(a), <int64_t *>PyArray_DIMS(a), nbytes)
    if t == NULL:
        raise MemoryError("OOM not enough memory for the tensor")
    if nbytes < GIL_FREE_COPY_BYTES:
        memcpy(tensor_data(t), src, nbytes)
    else:               # `data` holds the bytes meanwhile
        with nogil:
            memcpy(tensor_data(t), src, nbytes)
    return t


cdef object script_host = None


cdef void set_script_host(object host):
    global script_host
    script_host = host


cdef object new_script(Model *m, object settings):
    from redisai.backends import script
    script.host = script_host
    return script.Script(m.blob[:m.bloblen].decode("utf-8", "replace"), m.device.decode(),
                         c_names(m.nentry, m.entry_points), settings)


cdef const CallContext *current_call() noexcept nogil:
    return <const CallContext *>redisai_current_call


cdef list text_list(uint32_t n, RedisModuleString **strings):
    cdef size_t len
    cdef const char *s
    out = []
    for i in range(n):
        s = RedisModule_StringPtrLen(strings[i], &len)
        out.append(s[:len].decode("utf-8", "replace"))
    return out


cdef void run_op(Op *op, const CallContext *call) noexcept nogil:
    global redisai_current_call
    redisai_current_call = call
    with gil:
        run_locked(op)
    redisai_current_call = NULL


cdef void run_locked(Op *op) noexcept:
    cdef uint32_t i
    cdef long long start
    try:
        session = <object>op.model.session
        arrays = [input_array(op.inputs[i]) for i in range(op.ninputs)]
        if op.kind == OP_SCRIPT:
            keys = text_list(op.nkeys, op.keys)
            args = text_list(op.nargs, op.args)
            function = op.function.decode("utf-8", "replace")
            start = now_ns()
            results = session.run(function, arrays, keys, args, op.noutputs)
        else:
            start = now_ns()
            results = session.run(arrays)
        op.duration_us = (now_ns() - start) // 1000
        for i in range(min(op.noutputs, len(results))):
            if results[i] is not None:
                op.outputs[i] = output_tensor(results[i])
    except BaseException as exc:
        op.error = error_text(exc)



cdef void run_batch(Op **ops, int n, Tensor **inputs) noexcept nogil:
    with gil:
        run_batch_locked(ops, n, inputs)


cdef void run_batch_locked(Op **ops, int n, Tensor **inputs) noexcept:
    cdef Op *head = ops[0]
    cdef uint32_t i
    cdef int j
    cdef int64_t row, rows
    cdef long long start, duration_us = 0
    cdef int64_t total = tensor_dims(inputs[0])[0]
    cdef char *error = NULL
    try:
        arrays = [input_array(inputs[i]) for i in range(head.ninputs)]
        start = now_ns()
        results = (<object>head.model.session).run(arrays)
        duration_us = (now_ns() - start) // 1000
        for i in range(min(head.noutputs, len(results))):
            if results[i] is None:
                continue
            result = numpy.asarray(results[i])
            if result.ndim == 0 and head.model.backend == BE_TF:
                for j in range(n):          # TF: a scalar output goes to every request whole
                    ops[j].outputs[i] = output_tensor(result)
                continue
            if result.ndim == 0 or result.shape[0] != total:
                error = error_message(E_TF_BATCH_OUTPUT if head.model.backend == BE_TF
                                      else E_BATCH_OUTPUT, NULL)
                break
            row = 0
            for j in range(n):      # each request's rows, copied once
                rows = tensor_dims(ops[j].inputs[0])[0]
                ops[j].outputs[i] = output_tensor(result[row:row + rows])
                row += rows
    except BaseException as exc:
        error = error_text(exc)
    for j in range(n):
        ops[j].duration_us = duration_us
        if error != NULL:
            for i in range(head.noutputs):
                tensor_release(ops[j].outputs[i])
                ops[j].outputs[i] = NULL
            ops[j].error = rm_strndup(error, strlen(error))
    if error != NULL:
        RedisModule_Free(error)


set_session_release(release_session_locked)
