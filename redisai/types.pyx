# cython: language_level=3, boundscheck=False, wraparound=False
from libc.stdint cimport int64_t, uint64_t, uint32_t, SIZE_MAX
from libc.string cimport memcpy, memset, strlen

from redisai.rm cimport *
from redisai.tensor cimport *
from redisai.model cimport (Model, KIND_SCRIPT, model_new, model_copy, model_release, model_set_names,
                            model_set_entry_points, model_mem_usage, stats_register, rm_strndup)
from redisai.bridge cimport BACKENDS, BE_COUNT, BE_TF, BE_TORCH
from redisai.queue cimport queue_ensure
from redisai.config cimport config, ensure_backend, build_configured

cdef enum:
    ENCODING_VERSION = 4
    CPU_DEVICE = 1         # DLPack device type in the v0-v3 tensor layout

TensorType = NULL
ModelType = NULL
ScriptType = NULL


cdef void set_tensor(RedisModuleKey *key, Tensor *t) noexcept nogil:
    """Installs a tensor in a key opened for writing, clearing any TTL as SET
    does. Overwriting a tensor swaps the value in place: no key deletion and
    re-insertion on this hot path."""
    cdef void *old = NULL
    if RedisModule_ModuleTypeReplaceValue(key, TensorType, t, &old) == REDISMODULE_OK:
        tensor_release(<Tensor *>old)
        if RedisModule_GetExpire(key) != REDISMODULE_NO_EXPIRE:
            RedisModule_SetExpire(key, REDISMODULE_NO_EXPIRE)
    else:
        RedisModule_ModuleTypeSetValue(key, TensorType, t)


cdef bint too_new(RedisModuleIO *io, int encver, const char *what) noexcept nogil:
    """A value saved by a later encoding fails the load, with the reference's log line."""
    if encver <= ENCODING_VERSION:
        return False
    RedisModule_LogIOError(io, b"warning",
                           b"Failed loading %s, RedisAI version (%d) is not forward compatible.",
                           what, encver)
    return True


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
    if too_new(io, encver, b"tensor"):
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
    # A forged ndims is not backed by data: stop where the payload ends.
    for i in range(ndims):
        dims[i] = RedisModule_LoadSigned(io) if encver == ENCODING_VERSION else <int64_t>RedisModule_LoadUnsigned(io)
        if RedisModule_IsIOError(io):
            break
    if encver < ENCODING_VERSION:
        for i in range(ndims + 1):                   # strides, byte offset
            RedisModule_LoadUnsigned(io)
            if RedisModule_IsIOError(io):
                break
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
    elif len % dtype_info(dt).size != 0 or len // dtype_info(dt).size != <uint64_t>numel:
        return NULL                                  # (numel * size may wrap around)
    cdef Tensor *t = tensor_new(dt, ndims, dims, len)
    if t != NULL:
        memcpy(tensor_data(t), buf, len)
    return t


cdef RedisModuleString **dim_strings(const Tensor *t) noexcept nogil:
    cdef RedisModuleString **dims = <RedisModuleString **>RedisModule_Alloc(
        (t.ndims + 1) * sizeof(RedisModuleString *))
    cdef uint32_t i
    for i in range(t.ndims):
        dims[i] = RedisModule_CreateStringFromLongLong(NULL, tensor_dims(t)[i])
    return dims


cdef void free_strings(RedisModuleString **strings, size_t n) noexcept nogil:
    cdef size_t i
    for i in range(n):
        RedisModule_FreeString(NULL, strings[i])
    RedisModule_Free(strings)


cdef void tensor_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) noexcept nogil:
    cdef Tensor *t = <Tensor *>value
    cdef RedisModuleString **dims = dim_strings(t)
    RedisModule_EmitAOF(aof, b"AI.TENSORSET", b"scvcb", key, dtype_info(t.dtype).name,
                        dims, <size_t>t.ndims, b"BLOB", tensor_data(t), <size_t>t.nbytes)
    free_strings(dims, t.ndims)


cdef void replicate_tensorset(RedisModuleCtx *ctx, RedisModuleString *key, const Tensor *t) noexcept nogil:
    cdef RedisModuleString **dims = dim_strings(t)
    RedisModule_Replicate(ctx, b"AI.TENSORSET", b"scvcb", key, dtype_info(t.dtype).name,
                          dims, <size_t>t.ndims, b"BLOB", tensor_data(t), <size_t>t.nbytes)
    free_strings(dims, t.ndims)


