# cython: language_level=3
from libc.string cimport memcpy, strlen, memset

from redisai.rm cimport *
from redisai.queue cimport queue_push
from redisai.tensor cimport tensor_release
from redisai.pthread cimport pthread_mutex_t, pthread_mutex_init, pthread_mutex_lock, pthread_mutex_unlock

cdef extern from "atomics.h" nogil:
    void rai_incref(int *rc)
    int rai_decref(int *rc)
    void rai_add(long long *counter, long long value)

cdef RedisModuleDict *registry = RedisModule_CreateDict(NULL)
cdef pthread_mutex_t registry_lock
pthread_mutex_init(&registry_lock, NULL)
cdef SessionRelease release_session = NULL


cdef void set_session_release(SessionRelease fn) noexcept nogil:
    global release_session
    release_session = fn


cdef char *rm_strndup(const char *s, size_t len) noexcept nogil:
    cdef char *copy = <char *>RedisModule_Alloc(len + 1)
    memcpy(copy, s, len)
    copy[len] = 0
    return copy


cdef Model *model_new(int backend, const char *device, const char *tag, size_t taglen) noexcept nogil:
    cdef Model *m = <Model *>RedisModule_Alloc(sizeof(Model))
    memset(m, 0, sizeof(Model))
    m.refcount = 1
    m.backend = backend
    m.device = rm_strndup(device, strlen(device))
    m.tag = rm_strndup(tag, taglen)
    m.taglen = taglen
    return m


cdef void model_set_blob(Model *m, RedisModuleString **chunks, int n) noexcept nogil:
    cdef size_t len, total = 0
    cdef int k
    for k in range(n):
        RedisModule_StringPtrLen(chunks[k], &len)
        total += len
    m.blob = <char *>RedisModule_Alloc(total + 1)
    m.bloblen = total
    cdef char *p = m.blob
    cdef const char *s
    for k in range(n):
        s = RedisModule_StringPtrLen(chunks[k], &len)
        memcpy(p, s, len)
        p += len
    p[0] = 0
    if m.kind == KIND_SCRIPT:
        m.bloblen = strlen(m.blob)          # a source is a C string


cdef char **copy_names(uint32_t n, const char **names) noexcept nogil:
    cdef char **out = <char **>RedisModule_Alloc((n + 1) * sizeof(char *))
    cdef uint32_t i
    for i in range(n):
        out[i] = rm_strndup(names[i], strlen(names[i]))
    return out


cdef void free_names(uint32_t n, char **names) noexcept nogil:
    cdef uint32_t i
    if names == NULL:
        return
    for i in range(n):
        RedisModule_Free(names[i])
    RedisModule_Free(names)


cdef void model_set_names(Model *m, uint32_t ninputs, const char **inputs,
                          uint32_t noutputs, const char **outputs) noexcept nogil:
    free_names(m.ninputs, m.inputs)
    free_names(m.noutputs, m.outputs)
    m.ninputs = ninputs
    m.inputs = copy_names(ninputs, inputs)
    m.noutputs = noutputs
    m.outputs = copy_names(noutputs, outputs)


cdef void model_set_entry_points(Model *m, uint32_t n, const char **names) noexcept nogil:
    free_names(m.nentry, m.entry_points)
    m.nentry = n
    m.entry_points = copy_names(n, names)


cdef Model *model_retain(Model *m) noexcept nogil:
    rai_incref(&m.refcount)
    return m


cdef Model *model_copy(Model *m) noexcept nogil:
    cdef Model *c = model_new(m.backend, m.device, m.tag, m.taglen)
    c.kind = m.kind
    c.batchsize = m.batchsize
    c.minbatchsize = m.minbatchsize
    c.minbatchtimeout = m.minbatchtimeout
    model_set_names(c, m.ninputs, <const char **>m.inputs, m.noutputs, <const char **>m.outputs)
    model_set_entry_points(c, m.nentry, <const char **>m.entry_points)
    c.blob = m.blob
    c.bloblen = m.bloblen
    c.session = m.session
    c.queue = m.queue
    c.shares = model_retain(m.shares if m.shares != NULL else m)
    return c


cdef bint destroy(void *arg) noexcept nogil:
    cdef Model *m = <Model *>arg
    if m.shares != NULL:
        model_release(m.shares)
    else:
        if m.session != NULL:
            release_session(m.session)
        if m.blob != NULL:
            RedisModule_Free(m.blob)
    free_names(m.ninputs, m.inputs)
    free_names(m.noutputs, m.outputs)
    free_names(m.nentry, m.entry_points)
    RedisModule_Free(m.device)
    RedisModule_Free(m.tag)
    RedisModule_Free(m)
    return False                # the job lived in m: the worker must not read it again


