# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
from libc.stdint cimport int64_t, uint64_t, uint32_t, uint8_t
from libc.string cimport memcpy, memset, memchr, strlen
from libc.math cimport floor
from posix.strings cimport strncasecmp

from redisai.rm cimport (RedisModuleString, RedisModule_StringPtrLen, RedisModule_StringToLongLong,
                         RedisModule_StringToDouble, RedisModule_GetUsedMemoryRatio,
                         RedisModule_Alloc, RedisModule_Free, rm_try_alloc, rm_config_get_ull,
                         REDISMODULE_OK)
from redisai.errors cimport *
from redisai.tensor cimport *
from redisai.model cimport Model, model_new, model_set_names
from redisai.bridge cimport backend_from_name, BE_TF, BE_TFLITE

cdef enum:
    STACK_DIMS = 16
    # BLOBs this large are kept in the client's argument string, not copied:
    # Redis itself stops copying arguments above 32 KiB.
    WRAP_MIN_BYTES = 65536
    DEFAULT_PROTO_MAX_BULK_LEN = 512 * 1024 * 1024     # Redis's default

# Largest value VALUES accepts per integer type. The reference rejects every
# negative value in VALUES (its own tests rely on it); BLOB stores any bits.
cdef long long VALUE_MAX[<int>DT_COUNT]
VALUE_MAX[<int>DT_INT8] = 127
VALUE_MAX[<int>DT_INT16] = 32767
VALUE_MAX[<int>DT_INT32] = 2147483647
VALUE_MAX[<int>DT_INT64] = 9223372036854775807
VALUE_MAX[<int>DT_UINT8] = 255
VALUE_MAX[<int>DT_UINT16] = 65535
VALUE_MAX[<int>DT_BOOL] = 1


cdef bint token_is(RedisModuleString *arg, const char *word) noexcept nogil:
    cdef size_t len
    cdef const char *s = RedisModule_StringPtrLen(arg, &len)
    # Whole lengths first: an argument with an embedded NUL never matches, and
    # `word` is never read past its end.
    return len == strlen(word) and strncasecmp(s, word, len) == 0


cdef Err fill_values(Tensor *t, RedisModuleString **vals) noexcept nogil:
    cdef int64_t i, n = tensor_numel(t)
    cdef char *data = tensor_data(t)
    cdef double d
    cdef long long v
    cdef int dt = t.dtype
    if dt == DT_FLOAT or dt == DT_DOUBLE:
        for i in range(n):
            if RedisModule_StringToDouble(vals[i], &d) != REDISMODULE_OK:
                return E_INVALID_VALUE
            set_element_double(data, dt, i, d)
        return E_OK
    for i in range(n):
        if RedisModule_StringToLongLong(vals[i], &v) != REDISMODULE_OK or v < 0 or v > VALUE_MAX[dt]:
            return E_INVALID_VALUE
        set_element_integer(data, dt, i, v)
    return E_OK


cdef Err string_values_size(RedisModuleString **vals, int64_t n, uint64_t *nbytes) noexcept nogil:
    """Blob size for STRING VALUES: each element plus its NUL (a trailing NUL
    in the argument is the terminator, not duplicated)."""
    cdef size_t len
    cdef const char *s
    cdef int64_t i
    nbytes[0] = 0
    for i in range(n):
        s = RedisModule_StringPtrLen(vals[i], &len)
        if len > 0 and s[len - 1] == 0:
            len -= 1
        if memchr(s, 0, len) != NULL:
            return E_STRING_NUL
        nbytes[0] += len + 1
    return E_OK


cdef void fill_string_values(Tensor *t, RedisModuleString **vals) noexcept nogil:
    cdef char *p = tensor_data(t)
    cdef size_t len
    cdef const char *s
    cdef int64_t i
    for i in range(tensor_numel(t)):
        s = RedisModule_StringPtrLen(vals[i], &len)
        if len > 0 and s[len - 1] == 0:
            len -= 1
        memcpy(p, s, len)
        p[len] = 0
        p += len + 1