cdef void tensor_free(void *value) noexcept nogil:
    tensor_release(<Tensor *>value)


cdef size_t tensor_mem_usage(const void *value) noexcept nogil:
    return tensor_alloc_size(<const Tensor *>value)


cdef void *tensor_copy(RedisModuleString *fromkey, RedisModuleString *tokey, const void *value) noexcept nogil:
    # Keyspace tensors are immutable, so a copy shares the same memory.
    return tensor_retain(<Tensor *>value)


cdef void tensor_digest(RedisModuleDigest *md, void *value) noexcept nogil:
    cdef Tensor *t = <Tensor *>value
    cdef uint32_t i
    digest_cstring(md, dtype_info(t.dtype).name)
    RedisModule_DigestAddLongLong(md, t.ndims)
    for i in range(t.ndims):
        RedisModule_DigestAddLongLong(md, tensor_dims(t)[i])
    # STRING: the element offsets are a function of these bytes.
    RedisModule_DigestAddStringBuffer(md, tensor_data(t), t.nbytes)
    RedisModule_DigestEndSequence(md)


cdef void digest_cstring(RedisModuleDigest *md, const char *s) noexcept nogil:
    RedisModule_DigestAddStringBuffer(md, s, strlen(s))


cdef void digest_names(RedisModuleDigest *md, uint32_t n, char **names) noexcept nogil:
    cdef uint32_t i
    RedisModule_DigestAddLongLong(md, n)
    for i in range(n):
        digest_cstring(md, names[i])


# ---- models -----------------------------------------------------------------

cdef void save_cstring(RedisModuleIO *io, const char *s) noexcept nogil:
    RedisModule_SaveStringBuffer(io, s, strlen(s) + 1)


cdef void model_rdb_save(RedisModuleIO *io, void *value) noexcept nogil:
    cdef Model *m = <Model *>value
    cdef uint32_t i
    RedisModule_SaveUnsigned(io, m.backend)
    save_cstring(io, m.device)
    RedisModule_SaveStringBuffer(io, m.tag, m.taglen)
    RedisModule_SaveUnsigned(io, m.batchsize)
    RedisModule_SaveUnsigned(io, m.minbatchsize)
    RedisModule_SaveUnsigned(io, m.minbatchtimeout)
    RedisModule_SaveUnsigned(io, m.ninputs)
    for i in range(m.ninputs):
        save_cstring(io, m.inputs[i])
    RedisModule_SaveUnsigned(io, m.noutputs)
    for i in range(m.noutputs):
        save_cstring(io, m.outputs[i])
    cdef size_t chunk = config.model_chunk_size
    cdef size_t nchunks = m.bloblen // chunk + 1
    cdef size_t c
    RedisModule_SaveUnsigned(io, m.bloblen)
    RedisModule_SaveUnsigned(io, nchunks)
    for c in range(nchunks):
        RedisModule_SaveStringBuffer(io, m.blob + c * chunk,
                                     chunk if c + 1 < nchunks else m.bloblen - c * chunk)


cdef char *load_buffer(RedisModuleIO *io, size_t *len) noexcept nogil:
    # A string buffer as a NUL-terminated Redis allocation (NULL on I/O error).
    cdef size_t n = 0
    cdef char *raw = RedisModule_LoadStringBuffer(io, &n)
    if raw == NULL or RedisModule_IsIOError(io):
        return NULL
    cdef char *s = rm_strndup(raw, n)
    RedisModule_Free(raw)
    if len != NULL:
        len[0] = n
    return s


cdef void free_loaded(const char **names, uint64_t n) noexcept nogil:
    cdef uint64_t i
    for i in range(n):
        RedisModule_Free(<void *>names[i])
    RedisModule_Free(names)


cdef const char **load_names(RedisModuleIO *io, uint64_t *n) noexcept nogil:
    n[0] = RedisModule_LoadUnsigned(io)
    if RedisModule_IsIOError(io) or n[0] > 1000000:
        return NULL
    cdef const char **names = <const char **>RedisModule_Alloc((n[0] + 1) * sizeof(char *))
    cdef uint64_t i
    for i in range(n[0]):
        names[i] = load_buffer(io, NULL)
        if names[i] == NULL:
            free_loaded(names, i)
            return NULL
    return names


