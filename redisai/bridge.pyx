# cython: language_level=3
from libc.string cimport strlen
from posix.strings cimport strncasecmp
from posix.signal cimport sigaction, sigaction_t
from libc.signal cimport SIGINT, SIGTERM, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPIPE, SIGHUP, SIGALRM, SIGUSR1

from redisai.rm cimport *

cdef extern from "<string.h>" nogil:
    char *strdup(const char *s)

BACKENDS[<int>BE_TF] = BackendInfo(b"TF", b"TensorFlow_version", NULL)
BACKENDS[<int>BE_TFLITE] = BackendInfo(b"TFLITE", b"TensorFlowLite_version", NULL)
BACKENDS[<int>BE_TORCH] = BackendInfo(b"TORCH", b"Torch_version", NULL)
BACKENDS[<int>BE_ONNX] = BackendInfo(b"ONNX", b"onnxruntime_version", NULL)

# Signals Redis handles itself; a framework import must not take them over.
cdef int[10] GUARDED_SIGNALS = [SIGINT, SIGTERM, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPIPE,
                                SIGHUP, SIGALRM, SIGUSR1]


cdef int backend_from_name(const char *name, size_t len) noexcept nogil:
    cdef int i
    for i in range(<int>BE_COUNT):
        if strncasecmp(name, BACKENDS[i].name, len) == 0 and BACKENDS[i].name[len] == 0:
            return i
    return -1


cdef int load_backend(RedisModuleCtx *ctx, int backend, const char *path) noexcept nogil:
    if BACKENDS[backend].version != NULL:
        RedisModule_Log(ctx, b"warning", b"redisai: backend %s is already loaded",
                        BACKENDS[backend].name)
        return REDISMODULE_ERR
    cdef sigaction_t saved[10]
    cdef int i
    for i in range(10):
        sigaction(GUARDED_SIGNALS[i], NULL, &saved[i])
    cdef char *version = NULL
    with gil:
        version = import_backend(ctx, BACKENDS[backend].name, path)
    for i in range(10):
        sigaction(GUARDED_SIGNALS[i], &saved[i], NULL)
    if version == NULL:
        return REDISMODULE_ERR
    BACKENDS[backend].version = version
    RedisModule_Log(ctx, b"notice", b"redisai: backend %s loaded (version %s)",
                    BACKENDS[backend].name, version)
    return REDISMODULE_OK


cdef char *import_backend(RedisModuleCtx *ctx, const char *name, const char *path) noexcept:
    try:
        from redisai import backends
        version = backends.load(name.decode(), path.decode("utf-8", "surrogateescape"))
        return strdup(version.encode())
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
        RedisModule_Log(ctx, b"warning", b"redisai: cannot load backend %s: %s", name,
                        <const char *>message)
        return NULL