cdef uint64_t zero_fill_limit() noexcept nogil:
    """The largest tensor TENSORSET makes without BLOB or VALUES, the only size
    not bounded by what the client sent: no larger than the BLOB it could have
    sent instead (29 bytes of command must not make 4 GiB)."""
    return rm_config_get_ull(b"proto-max-bulk-len", DEFAULT_PROTO_MAX_BULK_LEN)


cdef Err parse_tensorset(RedisModuleString **argv, int argc, Tensor **out) noexcept nogil:
    cdef size_t len
    cdef const char *s = RedisModule_StringPtrLen(argv[2], &len)
    cdef int dt = dtype_from_name(s, len)
    if dt < 0:
        return E_INVALID_DTYPE
    cdef int64_t stack_dims[STACK_DIMS]
    cdef int64_t *dims = stack_dims
    if argc - 3 > STACK_DIMS:
        dims = <int64_t *>rm_try_alloc((argc - 3) * sizeof(int64_t))
        if dims == NULL:
            return E_NO_MEMORY
    cdef Err err = parse_shape_and_data(argv, argc, dt, dims, out)
    if dims != stack_dims:
        RedisModule_Free(dims)
    return err


cdef Err parse_shape_and_data(RedisModuleString **argv, int argc, int dt, int64_t *dims,
                              Tensor **out) noexcept nogil:
    cdef int i = 3
    cdef uint32_t ndims = 0
    cdef long long d
    cdef bint blob = False, values = False
    while i < argc:
        if token_is(argv[i], b"BLOB"):
            blob = True
            break
        if token_is(argv[i], b"VALUES"):
            values = True
            break
        if RedisModule_StringToLongLong(argv[i], &d) != REDISMODULE_OK or d <= 0:
            return E_BAD_SHAPE
        dims[ndims] = d
        ndims += 1
        i += 1
    cdef int64_t numel = shape_numel(ndims, dims)
    cdef uint64_t elsize = dtype_info(dt).size
    if numel < 0:
        return E_BAD_SHAPE
    cdef int nargs = argc - i - 1
    if blob and nargs != 1:
        return E_BLOB_ARGS
    if values and nargs != numel:
        return E_VALUES_COUNT

    cdef uint64_t nbytes
    cdef const char *data = NULL
    cdef size_t datalen = 0
    cdef Err err
    if blob:
        data = RedisModule_StringPtrLen(argv[i + 1], &datalen)
        err = check_blob(dt, data, datalen, numel)
        if err != E_OK:
            return err
        nbytes = datalen
    elif values and dt == DT_STRING:
        err = string_values_size(argv + i + 1, numel, &nbytes)
        if err != E_OK:
            return err
    else:
        if <uint64_t>numel > (<uint64_t>-1) // elsize:
            return E_BAD_SHAPE
        nbytes = (<uint64_t>numel) * elsize if dt != DT_STRING else <uint64_t>numel

    cdef Tensor *t
    if blob and nbytes >= WRAP_MIN_BYTES:
        t = tensor_wrap(dt, ndims, dims, argv[i + 1])
    elif not blob and not values and nbytes > zero_fill_limit():
        return E_TENSOR_TOO_LARGE
    elif not blob and not values and nbytes > physical_memory():
        return E_NO_MEMORY          # a zero-fill that size would get the server killed
    else:
        t = tensor_new(dt, ndims, dims, nbytes)
    if t == NULL:
        return E_NO_MEMORY
    if t.external:
        pass
    elif blob:
        memcpy(tensor_data(t), data, nbytes)
    elif values and dt == DT_STRING:
        fill_string_values(t, argv + i + 1)
    elif values:
        err = fill_values(t, argv + i + 1)
        if err != E_OK:
            tensor_release(t)
            return err
    else:
        # Zero-filled: the only size not bounded by what the client sent, so
        # refuse it here rather than push the server past maxmemory.
        if RedisModule_GetUsedMemoryRatio() > 1.0:
            tensor_release(t)
            return E_OOM
        memset(tensor_data(t), 0, nbytes)
    out[0] = t
    return E_OK