cdef char *load_blob(RedisModuleIO *io, int encver, size_t *len) noexcept nogil:
    if encver == 0:
        return load_buffer(io, len)
    cdef uint64_t total = RedisModule_LoadUnsigned(io)
    cdef uint64_t nchunks = RedisModule_LoadUnsigned(io)
    if RedisModule_IsIOError(io) or total >= SIZE_MAX:     # (total + 1 would wrap around)
        return NULL
    cdef char *blob = <char *>rm_try_alloc(total + 1)
    if blob == NULL:
        return NULL
    cdef size_t filled = 0, n
    cdef char *chunk
    cdef uint64_t i
    for i in range(nchunks):
        chunk = RedisModule_LoadStringBuffer(io, &n)
        if chunk == NULL or RedisModule_IsIOError(io) or filled + n > total:
            if chunk != NULL:
                RedisModule_Free(chunk)
            RedisModule_Free(blob)
            return NULL
        memcpy(blob + filled, chunk, n)
        filled += n
        RedisModule_Free(chunk)
    if filled != total:
        RedisModule_Free(blob)
        return NULL
    len[0] = filled
    return blob


cdef void free_if(void *p) noexcept nogil:
    if p != NULL:
        RedisModule_Free(p)


cdef void *model_rdb_load(RedisModuleIO *io, int encver) noexcept nogil:
    if too_new(io, encver, b"model"):
        return NULL
    cdef uint64_t backend = RedisModule_LoadUnsigned(io)
    cdef size_t taglen = 0, bloblen = 0
    cdef char *device = load_buffer(io, NULL)
    cdef char *tag = load_buffer(io, &taglen)
    if tag != NULL and encver == 0 and taglen > 0:
        taglen -= 1                                  # v0 stored the tag with its NUL
    cdef uint64_t batch = RedisModule_LoadUnsigned(io)
    cdef uint64_t minbatch = RedisModule_LoadUnsigned(io)
    cdef uint64_t mintimeout = RedisModule_LoadUnsigned(io) if encver >= 2 else 0
    cdef uint64_t ninputs = 0, noutputs = 0
    cdef const char **inputs = load_names(io, &ninputs)
    cdef const char **outputs = load_names(io, &noutputs) if inputs != NULL else NULL
    cdef char *blob = load_blob(io, encver, &bloblen) if outputs != NULL else NULL
    cdef Model *m = NULL
    if blob != NULL and device != NULL and tag != NULL and backend < BE_COUNT:
        m = model_new(<int>backend, device, tag, taglen)
        m.blob = blob
        m.bloblen = bloblen
        blob = NULL
        m.batchsize = batch
        m.minbatchsize = minbatch
        m.minbatchtimeout = mintimeout
        if backend == BE_TF:
            model_set_names(m, <uint32_t>ninputs, inputs, <uint32_t>noutputs, outputs)
        m = build_loaded_model(io, m)
    if inputs != NULL:
        free_loaded(inputs, ninputs)
    if outputs != NULL:
        free_loaded(outputs, noutputs)
    free_if(device)
    free_if(tag)
    free_if(blob)
    return m


cdef Model *build_loaded_model(RedisModuleIO *io, Model *m) noexcept nogil:
    # Rebuilds a model or script while loading (main thread); logs the key if it fails.
    cdef size_t len
    cdef const char *key = RedisModule_StringPtrLen(RedisModule_GetKeyNameFromIO(io), &len)
    cdef char *error = NULL
    m.queue = queue_ensure(m.device, strlen(m.device), config.threads_per_queue)
    if m.queue == NULL or ensure_backend(m.backend) != REDISMODULE_OK or \
            build_configured(m, &error) != REDISMODULE_OK:
        RedisModule_LogIOError(io, b"warning", b"redisai: cannot rebuild %s %.*s: %s",
                               <const char *>(b"script" if m.kind == KIND_SCRIPT else b"model"),
                               <int>len, key,
                               error if error != NULL else <const char *>b"backend unavailable")
        free_if(error)
        model_release(m)
        return NULL
    stats_register(m, key, len)
    return m


cdef RedisModuleString *cstr(const char *s) noexcept nogil:
    return RedisModule_CreateString(NULL, s, strlen(s))


