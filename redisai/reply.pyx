# cython: language_level=3, boundscheck=False, wraparound=False
from libc.stdint cimport int64_t, uint64_t, uint32_t, uint8_t
from libc.string cimport strlen

from redisai.rm cimport *
from redisai.tensor cimport *
from redisai.errors cimport E_REPLY_OOM, reply_error
from redisai.parse cimport FMT_META, FMT_BLOB, FMT_VALUES

cdef enum:
    # Smaller replies are not checked: not worth a CONFIG GET each (the
    # 1 MiB TENSORGET is a benchmarked hot path).
    CHECKED_REPLY_BYTES = 8 << 20

# Wire bytes of one VALUES element at most: RESP2 ':<digits>\r\n' for
# integers, a bulk string of '%.17g' for floats.
cdef uint8_t VALUE_WIRE_BYTES[<int>DT_COUNT]
VALUE_WIRE_BYTES[:] = [32, 32, 7, 9, 14, 23, 6, 8, 4, 0]


cdef uint64_t reply_bytes(const Tensor *t, int fmt) noexcept nogil:
    """An upper bound of the reply's size in the client's output buffer."""
    cdef uint64_t size = 64 + 24 * <uint64_t>t.ndims
    cdef uint64_t numel = tensor_numel(t)
    if fmt & FMT_BLOB:
        size += t.nbytes + 24
    elif fmt & FMT_VALUES:
        # STRING: the bytes, each element with its bulk header.
        size += t.nbytes + 24 * numel if t.dtype == DT_STRING else \
            numel * VALUE_WIRE_BYTES[t.dtype]
    return size


cdef bint reply_fits(const Tensor *t, int fmt) noexcept nogil:
    """Whether Redis can buffer the reply: building one past the memory the
    server has aborts Redis (out of memory inside the reply)."""
    cdef uint64_t size = reply_bytes(t, fmt)
    if size < CHECKED_REPLY_BYTES:
        return True
    cdef double maxmemory = <double>rm_config_get_ull(b"maxmemory", 0)
    if maxmemory == 0:
        return size <= physical_memory()
    return RedisModule_GetUsedMemoryRatio() * maxmemory + size <= maxmemory


cdef void reply_values(RedisModuleCtx *ctx, const Tensor *t) noexcept nogil:
    cdef int64_t i, n = tensor_numel(t)
    cdef const char *data = tensor_data(t)
    cdef size_t len
    RedisModule_ReplyWithArray(ctx, n)
    if t.dtype == DT_STRING:
        for i in range(n):
            len = strlen(data)
            RedisModule_ReplyWithStringBuffer(ctx, data, len)
            data += len + 1
        return
    if t.dtype == DT_FLOAT or t.dtype == DT_DOUBLE:
        for i in range(n):
            RedisModule_ReplyWithDouble(ctx, element_double(data, t.dtype, i))
    else:
        for i in range(n):
            RedisModule_ReplyWithLongLong(ctx, element_integer(data, t.dtype, i))


cdef void reply_tensor(RedisModuleCtx *ctx, const Tensor *t, int fmt) noexcept nogil:
    cdef uint32_t i
    if not reply_fits(t, fmt):
        reply_error(ctx, E_REPLY_OOM)
        return
    if fmt & FMT_META:
        RedisModule_ReplyWithArray(ctx, 6 if fmt != FMT_META else 4)
        RedisModule_ReplyWithStringBuffer(ctx, b"dtype", 5)
        RedisModule_ReplyWithStringBuffer(ctx, dtype_info(t.dtype).name, strlen(dtype_info(t.dtype).name))
        RedisModule_ReplyWithStringBuffer(ctx, b"shape", 5)
        RedisModule_ReplyWithArray(ctx, t.ndims)
        for i in range(t.ndims):
            RedisModule_ReplyWithLongLong(ctx, tensor_dims(t)[i])
    if fmt & FMT_BLOB:
        if fmt & FMT_META:
            RedisModule_ReplyWithStringBuffer(ctx, b"blob", 4)
        RedisModule_ReplyWithStringBuffer(ctx, tensor_data(t), t.nbytes)
    elif fmt & FMT_VALUES:
        if fmt & FMT_META:
            RedisModule_ReplyWithStringBuffer(ctx, b"values", 6)
        reply_values(ctx, t)
