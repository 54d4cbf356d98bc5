# The tensor: one reference-counted allocation from the Redis allocator,
# shared by the keyspace, DAGs, batching and backends. Never mutated once it
# is visible to more than its creator.
from libc.stdint cimport int64_t, uint64_t, uint32_t, uint8_t, int8_t, int16_t, int32_t, uint16_t
from redisai.rm cimport RedisModuleString

cdef enum DType:
    DT_FLOAT
    DT_DOUBLE
    DT_INT8
    DT_INT16
    DT_INT32
    DT_INT64
    DT_UINT8
    DT_UINT16
    DT_BOOL
    DT_STRING
    DT_COUNT

ctypedef struct DTypeInfo:
    const char *name      # wire name, upper case
    uint8_t code          # DLPack type code (RDB)
    uint8_t bits          # DLPack bits (RDB)
    uint8_t size          # bytes per element (STRING: 1, the blob is bytes)
    const char *pyformat  # buffer-protocol format character

cdef const DTypeInfo *dtype_info(int dtype) noexcept nogil

# Layout: [Tensor][int64 dims[ndims]][pad][data[nbytes]]. STRING data is the
# blob of NUL-terminated elements. Data of large tensors is 64-byte aligned.
# An external tensor instead ends with [char *data][RedisModuleString *owner]:
# its data is a retained client argument (large BLOBs are not copied).
ctypedef struct Tensor:
    int refcount
    uint8_t dtype
    uint8_t external
    uint32_t ndims
    uint64_t nbytes

cdef int dtype_from_name(const char *name, size_t len) noexcept nogil
cdef int dtype_from_dlpack(uint64_t code, uint64_t bits) noexcept nogil

# Allocates a tensor with uninitialised data; NULL if memory is short.
cdef Tensor *tensor_new(int dtype, uint32_t ndims, const int64_t *dims, uint64_t nbytes) noexcept nogil
# The tensors (same dtype, same dims but the first) joined along dim 0, in
# order: one copy of their data (STRING blobs join as they are). NULL if
# memory is short.
cdef Tensor *tensor_concat(Tensor **parts, int n) noexcept nogil
# Wraps the bytes of a string argument without copying them (main thread).
cdef Tensor *tensor_wrap(int dtype, uint32_t ndims, const int64_t *dims,
                         RedisModuleString *owner) noexcept nogil
cdef Tensor *tensor_retain(Tensor *t) noexcept nogil
cdef void tensor_release(Tensor *t) noexcept nogil
cdef size_t tensor_alloc_size(const Tensor *t) noexcept nogil

# Bytes of RAM: no tensor or reply can be larger.
cdef uint64_t physical_memory() noexcept nogil
# Product of dims, or -1 if it overflows int64.
cdef int64_t shape_numel(uint32_t ndims, const int64_t *dims) noexcept nogil
# Checks a STRING blob holds exactly nelem NUL-terminated elements.
cdef bint string_blob_valid(const char *blob, uint64_t len, int64_t nelem) noexcept nogil

cdef inline int64_t *tensor_dims(const Tensor *t) noexcept nogil:
    return <int64_t *>(t + 1)

cdef inline char *tensor_data(const Tensor *t) noexcept nogil:
    cdef size_t p = <size_t>(tensor_dims(t) + t.ndims)
    if t.external:
        return (<char **>p)[0]
    if t.nbytes >= 4096:
        p = (p + 63) & ~(<size_t>63)
    return <char *>p

cdef inline int64_t tensor_numel(const Tensor *t) noexcept nogil:
    return shape_numel(t.ndims, tensor_dims(t))

# Element i of a FLOAT/DOUBLE tensor's data, and of an integer or BOOL one's:
# the one place that knows each dtype's C type.
cdef inline double element_double(const char *data, int dt, int64_t i) noexcept nogil:
    return (<const float *>data)[i] if dt == DT_FLOAT else (<const double *>data)[i]

cdef inline void set_element_double(char *data, int dt, int64_t i, double v) noexcept nogil:
    if dt == DT_FLOAT:
        (<float *>data)[i] = <float>v
    else:
        (<double *>data)[i] = v

cdef inline long long element_integer(const char *data, int dt, int64_t i) noexcept nogil:
    if dt == DT_INT8:
        return (<const int8_t *>data)[i]
    if dt == DT_INT16:
        return (<const int16_t *>data)[i]
    if dt == DT_INT32:
        return (<const int32_t *>data)[i]
    if dt == DT_INT64:
        return (<const int64_t *>data)[i]
    if dt == DT_UINT16:
        return (<const uint16_t *>data)[i]
    return (<const uint8_t *>data)[i]                # UINT8, BOOL

cdef inline void set_element_integer(char *data, int dt, int64_t i, long long v) noexcept nogil:
    if dt == DT_INT8:
        (<int8_t *>data)[i] = <int8_t>v
    elif dt == DT_INT16:
        (<int16_t *>data)[i] = <int16_t>v
    elif dt == DT_INT32:
        (<int32_t *>data)[i] = <int32_t>v
    elif dt == DT_INT64:
        (<int64_t *>data)[i] = v
    elif dt == DT_UINT16:
        (<uint16_t *>data)[i] = <uint16_t>v
    else:                                           # UINT8, BOOL
        (<uint8_t *>data)[i] = <uint8_t>v

# A zero-copy Python view of a tensor (buffer protocol), holding a reference.
# STRING tensors are exposed as their raw bytes blob.
cdef class TensorView:
    cdef Tensor *t
    cdef bint writable
    cdef Py_ssize_t *shape_strides

cdef TensorView tensor_view(Tensor *t, bint writable)