cdef void model_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) noexcept nogil:
    cdef Model *m = <Model *>value
    cdef size_t chunk = config.model_chunk_size
    cdef size_t nchunks = m.bloblen // chunk + 1
    cdef size_t n = 0, i
    cdef RedisModuleString **args = <RedisModuleString **>RedisModule_Alloc(
        (16 + m.ninputs + m.noutputs + nchunks) * sizeof(RedisModuleString *))
    args[n] = cstr(BACKENDS[m.backend].name); n += 1
    args[n] = cstr(m.device); n += 1
    args[n] = cstr(b"TAG"); n += 1
    args[n] = RedisModule_CreateString(NULL, m.tag, m.taglen); n += 1
    args[n] = cstr(b"BATCHSIZE"); n += 1
    args[n] = RedisModule_CreateStringFromLongLong(NULL, m.batchsize); n += 1
    args[n] = cstr(b"MINBATCHSIZE"); n += 1
    args[n] = RedisModule_CreateStringFromLongLong(NULL, m.minbatchsize); n += 1
    args[n] = cstr(b"MINBATCHTIMEOUT"); n += 1
    args[n] = RedisModule_CreateStringFromLongLong(NULL, m.minbatchtimeout); n += 1
    if m.backend == BE_TF:
        args[n] = cstr(b"INPUTS"); n += 1
        args[n] = RedisModule_CreateStringFromLongLong(NULL, m.ninputs); n += 1
        for i in range(m.ninputs):
            args[n] = cstr(m.inputs[i]); n += 1
        args[n] = cstr(b"OUTPUTS"); n += 1
        args[n] = RedisModule_CreateStringFromLongLong(NULL, m.noutputs); n += 1
        for i in range(m.noutputs):
            args[n] = cstr(m.outputs[i]); n += 1
    args[n] = cstr(b"BLOB"); n += 1
    for i in range(nchunks):
        args[n] = RedisModule_CreateString(NULL, m.blob + i * chunk,
                                           chunk if i + 1 < nchunks else m.bloblen - i * chunk)
        n += 1
    RedisModule_EmitAOF(aof, b"AI.MODELSTORE", b"sv", key, args, n)
    free_strings(args, n)


cdef void model_digest(RedisModuleDigest *md, void *value) noexcept nogil:
    # Models and scripts alike: every field that RDB or AOF would carry, in
    # one ordered sequence.
    cdef Model *m = <Model *>value
    RedisModule_DigestAddLongLong(md, m.kind)
    RedisModule_DigestAddLongLong(md, m.backend)
    digest_cstring(md, m.device)
    RedisModule_DigestAddStringBuffer(md, m.tag, m.taglen)
    RedisModule_DigestAddLongLong(md, <long long>m.batchsize)
    RedisModule_DigestAddLongLong(md, <long long>m.minbatchsize)
    RedisModule_DigestAddLongLong(md, <long long>m.minbatchtimeout)
    digest_names(md, m.ninputs, m.inputs)
    digest_names(md, m.noutputs, m.outputs)
    digest_names(md, m.nentry, m.entry_points)
    RedisModule_DigestAddStringBuffer(md, m.blob, m.bloblen)
    RedisModule_DigestEndSequence(md)


cdef void model_free(void *value) noexcept nogil:
    model_release(<Model *>value)


cdef void *model_copy_to(RedisModuleString *fromkey, RedisModuleString *tokey,
                         const void *value) noexcept nogil:
    # COPY of a model or script: the same blob and session, statistics of its own.
    cdef Model *c = model_copy(<Model *>value)
    cdef size_t len
    cdef const char *name = RedisModule_StringPtrLen(tokey, &len)
    stats_register(c, name, len)
    return c


cdef size_t model_usage(const void *value) noexcept nogil:
    return model_mem_usage(<const Model *>value)


# ---- scripts ----------------------------------------------------------------

cdef void script_rdb_save(RedisModuleIO *io, void *value) noexcept nogil:
    cdef Model *s = <Model *>value
    cdef uint32_t i
    save_cstring(io, s.device)
    RedisModule_SaveStringBuffer(io, s.tag, s.taglen)
    save_cstring(io, s.blob)
    RedisModule_SaveUnsigned(io, s.nentry)
    for i in range(s.nentry):
        save_cstring(io, s.entry_points[i])