cdef Err check_blob(int dt, const char *data, size_t len, int64_t numel) noexcept nogil:
    cdef uint64_t elsize = dtype_info(dt).size
    if dt == DT_STRING:
        return E_OK if string_blob_valid(data, len, numel) else E_STRING_COUNT
    if <uint64_t>numel > (<uint64_t>-1) // elsize or len != <uint64_t>numel * elsize:
        return E_BLOB_LENGTH
    if dt == DT_BOOL and not bool_bytes_valid(data, len):
        return E_BOOL_VALUE
    return E_OK


cdef bint bool_bytes_valid(const char *data, size_t len) noexcept nogil:
    cdef size_t i
    for i in range(len):
        if <uint8_t>data[i] > 1:
            return False
    return True


cdef Err parse_tensorget_format(RedisModuleString **argv, int argc, int *fmt) noexcept nogil:
    cdef int i
    fmt[0] = 0
    for i in range(2, argc):
        if token_is(argv[i], b"META"):
            fmt[0] |= FMT_META
        elif token_is(argv[i], b"BLOB"):
            fmt[0] |= FMT_BLOB
        elif token_is(argv[i], b"VALUES"):
            fmt[0] |= FMT_VALUES
        else:
            return E_DATA_FORMAT
    if (fmt[0] & FMT_BLOB) and (fmt[0] & FMT_VALUES):
        return E_BLOB_AND_VALUES
    if fmt[0] == 0:
        fmt[0] = FMT_META | FMT_BLOB
    return E_OK


# ---- models ----------------------------------------------------------------

cdef bint device_valid(RedisModuleString *arg) noexcept nogil:
    """CPU or GPU, optionally ':' and up to five digits (case-insensitive)."""
    cdef size_t len, i
    cdef const char *s = RedisModule_StringPtrLen(arg, &len)
    if len < 3 or len > 9 or not (strncasecmp(s, b"CPU", 3) == 0 or strncasecmp(s, b"GPU", 3) == 0):
        return False
    if len == 3:
        return True
    if s[3] != b':':
        return False
    for i in range(4, len):
        if s[i] < b'0' or s[i] > b'9':
            return False
    return True


cdef bint batch_value(RedisModuleString *arg, long long *out) noexcept nogil:
    """A non-negative integer; like the reference, `2.0` or `1e3` also pass."""
    cdef double d
    if RedisModule_StringToLongLong(arg, out) == REDISMODULE_OK:
        return out[0] >= 0
    if RedisModule_StringToDouble(arg, &d) != REDISMODULE_OK or d < 0 or d != floor(d) or d > 1e18:
        return False
    out[0] = <long long>d
    return True


cdef Err parse_names(RedisModuleString **argv, int argc, int *i, const char *keyword, Err missing,
                     Err bad_count, Err too_few, const char ***names, long long *count) noexcept nogil:
    """`<keyword> <count> <name>...` of a TF MODELSTORE."""
    if i[0] >= argc or not token_is(argv[i[0]], keyword):
        return missing
    if i[0] + 1 >= argc or RedisModule_StringToLongLong(argv[i[0] + 1], count) != REDISMODULE_OK \
            or count[0] <= 0:
        return bad_count
    if argc - (i[0] + 2) < count[0]:
        return too_few
    names[0] = <const char **>RedisModule_Alloc(count[0] * sizeof(char *))
    cdef long long k
    for k in range(count[0]):
        names[0][k] = RedisModule_StringPtrLen(argv[i[0] + 2 + k], NULL)
    i[0] += 2 + count[0]
    return E_OK


