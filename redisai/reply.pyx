# cython: language_level=3, boundscheck=False, wraparound=False
from libc.stdint cimport int64_t, uint32_t, uint8_t, int8_t, int16_t, int32_t, uint16_t
from libc.string cimport strlen

from redisai.rm cimport *
from redisai.tensor cimport *
from redisai.parse cimport FMT_META, FMT_BLOB, FMT_VALUES


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
    for i in range(n):
        if t.dtype == DT_FLOAT:
            RedisModule_ReplyWithDouble(ctx, (<const float *>data)[i])
        elif t.dtype == DT_DOUBLE:
            RedisModule_ReplyWithDouble(ctx, (<const double *>data)[i])
        elif t.dtype == DT_INT8:
            RedisModule_ReplyWithLongLong(ctx, (<const int8_t *>data)[i])
        elif t.dtype == DT_INT16:
            RedisModule_ReplyWithLongLong(ctx, (<const int16_t *>data)[i])
        elif t.dtype == DT_INT32:
            RedisModule_ReplyWithLongLong(ctx, (<const int32_t *>data)[i])
        elif t.dtype == DT_INT64:
            RedisModule_ReplyWithLongLong(ctx, (<const int64_t *>data)[i])
        elif t.dtype == DT_UINT16:
            RedisModule_ReplyWithLongLong(ctx, (<const uint16_t *>data)[i])
        else:                                        # UINT8, BOOL
            RedisModule_ReplyWithLongLong(ctx, (<const uint8_t *>data)[i])


cdef void reply_tensor(RedisModuleCtx *ctx, const Tensor *t, int fmt) noexcept nogil:
    cdef uint32_t i
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