cdef void *script_rdb_load(RedisModuleIO *io, int encver) noexcept nogil:
    if too_new(io, encver, b"script"):
        return NULL
    cdef size_t taglen = 0, len = 0
    cdef char *device = load_buffer(io, NULL)
    cdef char *tag = load_buffer(io, &taglen) if device != NULL else NULL
    if tag != NULL and encver == 0 and taglen > 0:
        taglen -= 1                                  # v0 stored the tag with its NUL
    cdef char *source = load_buffer(io, &len) if tag != NULL else NULL
    cdef uint64_t nentry = 0
    cdef const char **entry_points = NULL
    if source != NULL and encver >= 3:
        entry_points = load_names(io, &nentry)
    cdef Model *s = NULL
    if source != NULL and (encver < 3 or entry_points != NULL):
        s = model_new(BE_TORCH, device, tag, taglen)
        s.kind = KIND_SCRIPT
        s.blob = source
        s.bloblen = strlen(source)
        source = NULL
        if entry_points != NULL:
            model_set_entry_points(s, <uint32_t>nentry, entry_points)
        s = build_loaded_model(io, s)
    if entry_points != NULL:
        free_loaded(entry_points, nentry)
    free_if(device)
    free_if(tag)
    free_if(source)
    return s


cdef void script_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) noexcept nogil:
    # A script without entry points (stored by AI.SCRIPTSET) is rewritten in
    # that form: AI.SCRIPTSTORE requires entry points.
    cdef Model *s = <Model *>value
    cdef size_t n = 0, i
    cdef RedisModuleString **args = <RedisModuleString **>RedisModule_Alloc(
        (8 + s.nentry) * sizeof(RedisModuleString *))
    args[n] = cstr(s.device); n += 1
    args[n] = cstr(b"TAG"); n += 1
    args[n] = RedisModule_CreateString(NULL, s.tag, s.taglen); n += 1
    if s.nentry > 0:
        args[n] = cstr(b"ENTRY_POINTS"); n += 1
        args[n] = RedisModule_CreateStringFromLongLong(NULL, s.nentry); n += 1
        for i in range(s.nentry):
            args[n] = cstr(s.entry_points[i]); n += 1
    args[n] = cstr(b"SOURCE"); n += 1
    args[n] = RedisModule_CreateString(NULL, s.blob, s.bloblen); n += 1
    RedisModule_EmitAOF(aof, b"AI.SCRIPTSTORE" if s.nentry > 0 else b"AI.SCRIPTSET", b"sv", key,
                        args, n)
    free_strings(args, n)


cdef int register_types(RedisModuleCtx *ctx) noexcept nogil:
    global TensorType, ModelType, ScriptType
    cdef RedisModuleTypeMethods tm
    memset(&tm, 0, sizeof(tm))
    tm.version = REDISMODULE_TYPE_METHOD_VERSION
    tm.rdb_load = tensor_rdb_load
    tm.rdb_save = tensor_rdb_save
    tm.aof_rewrite = tensor_aof_rewrite
    tm.mem_usage = tensor_mem_usage
    tm.digest = tensor_digest
    tm.free = tensor_free
    tm.copy = tensor_copy
    TensorType = RedisModule_CreateDataType(ctx, b"AI_TENSOR", ENCODING_VERSION, &tm)
    memset(&tm, 0, sizeof(tm))
    tm.version = REDISMODULE_TYPE_METHOD_VERSION
    tm.rdb_load = model_rdb_load
    tm.rdb_save = model_rdb_save
    tm.aof_rewrite = model_aof_rewrite
    tm.mem_usage = model_usage
    tm.digest = model_digest               # scripts too
    tm.free = model_free
    tm.copy = model_copy_to
    ModelType = RedisModule_CreateDataType(ctx, b"AI__MODEL", ENCODING_VERSION, &tm)
    tm.rdb_load = script_rdb_load
    tm.rdb_save = script_rdb_save
    tm.aof_rewrite = script_aof_rewrite
    ScriptType = RedisModule_CreateDataType(ctx, b"AI_SCRIPT", ENCODING_VERSION, &tm)
    return REDISMODULE_OK if TensorType != NULL and ModelType != NULL and ScriptType != NULL \
        else REDISMODULE_ERR