cdef Err parse_modelstore(RedisModuleString **argv, int argc, Model **out, int *blob_at) noexcept nogil:
    cdef size_t len, taglen = 0
    cdef const char *s = RedisModule_StringPtrLen(argv[2], &len)
    cdef int backend = backend_from_name(s, len)
    if backend < 0:
        return E_UNSUPPORTED_BACKEND
    if not device_valid(argv[3]):
        return E_INVALID_DEVICE
    cdef int i = 4
    cdef const char *tag = b""
    cdef long long batch = 0, minbatch = 0, mintimeout = 0
    if i < argc and token_is(argv[i], b"TAG"):
        if i + 1 < argc:
            tag = RedisModule_StringPtrLen(argv[i + 1], &taglen)
        i += 2
    if i < argc and token_is(argv[i], b"BATCHSIZE"):
        if i + 1 >= argc or not batch_value(argv[i + 1], &batch):
            return E_BATCHSIZE
        i += 2
    if i < argc and token_is(argv[i], b"MINBATCHSIZE"):
        if i + 1 >= argc or not batch_value(argv[i + 1], &minbatch):
            return E_MINBATCHSIZE
        if minbatch > 0 and batch == 0:
            return E_MINBATCH_NO_BATCH
        i += 2
    if i < argc and token_is(argv[i], b"MINBATCHTIMEOUT"):
        if i + 1 >= argc or not batch_value(argv[i + 1], &mintimeout):
            return E_MINBATCHTIMEOUT
        if mintimeout > 0 and minbatch == 0:
            return E_MINBATCHTIMEOUT_NO_MIN
        i += 2
    if i >= argc:
        return E_MISSING_BLOB

    cdef const char **inputs = NULL
    cdef const char **outputs = NULL
    cdef long long ninputs = 0, noutputs = 0
    cdef Err err = E_OK
    if backend == BE_TF:
        err = parse_names(argv, argc, &i, b"INPUTS", E_TF_INPUTS, E_INPUT_COUNT_ARG,
                          E_TF_INPUTS_ARGS, &inputs, &ninputs)
        if err == E_OK:
            err = parse_names(argv, argc, &i, b"OUTPUTS", E_TF_OUTPUTS, E_OUTPUT_COUNT_ARG,
                              E_TF_OUTPUTS_ARGS, &outputs, &noutputs)
    elif token_is(argv[i], b"INPUTS"):
        err = E_INPUTS_FORBIDDEN
    if err == E_OK and (i >= argc or not token_is(argv[i], b"BLOB")):
        err = E_EXPECTED_BLOB
    if err == E_OK and i + 1 >= argc:
        err = E_MISSING_BLOB
    if err == E_OK:
        blob_at[0] = i
        out[0] = model_new(backend, RedisModule_StringPtrLen(argv[3], NULL), tag, taglen)
        out[0].batchsize = batch
        out[0].minbatchsize = minbatch
        out[0].minbatchtimeout = mintimeout
        if backend == BE_TF:
            model_set_names(out[0], ninputs, inputs, noutputs, outputs)
    if inputs != NULL:
        RedisModule_Free(inputs)
    if outputs != NULL:
        RedisModule_Free(outputs)
    return err


cdef Err parse_count(RedisModuleString **argv, int argc, int i, Err bad, Err not_positive,
                     long long *count) noexcept nogil:
    if i >= argc or RedisModule_StringToLongLong(argv[i], count) != REDISMODULE_OK:
        return bad
    return not_positive if count[0] <= 0 else E_OK


