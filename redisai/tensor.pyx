# cython: language_level=3, boundscheck=False, wraparound=False
from libc.stdint cimport int64_t, uint64_t, uint32_t, INT64_MAX
from libc.string cimport memchr, memcpy
from posix.strings cimport strncasecmp
from cpython.buffer cimport PyBUF_WRITABLE, PyBUF_FORMAT

from redisai.rm cimport (RedisModuleString, RedisModule_Free, RedisModule_MallocSize, rm_try_alloc,
                         RedisModule_RetainString, RedisModule_FreeString, RedisModule_StringPtrLen)

cdef extern from "<unistd.h>" nogil:
    long sysconf(int name)
    enum: _SC_PHYS_PAGES, _SC_PAGESIZE

cdef extern from "atomics.h" nogil:
    void rai_incref(int *rc)
    int rai_decref(int *rc)

cdef DTypeInfo DTYPES[<int>DT_COUNT]
DTYPES[<int>DT_FLOAT] = DTypeInfo(b"FLOAT", 2, 32, 4, b"f")
DTYPES[<int>DT_DOUBLE] = DTypeInfo(b"DOUBLE", 2, 64, 8, b"d")
DTYPES[<int>DT_INT8] = DTypeInfo(b"INT8", 0, 8, 1, b"b")
DTYPES[<int>DT_INT16] = DTypeInfo(b"INT16", 0, 16, 2, b"h")
DTYPES[<int>DT_INT32] = DTypeInfo(b"INT32", 0, 32, 4, b"i")
DTYPES[<int>DT_INT64] = DTypeInfo(b"INT64", 0, 64, 8, b"q")
DTYPES[<int>DT_UINT8] = DTypeInfo(b"UINT8", 1, 8, 1, b"B")
DTYPES[<int>DT_UINT16] = DTypeInfo(b"UINT16", 1, 16, 2, b"H")
DTYPES[<int>DT_BOOL] = DTypeInfo(b"BOOL", 6, 8, 1, b"?")
DTYPES[<int>DT_STRING] = DTypeInfo(b"STRING", 7, 8, 1, b"B")


cdef uint64_t physical_memory() noexcept nogil:
    return <uint64_t>sysconf(_SC_PHYS_PAGES) * <uint64_t>sysconf(_SC_PAGESIZE)


cdef const DTypeInfo *dtype_info(int dtype) noexcept nogil:
    return &DTYPES[dtype]


cdef int dtype_from_name(const char *name, size_t len) noexcept nogil:
    """The dtype for a case-insensitive wire name, or -1."""
    cdef int i
    for i in range(<int>DT_COUNT):
        if strncasecmp(name, DTYPES[i].name, len) == 0 and DTYPES[i].name[len] == 0:
            return i
    return -1


cdef int dtype_from_dlpack(uint64_t code, uint64_t bits) noexcept nogil:
    cdef int i
    for i in range(<int>DT_COUNT):
        if DTYPES[i].code == code and DTYPES[i].bits == bits:
            return i
    return -1


