# cython: language_level=3
from libc.string cimport strlen
from posix.strings cimport strncasecmp
from posix.signal cimport sigaction, sigaction_t
from libc.signal cimport SIGINT, SIGTERM, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPIPE, SIGHUP, SIGALRM, SIGUSR1

from redisai.rm cimport *
from redisai.tensor cimport Tensor, DT_STRING, tensor_data, tensor_view

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
    import numpy
    array = numpy.asarray(tensor_view(t, False))
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