cdef Err parse_modelexecute(RedisModuleString **argv, int argc, const Model *m, ExecuteArgs *out,
                            RedisModuleString **bad) noexcept nogil:
    cdef long long n
    out.timeout = 0
    if not token_is(argv[2], b"INPUTS"):
        return E_INPUTS_NOT_SPECIFIED
    cdef Err err = parse_count(argv, argc, 3, E_INPUT_COUNT_ARG, E_INPUT_COUNT_POSITIVE, &n)
    if err != E_OK:
        return err
    if n != m.ninputs:
        return E_INPUTS_MISMATCH
    if argc - 4 < n:
        return E_INPUT_KEYS_ARGS
    out.inputs = 4
    out.ninputs = <int>n
    cdef int i = 4 + out.ninputs
    if i >= argc or not token_is(argv[i], b"OUTPUTS"):
        return E_OUTPUTS_NOT_SPECIFIED
    err = parse_count(argv, argc, i + 1, E_OUTPUT_COUNT_ARG, E_OUTPUT_COUNT_POSITIVE, &n)
    if err != E_OK:
        return err
    if n != m.noutputs:
        return E_OUTPUTS_MISMATCH
    if argc - (i + 2) < n:
        return E_OUTPUT_KEYS_ARGS
    out.outputs = i + 2
    out.noutputs = <int>n
    i = out.outputs + out.noutputs
    if i < argc:
        if not token_is(argv[i], b"TIMEOUT"):
            bad[0] = argv[i]
            return E_INVALID_ARGUMENT
        if i + 1 >= argc:
            return E_TIMEOUT_MISSING
        if RedisModule_StringToLongLong(argv[i + 1], &out.timeout) != REDISMODULE_OK or out.timeout <= 0:
            return E_TIMEOUT_INVALID
        if i + 2 < argc:
            bad[0] = argv[i + 2]
            return E_INVALID_ARGUMENT
    return E_OK


cdef bint is_modelset_keyword(RedisModuleString *arg) noexcept nogil:
    return (token_is(arg, b"INPUTS") or token_is(arg, b"OUTPUTS") or token_is(arg, b"TAG") or
            token_is(arg, b"BATCHSIZE") or token_is(arg, b"MINBATCHSIZE") or
            token_is(arg, b"MINBATCHTIMEOUT") or token_is(arg, b"BLOB"))


cdef int find_token(RedisModuleString **argv, int start, int argc, const char *word) noexcept nogil:
    cdef int i
    for i in range(start, argc):
        if token_is(argv[i], word):
            return i
    return -1


cdef Err parse_modelset(RedisModuleString **argv, int argc, Model **out, int *blob_at) noexcept nogil:
    cdef size_t len, taglen = 0
    cdef const char *s = RedisModule_StringPtrLen(argv[2], &len)
    cdef int backend = backend_from_name(s, len)
    if backend < 0:
        return E_UNSUPPORTED_BACKEND
    s = RedisModule_StringPtrLen(argv[3], &len)
    if len > 10 or is_modelset_keyword(argv[3]):
        return E_INVALID_DEVICE
    if len < 3 or not (strncasecmp(s, b"CPU", 3) == 0 or strncasecmp(s, b"GPU", 3) == 0):
        return E_UNSUPPORTED_DEVICE
    cdef int i = 4
    cdef const char *tag = b""
    cdef long long batch = 0, minbatch = 0, mintimeout = 0
    if i < argc and token_is(argv[i], b"TAG"):
        if i + 1 < argc:
            tag = RedisModule_StringPtrLen(argv[i + 1], &taglen)
        i += 2
    if i < argc and token_is(argv[i], b"BATCHSIZE"):
        if backend == BE_TFLITE:
            return E_TFLITE_BATCHING
        if i + 1 >= argc or not batch_value(argv[i + 1], &batch):
            return E_BATCHSIZE
        i += 2
    if i < argc and token_is(argv[i], b"MINBATCHSIZE"):
        if batch == 0:
            return E_MINBATCH_NO_BATCH
        if i + 1 >= argc or not batch_value(argv[i + 1], &minbatch):
            return E_MINBATCHSIZE
        i += 2
    if i < argc and token_is(argv[i], b"MINBATCHTIMEOUT"):
        if batch == 0:
            return E_MINBATCHTIMEOUT_NO_BATCH
        if minbatch == 0:
            return E_MINBATCHTIMEOUT_NO_MIN
        if i + 1 >= argc or not batch_value(argv[i + 1], &mintimeout):
            return E_MINBATCHTIMEOUT
        i += 2
    if i >= argc:
        return E_MISSING_BLOB
    cdef int blob = find_token(argv, i, argc, b"BLOB")
    cdef int outputs_at = -1
    if backend == BE_TF:
        if blob == i:
            return E_TF_NO_INPUTS_OUTPUTS
        if not token_is(argv[i], b"INPUTS"):
            return E_INPUTS_NOT_SPECIFIED
        outputs_at = find_token(argv, i + 1, blob if blob >= 0 else argc, b"OUTPUTS")
        if outputs_at < 0:
            return E_TF_NO_OUTPUTS
    if blob < 0 or blob + 1 >= argc:
        return E_MISSING_BLOB
    blob_at[0] = blob
    out[0] = model_new(backend, s, tag, taglen)
    out[0].batchsize = batch
    out[0].minbatchsize = minbatch
    out[0].minbatchtimeout = mintimeout
    if backend == BE_TF:
        set_arg_names(out[0], argv, i + 1, outputs_at, outputs_at + 1, blob)
    return E_OK


