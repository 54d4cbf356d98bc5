# cython: language_level=3, boundscheck=False, wraparound=False
from libc.stdint cimport int64_t, uint64_t, uint32_t
from libc.string cimport memcpy, memset, strlen

from redisai.rm cimport *
from redisai.tensor cimport *

cdef enum:
    ENCODING_VERSION = 4
    CPU_DEVICE = 1         # DLPack device type in the v0-v3 tensor layout

TensorType = NULL


cdef void tensor_rdb_save(RedisModuleIO *io, void *value) noexcept nogil:
    cdef Tensor *t = <Tensor *>value
    cdef const DTypeInfo *info = dtype_info(t.dtype)
    cdef uint32_t i
    RedisModule_SaveUnsigned(io, info.code)
    RedisModule_SaveUnsigned(io, info.bits)
    RedisModule_SaveSigned(io, t.ndims)
    for i in range(t.ndims):
        RedisModule_SaveSigned(io, tensor_dims(t)[i])
    cdef const char *data = tensor_data(t)
    RedisModule_SaveStringBuffer(io, data, t.nbytes)
    if t.dtype != DT_STRING:
        return
    cdef uint64_t offset = 0
    cdef int64_t e
    for e in range(tensor_numel(t)):
        RedisModule_SaveUnsigned(io, offset)
        offset += strlen(data + offset) + 1


cdef void *tensor_rdb_load(RedisModuleIO *io, int encver) noexcept nogil:
    if encver > ENCODING_VERSION:
        RedisModule_LogIOError(io, b"warning",
                               b"Failed loading tensor, RedisAI version (%d) is not forward compatible.",
                               encver)
        return NULL
    cdef uint64_t code, bits, ndims, i
    if encver == ENCODING_VERSION:
        code = RedisModule_LoadUnsigned(io)
        bits = RedisModule_LoadUnsigned(io)
        ndims = <uint64_t>RedisModule_LoadSigned(io)
    else:
        if RedisModule_LoadUnsigned(io) != CPU_DEVICE:
            return NULL
        RedisModule_LoadUnsigned(io)                 # device id
        bits = RedisModule_LoadUnsigned(io)
        code = RedisModule_LoadUnsigned(io)
        RedisModule_LoadUnsigned(io)                 # lanes
        ndims = RedisModule_LoadUnsigned(io)
    cdef int dt = dtype_from_dlpack(code, bits)
    if RedisModule_IsIOError(io) or dt < 0 or ndims > <uint64_t>0xFFFFFFFF:
        return NULL
    cdef int64_t *dims = <int64_t *>rm_try_alloc((ndims + 1) * sizeof(int64_t))
    if dims == NULL:
        return NULL
    for i in range(ndims):
        dims[i] = RedisModule_LoadSigned(io) if encver == ENCODING_VERSION else <int64_t>RedisModule_LoadUnsigned(io)
    if encver < ENCODING_VERSION:
        for i in range(ndims + 1):                   # strides, byte offset
            RedisModule_LoadUnsigned(io)
    cdef size_t len = 0
    cdef char *buf = RedisModule_LoadStringBuffer(io, &len)
    cdef Tensor *t = NULL
    if not RedisModule_IsIOError(io) and buf != NULL:
        t = tensor_from_rdb(dt, <uint32_t>ndims, dims, buf, len)
    if t != NULL and dt == DT_STRING:
        for i in range(<uint64_t>tensor_numel(t)):   # offsets: derived from the blob
            RedisModule_LoadUnsigned(io)
        if RedisModule_IsIOError(io):
            tensor_release(t)
            t = NULL
    if buf != NULL:
        RedisModule_Free(buf)
    RedisModule_Free(dims)
    return t


cdef Tensor *tensor_from_rdb(int dt, uint32_t ndims, int64_t *dims, const char *buf, size_t len) noexcept nogil:
    cdef int64_t numel = shape_numel(ndims, dims)
    if numel < 0:
        return NULL
    if dt == DT_STRING:
        if not string_blob_valid(buf, len, numel):
            return NULL
    elif <uint64_t>numel * dtype_info(dt).size != len:
        return NULL
    cdef Tensor *t = tensor_new(dt, ndims, dims, len)
    if t != NULL:
        memcpy(tensor_data(t), buf, len)
    return t


cdef void tensor_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) noexcept nogil:
    cdef Tensor *t = <Tensor *>value
    cdef RedisModuleString **dims = <RedisModuleString **>RedisModule_Alloc(
        (t.ndims + 1) * sizeof(RedisModuleString *))
    cdef uint32_t i
    for i in range(t.ndims):
        dims[i] = RedisModule_CreateStringFromLongLong(NULL, tensor_dims(t)[i])
    RedisModule_EmitAOF(aof, b"AI.TENSORSET", b"scvcb", key, dtype_info(t.dtype).name,
                        dims, <size_t>t.ndims, b"BLOB", tensor_data(t), <size_t>t.nbytes)
    for i in range(t.ndims):
        RedisModule_FreeString(NULL, dims[i])
    RedisModule_Free(dims)


cdef void tensor_free(void *value) noexcept nogil:
    tensor_release(<Tensor *>value)


cdef size_t tensor_mem_usage(const void *value) noexcept nogil:
    return tensor_alloc_size(<const Tensor *>value)


cdef void *tensor_copy(RedisModuleString *fromkey, RedisModuleString *tokey, const void *value) noexcept nogil:
    # Keyspace tensors are immutable, so a copy shares the same memory.
    return tensor_retain(<Tensor *>value)


cdef int register_types(RedisModuleCtx *ctx) noexcept nogil:
    global TensorType
    cdef RedisModuleTypeMethods tm
    memset(&tm, 0, sizeof(tm))
    tm.version = REDISMODULE_TYPE_METHOD_VERSION
    tm.rdb_load = tensor_rdb_load
    tm.rdb_save = tensor_rdb_save
    tm.aof_rewrite = tensor_aof_rewrite
    tm.mem_usage = tensor_mem_usage
    tm.free = tensor_free
    tm.copy = tensor_copy
    TensorType = RedisModule_CreateDataType(ctx, b"AI_TENSOR", ENCODING_VERSION, &tm)
    return REDISMODULE_OK if TensorType != NULL else REDISMODULE_ERR

