# cython: language_level=3
from libc.stdio cimport snprintf
from libc.string cimport strlen, memcpy
from posix.resource cimport getrusage, rusage, RUSAGE_SELF, RUSAGE_CHILDREN
from posix.time cimport timespec, clock_gettime, clockid_t

from redisai.rm cimport *
from redisai.errors cimport *
from redisai.parse cimport token_is
from redisai.queue cimport RunQueue, all_queues
from redisai.bridge cimport (BACKENDS, BE_COUNT, BE_TF, BE_TFLITE, BE_TORCH, BE_ONNX,
                             backend_from_name, backend_error_message, load_backend, build_model)
from redisai.model cimport Model
from redisai.pthread cimport pthread_getcpuclockid

cdef extern from "<sys/resource.h>" nogil:
    enum: RUSAGE_THREAD

cdef extern from "allocator.h" nogil:
    void rai_release_free_memory()

cdef extern from "build_config.h":
    const char *REDISAI_VERSION
    const char *REDISAI_GIT_SHA

config.backends_path = NULL
config.threads_per_queue = 1
config.intra_op_parallelism = 0
config.inter_op_parallelism = 0
config.model_chunk_size = 535822336           # 511 MiB
config.model_execution_timeout = 5000
config.backend_memory_limit = 0

# The argument that chooses the interpreter; consumed by csrc/module.c.
cdef const char *PYTHON_EXECUTABLE = b"PYTHON_EXECUTABLE"


cdef char *rm_strdup(const char *s, size_t len) noexcept nogil:
    cdef char *copy = <char *>RedisModule_Alloc(len + 1)
    memcpy(copy, s, len)
    copy[len] = 0
    return copy


cdef void set_backends_path(const char *path, size_t len) noexcept nogil:
    if config.backends_path != NULL:
        RedisModule_Free(config.backends_path)
    config.backends_path = rm_strdup(path, len)


cdef int load_backend_at(RedisModuleCtx *ctx, int backend, RedisModuleString *path) noexcept nogil:
    """Loads a backend; a relative path is taken under BACKENDSPATH."""
    cdef size_t len, base = strlen(config.backends_path)
    cdef const char *p = RedisModule_StringPtrLen(path, &len)
    if len > 0 and p[0] == b'/':
        return load_backend(ctx, backend, p, True)
    cdef char *full = <char *>RedisModule_Alloc(base + len + 2)
    snprintf(full, base + len + 2, b"%s/%s", config.backends_path, p)
    cdef int rc = load_backend(ctx, backend, full, True)
    RedisModule_Free(full)
    return rc


# Where the reference kept each backend library, under BACKENDSPATH.
cdef const char *DEFAULT_BACKEND_PATHS[4]
DEFAULT_BACKEND_PATHS[<int>BE_TF] = b"redisai_tensorflow/redisai_tensorflow.so"
DEFAULT_BACKEND_PATHS[<int>BE_TFLITE] = b"redisai_tflite/redisai_tflite.so"
DEFAULT_BACKEND_PATHS[<int>BE_TORCH] = b"redisai_torch/redisai_torch.so"
DEFAULT_BACKEND_PATHS[<int>BE_ONNX] = b"redisai_onnxruntime/redisai_onnxruntime.so"


cdef int ensure_backend(int backend) noexcept nogil:
    if BACKENDS[backend].version != NULL:
        return REDISMODULE_OK
    cdef size_t size = strlen(config.backends_path) + strlen(DEFAULT_BACKEND_PATHS[backend]) + 2
    cdef char *path = <char *>RedisModule_Alloc(size)
    snprintf(path, size, b"%s/%s", config.backends_path, DEFAULT_BACKEND_PATHS[backend])
    cdef int rc = load_backend(NULL, backend, path, False)
    RedisModule_Free(path)
    return rc


cdef int build_configured(Model *m, char **error) noexcept nogil:
    cdef int rc = build_model(m, config.intra_op_parallelism, config.inter_op_parallelism,
                              config.model_execution_timeout, error)
    rai_release_free_memory()
    return rc


cdef bint positive(RedisModuleString *value, long long minimum, long long *out) noexcept nogil:
    cdef long long v
    if RedisModule_StringToLongLong(value, &v) != REDISMODULE_OK or v < minimum:
        return False
    out[0] = v
    return True