cdef void set_arg_names(Model *m, RedisModuleString **argv, int in_start, int in_end,
                        int out_start, int out_end) noexcept nogil:
    cdef const char **names = <const char **>RedisModule_Alloc(
        (in_end - in_start + out_end - out_start + 1) * sizeof(char *))
    cdef int k
    for k in range(in_start, in_end):
        names[k - in_start] = RedisModule_StringPtrLen(argv[k], NULL)
    for k in range(out_start, out_end):
        names[in_end - in_start + k - out_start] = RedisModule_StringPtrLen(argv[k], NULL)
    model_set_names(m, in_end - in_start, names, out_end - out_start, names + in_end - in_start)
    RedisModule_Free(names)


cdef Err parse_modelrun(RedisModuleString **argv, int argc, const Model *m,
                        ExecuteArgs *out) noexcept nogil:
    cdef int i = 2
    out.timeout = 0
    if token_is(argv[2], b"TIMEOUT"):
        if RedisModule_StringToLongLong(argv[3], &out.timeout) != REDISMODULE_OK or out.timeout <= 0:
            return E_TIMEOUT_INVALID
        i = 4
    if i >= argc or not token_is(argv[i], b"INPUTS"):
        return E_INPUTS_NOT_SPECIFIED
    cdef int outputs_at = find_token(argv, i + 1, argc, b"OUTPUTS")
    if outputs_at < 0:
        outputs_at = argc
    out.inputs = i + 1
    out.ninputs = outputs_at - out.inputs
    if out.ninputs != <int>m.ninputs:
        return E_INPUTS_MISMATCH
    out.outputs = outputs_at + 1
    out.noutputs = argc - out.outputs if outputs_at < argc else 0
    if out.noutputs != <int>m.noutputs:
        return E_OUTPUTS_MISMATCH
    return E_OK


# ---- scripts -----------------------------------------------------------------

cdef bint integral_value(RedisModuleString *arg, long long *out) noexcept nogil:
    """A strict integer; like the reference (rmutil's AC_GetLongLong), a
    decimal with zero fraction such as `2.0` or `1e3` also passes."""
    cdef double d
    if RedisModule_StringToLongLong(arg, out) == REDISMODULE_OK:
        return True
    if RedisModule_StringToDouble(arg, &d) != REDISMODULE_OK or d != floor(d) or not -9e18 < d < 9e18:
        return False
    out[0] = <long long>d
    return True


cdef bint timeout_value(RedisModuleString *arg, long long *out) noexcept nogil:
    return RedisModule_StringToLongLong(arg, out) == REDISMODULE_OK and out[0] > 0