cdef void model_release(Model *m) noexcept nogil:
    if m == NULL or rai_decref(&m.refcount) != 0:
        return
    cdef int nokey = 0
    if m.key != NULL:
        pthread_mutex_lock(&registry_lock)
        if RedisModule_DictGetC(registry, m.key, m.keylen, &nokey) == <void *>m:
            RedisModule_DictDelC(registry, m.key, m.keylen, NULL)
        pthread_mutex_unlock(&registry_lock)
        RedisModule_Free(m.key)
        m.key = NULL
    if m.session != NULL and m.queue != NULL and m.shares == NULL:
        # This may run on the main or the lazy-free thread: never wait for the
        # GIL there, let a worker drop the Python object.
        m.destroy_job.run = destroy
        m.destroy_job.done = NULL
        m.destroy_job.alike = NULL
        m.destroy_job.arg = m
        queue_push(m.queue, &m.destroy_job)
    else:
        destroy(m)


cdef size_t model_mem_usage(const Model *m) noexcept nogil:
    return sizeof(Model) + (m.bloblen if m.shares == NULL else 0) + strlen(m.device) + m.taglen


cdef void stats_register(Model *m, const char *key, size_t keylen) noexcept nogil:
    pthread_mutex_lock(&registry_lock)
    if m.key != NULL:
        RedisModule_Free(m.key)
    m.key = rm_strndup(key, keylen)
    m.keylen = keylen
    RedisModule_DictReplaceC(registry, m.key, keylen, m)
    pthread_mutex_unlock(&registry_lock)


cdef Model *stats_lookup_retain(const char *key, size_t keylen) noexcept nogil:
    cdef int nokey = 0
    pthread_mutex_lock(&registry_lock)
    cdef Model *m = <Model *>RedisModule_DictGetC(registry, <void *>key, keylen, &nokey)
    if m != NULL:
        model_retain(m)
    pthread_mutex_unlock(&registry_lock)
    return m


cdef void stats_add(Model *m, long long duration_us, long long samples, bint error) noexcept nogil:
    rai_add(&m.stats.calls, 1)
    if error:
        rai_add(&m.stats.errors, 1)
    else:
        rai_add(&m.stats.duration_us, duration_us)
        rai_add(&m.stats.samples, samples)


cdef void stats_reset(Model *m) noexcept nogil:
    memset(&m.stats, 0, sizeof(RunStats))


cdef void stats_foreach(void (*fn)(const char *, size_t, Model *, void *) noexcept nogil,
                        void *arg) noexcept nogil:
    cdef RedisModuleDictIter *it
    cdef size_t keylen
    cdef void *data
    cdef char *key
    pthread_mutex_lock(&registry_lock)
    it = RedisModule_DictIteratorStartC(registry, b"^", NULL, 0)
    while True:
        key = <char *>RedisModule_DictNextC(it, &keylen, &data)
        if key == NULL:
            break
        fn(key, keylen, <Model *>data, arg)
    RedisModule_DictIteratorStop(it)
    pthread_mutex_unlock(&registry_lock)


cdef void op_init(Op *op, int kind, Model *m, uint32_t ninputs, uint32_t noutputs) noexcept nogil:
    memset(op, 0, sizeof(Op))
    op.kind = kind
    op.model = model_retain(m) if m != NULL else NULL
    op.ninputs = ninputs
    op.noutputs = noutputs
    # One allocation: the tensor arrays (zeroed), then the slot arrays.
    cdef size_t tensors = (ninputs + noutputs + 2) * sizeof(Tensor *)
    cdef char *block = <char *>RedisModule_Alloc(tensors + (ninputs + noutputs + 2) * sizeof(int))
    memset(block, 0, tensors)
    op.inputs = <Tensor **>block
    op.outputs = op.inputs + ninputs + 1
    op.in_slots = <int *>(block + tensors)
    op.out_slots = op.in_slots + ninputs + 1


cdef void free_strings(uint32_t n, RedisModuleString **strings) noexcept nogil:
    cdef uint32_t i
    if strings == NULL:
        return
    for i in range(n):
        RedisModule_FreeString(NULL, strings[i])
    RedisModule_Free(strings)


cdef void op_clear(Op *op) noexcept nogil:
    cdef uint32_t i
    for i in range(op.noutputs):
        tensor_release(op.outputs[i])
    if op.inputs != NULL:
        RedisModule_Free(op.inputs)            # the block of op_init
    free_strings(op.nkeys, op.keys)
    free_strings(op.nargs, op.args)
    if op.function != NULL:
        RedisModule_Free(op.function)
    if op.error != NULL:
        RedisModule_Free(op.error)
    model_release(op.model)
    memset(op, 0, sizeof(Op))