cdef int apply_arg(RedisModuleCtx *ctx, RedisModuleString *name, RedisModuleString *value) noexcept nogil:
    cdef size_t len
    cdef const char *n = RedisModule_StringPtrLen(name, &len)
    cdef long long *target = NULL
    cdef long long minimum = 1
    cdef int backend = backend_from_name(n, len)
    if backend >= 0:
        return load_backend_at(ctx, backend, value)
    if token_is(name, b"BACKENDSPATH") or token_is(name, PYTHON_EXECUTABLE):
        return REDISMODULE_OK                  # applied before the others
    if token_is(name, b"THREADS_PER_QUEUE"):
        target = &config.threads_per_queue
    elif token_is(name, b"INTRA_OP_PARALLELISM"):
        target = &config.intra_op_parallelism
    elif token_is(name, b"INTER_OP_PARALLELISM"):
        target = &config.inter_op_parallelism
    elif token_is(name, b"MODEL_CHUNK_SIZE"):
        target = &config.model_chunk_size
    elif token_is(name, b"MODEL_EXECUTION_TIMEOUT"):
        target = &config.model_execution_timeout
        minimum = 1000
    elif token_is(name, b"BACKEND_MEMORY_LIMIT"):
        target = &config.backend_memory_limit
    if target == NULL or not positive(value, minimum, target):
        return REDISMODULE_ERR
    RedisModule_Log(ctx, b"notice", b"Setting %s parameter to: %lld", n, target[0])
    return REDISMODULE_OK


cdef int apply_load_args(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
                         const char *module_dir) noexcept:
    cdef size_t len
    cdef const char *s
    cdef char *default_path = <char *>RedisModule_Alloc(strlen(module_dir) + 10)
    snprintf(default_path, strlen(module_dir) + 10, b"%s/backends", module_dir)
    set_backends_path(default_path, strlen(default_path))
    RedisModule_Free(default_path)
    if argc % 2 != 0:
        RedisModule_Log(ctx, b"warning",
                        b"redisai: odd number of module arguments; give them as NAME VALUE pairs")
        return REDISMODULE_ERR
    cdef int i
    for i in range(0, argc, 2):
        if token_is(argv[i], b"BACKENDSPATH"):
            s = RedisModule_StringPtrLen(argv[i + 1], &len)
            set_backends_path(s, len)
    for i in range(0, argc, 2):
        if apply_arg(ctx, argv[i], argv[i + 1]) != REDISMODULE_OK:
            RedisModule_Log(ctx, b"warning", b"ERR error processing argument: %s %s",
                            RedisModule_StringPtrLen(argv[i], NULL),
                            RedisModule_StringPtrLen(argv[i + 1], NULL))
            return REDISMODULE_ERR
    return REDISMODULE_OK