cdef int skip_tag(RedisModuleString **argv, int argc, ScriptStoreArgs *out) noexcept nogil:
    """Fills device/tag from `<key> <device> [TAG <tag>]`; returns the next index."""
    memset(out, 0, sizeof(ScriptStoreArgs))
    out.device = 2
    if argc > 4 and token_is(argv[3], b"TAG"):
        out.tag = 4
        return 5
    return 3


cdef Err parse_scriptstore(RedisModuleString **argv, int argc, ScriptStoreArgs *out) noexcept nogil:
    if argc < 8:
        return E_ARITY
    cdef int i = skip_tag(argv, argc, out)
    if not token_is(argv[i], b"ENTRY_POINTS"):
        return E_MISSING_ENTRY_POINTS
    cdef long long n
    if not integral_value(argv[i + 1], &n):
        return E_ENTRY_POINTS_NUMERIC
    # The reference reads a negative count as a huge unsigned one and runs
    # out of names.
    if n < 0 or n > argc - (i + 2):
        return E_MISSING_ENTRY_POINTS
    out.entry_points = i + 2
    out.nentry = <int>n
    i = out.entry_points + out.nentry
    if i + 1 >= argc or not token_is(argv[i], b"SOURCE"):
        return E_MISSING_SOURCE
    out.source = i + 1
    return E_OK


cdef Err parse_scriptset(RedisModuleString **argv, int argc, ScriptStoreArgs *out) noexcept nogil:
    if argc != 5 and argc != 7:
        return E_ARITY
    cdef int i = skip_tag(argv, argc, out)
    if i + 1 >= argc or not token_is(argv[i], b"SOURCE"):
        return E_MISSING_SOURCE
    out.source = i + 1
    return E_OK


cdef Err execute_scope(RedisModuleString **argv, int argc, int *i, bint *seen, Err repeated,
                       Err bad_count, Err too_few, int *first, int *count) noexcept nogil:
    """`<keyword> <n> <name>...` of INPUTS, ARGS or OUTPUTS at argv[*i]. A
    negative count is refused (the reference takes it as an empty list)."""
    cdef long long n
    if seen[0]:
        return repeated
    seen[0] = True
    if i[0] + 1 >= argc:
        return E_SCOPE_NO_COUNT
    if RedisModule_StringToLongLong(argv[i[0] + 1], &n) != REDISMODULE_OK or n < 0:
        return bad_count
    if n > argc - (i[0] + 2):
        return too_few
    first[0] = i[0] + 2
    count[0] = <int>n
    i[0] = first[0] + count[0]
    return E_OK


cdef Err parse_scriptexecute(RedisModuleString **argv, int argc, bint in_dag, ScriptExecArgs *out,
                             RedisModuleString **bad) noexcept nogil:
    memset(out, 0, sizeof(ScriptExecArgs))
    if not in_dag and (argc < 4 or not (token_is(argv[3], b"KEYS") or token_is(argv[3], b"INPUTS"))):
        return E_SCOPE_FIRST
    cdef bint keys_seen = False, inputs_seen = False, args_seen = False, outputs_seen = False
    cdef int i = 3
    cdef long long n
    cdef Err err = E_OK
    while i < argc:
        if token_is(argv[i], b"TIMEOUT"):
            if i + 1 >= argc:
                return E_SCRIPT_TIMEOUT_MISSING
            if not timeout_value(argv[i + 1], &out.timeout):
                return E_TIMEOUT_INVALID
            if i + 2 < argc:
                return E_SCRIPT_AFTER_TIMEOUT
            # Like the reference, the value is validated before a DAG refuses it.
            return E_TIMEOUT_IN_DAG if in_dag else E_OK
        elif token_is(argv[i], b"KEYS"):
            if keys_seen:
                return E_KEYS_REPEATED
            keys_seen = True
            if argc - i < 3:
                return E_KEYS_MISSING
            if RedisModule_StringToLongLong(argv[i + 1], &n) != REDISMODULE_OK or n <= 0:
                return E_KEYS_COUNT
            if n > argc - (i + 2):
                return E_KEYS_ARGS
            out.keys = i + 2
            out.nkeys = <int>n
            i = out.keys + out.nkeys
        elif token_is(argv[i], b"INPUTS"):
            err = execute_scope(argv, argc, &i, &inputs_seen, E_INPUTS_REPEATED, E_SCRIPT_INPUTS_COUNT,
                                E_SCRIPT_INPUTS_ARGS, &out.inputs, &out.ninputs)
        elif token_is(argv[i], b"ARGS"):
            err = execute_scope(argv, argc, &i, &args_seen, E_ARGS_REPEATED, E_SCRIPT_ARGS_COUNT,
                                E_SCRIPT_ARGS_ARGS, &out.args, &out.nargs)
        elif token_is(argv[i], b"OUTPUTS"):
            err = execute_scope(argv, argc, &i, &outputs_seen, E_OUTPUTS_REPEATED,
                                E_SCRIPT_OUTPUTS_COUNT, E_SCRIPT_OUTPUTS_ARGS, &out.outputs,
                                &out.noutputs)
        else:
            bad[0] = argv[i]
            return E_SCRIPT_UNEXPECTED
        if err != E_OK:
            return err
    return E_OK