cdef int64_t shape_numel(uint32_t ndims, const int64_t *dims) noexcept nogil:
    cdef int64_t n = 1
    cdef uint32_t i
    for i in range(ndims):
        if dims[i] < 0 or (dims[i] != 0 and n > INT64_MAX // dims[i]):
            return -1
        n *= dims[i]
    return n


cdef bint string_blob_valid(const char *blob, uint64_t len, int64_t nelem) noexcept nogil:
    if len == 0 or blob[len - 1] != 0:
        return False
    cdef const char *p = blob
    cdef const char *end = blob + len
    cdef int64_t count = 0
    while p < end:
        p = <const char *>memchr(p, 0, end - p)
        if p == NULL:
            break
        count += 1
        if count > nelem:
            return False
        p += 1
    return count == nelem


cdef Tensor *tensor_new(int dtype, uint32_t ndims, const int64_t *dims, uint64_t nbytes) noexcept nogil:
    cdef size_t head = sizeof(Tensor) + ndims * sizeof(int64_t)
    if nbytes > (<size_t>-1) - head - 64:
        return NULL
    cdef size_t size = head + nbytes + (63 if nbytes >= 4096 else 0)
    cdef Tensor *t = <Tensor *>rm_try_alloc(size)
    if t == NULL:
        return NULL
    t.refcount = 1
    t.dtype = dtype
    t.external = False
    t.ndims = ndims
    t.nbytes = nbytes
    cdef uint32_t i
    cdef int64_t *d = tensor_dims(t)
    for i in range(ndims):
        d[i] = dims[i]
    return t


cdef Tensor *tensor_concat(Tensor **parts, int n) noexcept nogil:
    cdef uint64_t nbytes = 0
    cdef int64_t rows = 0
    cdef int i
    for i in range(n):
        nbytes += parts[i].nbytes
        rows += tensor_dims(parts[i])[0]
    cdef Tensor *t = tensor_new(parts[0].dtype, parts[0].ndims, tensor_dims(parts[0]), nbytes)
    if t == NULL:
        return NULL
    tensor_dims(t)[0] = rows
    cdef char *data = tensor_data(t)
    for i in range(n):
        memcpy(data, tensor_data(parts[i]), parts[i].nbytes)
        data += parts[i].nbytes
    return t


cdef Tensor *tensor_wrap(int dtype, uint32_t ndims, const int64_t *dims,
                         RedisModuleString *owner) noexcept nogil:
    cdef Tensor *t = tensor_new(dtype, ndims + 2, dims, 0)   # two more words: data, owner
    if t == NULL:
        return NULL
    cdef void **tail = <void **>(tensor_dims(t) + ndims)
    cdef size_t len
    tail[0] = <void *>RedisModule_StringPtrLen(owner, &len)
    tail[1] = owner
    RedisModule_RetainString(NULL, owner)
    t.ndims = ndims
    t.nbytes = len
    t.external = True
    return t


cdef Tensor *tensor_retain(Tensor *t) noexcept nogil:
    rai_incref(&t.refcount)
    return t


cdef void tensor_release(Tensor *t) noexcept nogil:
    if t == NULL or rai_decref(&t.refcount) != 0:
        return
    if t.external:
        # The last reference: nothing else uses the argument string any more,
        # so it may be dropped from any thread.
        RedisModule_FreeString(NULL, (<RedisModuleString **>(tensor_dims(t) + t.ndims))[1])
    RedisModule_Free(t)


cdef size_t tensor_alloc_size(const Tensor *t) noexcept nogil:
    return RedisModule_MallocSize(<void *>t) + (t.nbytes if t.external else 0)


cdef class TensorView:
    """Buffer-protocol view of a tensor's memory: numpy.asarray(view) shares
    it. The view keeps the tensor alive until it is garbage collected."""

    def __dealloc__(self):
        if self.shape_strides != NULL:
            RedisModule_Free(self.shape_strides)
        tensor_release(self.t)

    def __getbuffer__(self, Py_buffer *buf, int flags):
        if (flags & PyBUF_WRITABLE) and not self.writable:
            raise BufferError("tensor is read-only")
        cdef const DTypeInfo *info = &DTYPES[self.t.dtype]
        cdef uint32_t n = self.t.ndims
        cdef uint32_t i
        if self.t.dtype == DT_STRING:
            n = 1                         # the raw blob, one byte per item
        if self.shape_strides == NULL:
            self.shape_strides = <Py_ssize_t *>rm_try_alloc(2 * (n + 1) * sizeof(Py_ssize_t))
            if self.shape_strides == NULL:
                raise MemoryError()
            if self.t.dtype == DT_STRING:
                self.shape_strides[0] = self.t.nbytes
                self.shape_strides[1] = 1
            else:
                stride = info.size
                for i in range(n):
                    self.shape_strides[n - 1 - i] = tensor_dims(self.t)[n - 1 - i]
                    self.shape_strides[n + n - 1 - i] = stride
                    stride *= tensor_dims(self.t)[n - 1 - i]
        buf.buf = tensor_data(self.t)
        buf.obj = self
        buf.len = self.t.nbytes
        buf.readonly = not self.writable
        buf.itemsize = info.size
        buf.format = <char *>info.pyformat if (flags & PyBUF_FORMAT) else NULL
        buf.ndim = n
        buf.shape = self.shape_strides
        buf.strides = self.shape_strides + n
        buf.suboffsets = NULL
        buf.internal = NULL

    def __releasebuffer__(self, Py_buffer *buf):
        pass

    @property
    def dtype(self):
        return DTYPES[self.t.dtype].name.decode()

    @property
    def shape(self):
        return tuple(tensor_dims(self.t)[i] for i in range(self.t.ndims))


cdef TensorView tensor_view(Tensor *t, bint writable):
    cdef TensorView v = TensorView.__new__(TensorView)
    v.t = tensor_retain(t)
    v.writable = writable
    return v