cdef int cmd_config(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    if argc < 2:
        return reply_arity(ctx, argv[0])
    cdef RedisModuleString *sub = argv[1]
    cdef size_t len
    cdef const char *s
    cdef long long chunk
    cdef int backend
    if token_is(sub, b"LOADBACKEND"):
        if argc < 4:
            return reply_arity(ctx, argv[0])
        s = RedisModule_StringPtrLen(argv[2], &len)
        backend = backend_from_name(s, len)
        if backend < 0:
            return reply_error(ctx, E_UNSUPPORTED_BACKEND)
        if load_backend_at(ctx, backend, argv[3]) != REDISMODULE_OK:
            return reply_owned_error(ctx, backend_error_message(E_LOAD_BACKEND, backend))
    elif token_is(sub, b"BACKENDSPATH"):
        if argc < 3:
            return reply_error(ctx, E_BACKENDSPATH_MISSING)
        s = RedisModule_StringPtrLen(argv[2], &len)
        set_backends_path(s, len)
    elif token_is(sub, b"MODEL_CHUNK_SIZE"):
        if argc < 3:
            return reply_error(ctx, E_CHUNK_MISSING)
        if not positive(argv[2], 1, &chunk):
            return reply_error(ctx, E_CHUNK_INVALID)
        config.model_chunk_size = chunk
    elif token_is(sub, b"GET"):
        if argc < 3:
            return reply_arity(ctx, argv[0])
        if token_is(argv[2], b"BACKENDSPATH"):
            return RedisModule_ReplyWithStringBuffer(ctx, config.backends_path,
                                                     strlen(config.backends_path))
        if token_is(argv[2], b"MODEL_CHUNK_SIZE"):
            return RedisModule_ReplyWithLongLong(ctx, config.model_chunk_size)
        return RedisModule_ReplyWithNull(ctx)
    else:
        return reply_error(ctx, E_UNSUPPORTED_SUBCOMMAND)
    return RedisModule_ReplyWithSimpleString(ctx, b"OK")


cdef void add_time(RedisModuleInfoCtx *ctx, const char *field, long sec, long usec) noexcept nogil:
    cdef char buf[48]
    snprintf(buf, sizeof(buf), b"%ld.%06ld", sec, usec)
    RedisModule_InfoAddFieldCString(ctx, field, buf)


cdef void add_rusage(RedisModuleInfoCtx *ctx, int who, const char *sys_field,
                     const char *user_field) noexcept nogil:
    cdef rusage ru
    if getrusage(who, &ru) != 0:
        RedisModule_InfoAddFieldCString(ctx, sys_field, b"N/A")
        RedisModule_InfoAddFieldCString(ctx, user_field, b"N/A")
        return
    add_time(ctx, sys_field, ru.ru_stime.tv_sec, ru.ru_stime.tv_usec)
    add_time(ctx, user_field, ru.ru_utime.tv_sec, ru.ru_utime.tv_usec)


cdef void info_func(RedisModuleInfoCtx *ctx, int for_crash_report) noexcept nogil:
    cdef int i
    cdef long long sessions = 0
    cdef RunQueue *q
    cdef char field[64]
    cdef clockid_t clock
    cdef timespec ts

    RedisModule_InfoAddSection(ctx, b"versions")
    RedisModule_InfoAddFieldCString(ctx, b"RedisAI_version", REDISAI_VERSION)
    RedisModule_InfoAddFieldLongLong(ctx, b"low_level_API_version", 1)
    RedisModule_InfoAddFieldLongLong(ctx, b"rdb_version", 4)

    RedisModule_InfoAddSection(ctx, b"git")
    RedisModule_InfoAddFieldCString(ctx, b"git_sha", REDISAI_GIT_SHA)

    RedisModule_InfoAddSection(ctx, b"load_time_configs")
    RedisModule_InfoAddFieldLongLong(ctx, b"threads_per_queue", config.threads_per_queue)
    RedisModule_InfoAddFieldLongLong(ctx, b"inter_op_parallelism", config.inter_op_parallelism)
    RedisModule_InfoAddFieldLongLong(ctx, b"intra_op_parallelism", config.intra_op_parallelism)
    RedisModule_InfoAddFieldLongLong(ctx, b"model_execution_timeout", config.model_execution_timeout)
    RedisModule_InfoAddFieldLongLong(ctx, b"backend_memory_limit", config.backend_memory_limit)

    RedisModule_InfoAddSection(ctx, b"backends_info")
    q = all_queues
    while q != NULL:
        sessions += q.nthreads
        q = q.next
    for i in range(<int>BE_COUNT):
        if BACKENDS[i].version == NULL:
            continue
        RedisModule_InfoAddFieldCString(ctx, BACKENDS[i].info_field, BACKENDS[i].version)
        if i == BE_ONNX:
            # ONNX Runtime allocates through its own arena, not a counting
            # allocator of ours: there is nothing to report but zeros.
            RedisModule_InfoAddFieldLongLong(ctx, b"onnxruntime_memory", 0)
            RedisModule_InfoAddFieldLongLong(ctx, b"onnxruntime_memory_access_num", 0)
            RedisModule_InfoAddFieldLongLong(ctx, b"onnxruntime_maximum_run_sessions_number",
                                             sessions)

    RedisModule_InfoAddSection(ctx, b"cpu")
    add_rusage(ctx, RUSAGE_SELF, b"self_used_cpu_sys", b"self_used_cpu_user")
    add_rusage(ctx, RUSAGE_CHILDREN, b"children_used_cpu_sys", b"children_used_cpu_user")
    add_rusage(ctx, RUSAGE_THREAD, b"main_thread_used_cpu_sys", b"main_thread_used_cpu_user")
    q = all_queues
    while q != NULL:
        for i in range(q.nthreads):
            snprintf(field, sizeof(field), b"queue_%s_bthread_n%d_used_cpu_total", q.name, i + 1)
            if pthread_getcpuclockid(q.threads[i], &clock) == 0 and clock_gettime(clock, &ts) == 0:
                add_time(ctx, field, ts.tv_sec, ts.tv_nsec // 1000)
            else:
                RedisModule_InfoAddFieldCString(ctx, field, b"N/A")
        q = q.next