cdef bint scope_add(int *first, int *count, int i) noexcept nogil:
    """Appends argv[i] to a SCRIPTRUN section; False when it would not be
    contiguous with the names already there (a TIMEOUT clause came between)."""
    if count[0] == 0:
        first[0] = i
    elif first[0] + count[0] != i:
        return False
    count[0] += 1
    return True


cdef enum:
    SECTION_NONE
    SECTION_INPUTS
    SECTION_OUTPUTS


cdef Err parse_scriptrun(RedisModuleString **argv, int argc, bint in_dag,
                         ScriptExecArgs *out) noexcept nogil:
    memset(out, 0, sizeof(ScriptExecArgs))
    cdef int section = SECTION_NONE
    cdef bint inputs_done = False, timeout_seen = False
    cdef int i = 3
    while i < argc:
        if token_is(argv[i], b"TIMEOUT"):
            if timeout_seen:
                return E_SCRIPTRUN_TIMEOUT_TWICE
            # TIMEOUT as the last argument: the reference reads past argv.
            if i + 1 >= argc or not timeout_value(argv[i + 1], &out.timeout):
                return E_TIMEOUT_INVALID
            timeout_seen = True
            i += 1
        elif token_is(argv[i], b"INPUTS"):
            if inputs_done:
                return E_SCRIPTRUN_INPUTS_SECTION
            if section == SECTION_INPUTS:
                return E_SCRIPTRUN_INPUTS_KEYWORD
            section = SECTION_INPUTS
        elif token_is(argv[i], b"OUTPUTS"):
            if section == SECTION_OUTPUTS:
                return E_SCRIPTRUN_OUTPUTS_KEYWORD
            section = SECTION_OUTPUTS
            inputs_done = True
        elif token_is(argv[i], b"$"):
            if section != SECTION_INPUTS:
                return E_SCRIPTRUN_DOLLAR_OUTSIDE
            if out.dollar != 0:
                return E_SCRIPTRUN_DOLLAR_TWICE
            out.dollar = i
            if not scope_add(&out.inputs, &out.ninputs, i):
                return E_SCRIPTRUN_SPLIT
        elif section == SECTION_INPUTS:
            if not scope_add(&out.inputs, &out.ninputs, i):
                return E_SCRIPTRUN_SPLIT
        elif section == SECTION_OUTPUTS:
            if not scope_add(&out.outputs, &out.noutputs, i):
                return E_SCRIPTRUN_SPLIT
        else:
            return E_SCRIPTRUN_UNRECOGNIZED
        i += 1
    return E_TIMEOUT_IN_DAG if in_dag and timeout_seen else E_OK
