# cython: language_level=3
from libc.stdio cimport snprintf
from libc.string cimport strlen
from redisai.rm cimport (RedisModuleCtx, RedisModuleString, REDISMODULE_OK, RedisModule_Alloc,
                         RedisModule_Free, RedisModule_ReplyWithError, RedisModule_StringPtrLen)

# Exact wire texts (see the spec); the first word is the error code.
cdef const char *TEXT[<int>E_COUNT]
TEXT[<int>E_OK] = b"OK"
TEXT[<int>E_WRONGTYPE] = b"WRONGTYPE Operation against a key holding the wrong kind of value"
TEXT[<int>E_INVALID_DTYPE] = b"ERR invalid data type"
TEXT[<int>E_BAD_SHAPE] = b"ERR invalid or negative value found in tensor shape"
TEXT[<int>E_BLOB_ARGS] = (
    b"ERR a single binary string should come after the BLOB argument in 'AI.TENSORSET' command")
TEXT[<int>E_VALUES_COUNT] = b"ERR wrong number of values was given in 'AI.TENSORSET' command"
TEXT[<int>E_BLOB_LENGTH] = b"ERR data length does not match tensor shape and type"
TEXT[<int>E_BOOL_VALUE] = b"ERR BOOL tensor elements must be 0 or 1"
TEXT[<int>E_STRING_COUNT] = (
    b"ERR Number of string elements in data blob does not match tensor length")
TEXT[<int>E_INVALID_VALUE] = b"ERR invalid value"
TEXT[<int>E_STRING_NUL] = b"ERR C-string value contains null character"
TEXT[<int>E_NO_MEMORY] = b"OOM not enough memory for the tensor"
TEXT[<int>E_OOM] = b"OOM command not allowed when used memory > 'maxmemory'."
TEXT[<int>E_TENSOR_TOO_LARGE] = (
    b"ERR tensor too large: without BLOB or VALUES it may not exceed proto-max-bulk-len bytes")
TEXT[<int>E_REPLY_OOM] = b"OOM not enough memory for the reply"
TEXT[<int>E_TENSORSET_ARITY_DAG] = b"wrong number of arguments for 'AI.TENSORSET' command"
TEXT[<int>E_TENSORGET_ARITY_DAG] = b"wrong number of arguments for 'AI.TENSORGET' command"
TEXT[<int>E_TENSOR_EMPTY] = b"ERR tensor key is empty or in a different shard"
TEXT[<int>E_DATA_FORMAT] = b"ERR unsupported data format"
TEXT[<int>E_BLOB_AND_VALUES] = b"ERR both BLOB and VALUES specified"
TEXT[<int>E_UNSUPPORTED_BACKEND] = b"ERR unsupported backend"
TEXT[<int>E_LOAD_BACKEND] = b"ERR error loading backend"
TEXT[<int>E_BACKENDSPATH_MISSING] = b"ERR BACKENDSPATH: missing path argument"
TEXT[<int>E_CHUNK_MISSING] = b"ERR MODEL_CHUNK_SIZE: missing chunk size"
TEXT[<int>E_CHUNK_INVALID] = b"ERR MODEL_CHUNK_SIZE: invalid chunk size"
TEXT[<int>E_UNSUPPORTED_SUBCOMMAND] = b"ERR unsupported subcommand"
TEXT[<int>E_IN_TX] = b"ERR Cannot run RedisAI command within a transaction or a LUA script"
TEXT[<int>E_MODELEXECUTE_ARITY] = b"ERR wrong number of arguments for 'AI.MODELEXECUTE' command"
TEXT[<int>E_MODEL_EMPTY] = b"ERR model key is empty"
TEXT[<int>E_INPUTS_NOT_SPECIFIED] = b"ERR INPUTS not specified"
TEXT[<int>E_INPUT_COUNT_ARG] = b"ERR Invalid argument for input_count"
TEXT[<int>E_INPUT_COUNT_POSITIVE] = b"ERR Input count must be a positive integer"
TEXT[<int>E_INPUTS_MISMATCH] = b"Number of keys given as INPUTS here does not match model definition"
TEXT[<int>E_INPUT_KEYS_ARGS] = (b"ERR number of input keys to AI.MODELEXECUTE command does not match "
                                b"the number of given arguments")
TEXT[<int>E_OUTPUTS_NOT_SPECIFIED] = b"ERR OUTPUTS not specified"
TEXT[<int>E_OUTPUT_COUNT_ARG] = b"ERR Invalid argument for output_count"
TEXT[<int>E_OUTPUT_COUNT_POSITIVE] = b"ERR Output count must be a positive integer"
TEXT[<int>E_OUTPUTS_MISMATCH] = b"Number of keys given as OUTPUTS here does not match model definition"
TEXT[<int>E_OUTPUT_KEYS_ARGS] = (b"ERR number of output keys to AI.MODELEXECUTE command does not match "
                                 b"the number of given arguments")
TEXT[<int>E_INVALID_ARGUMENT] = b"Invalid argument: "
TEXT[<int>E_TIMEOUT_MISSING] = b"ERR No value provided for TIMEOUT"
TEXT[<int>E_TIMEOUT_INVALID] = b"ERR Invalid value for TIMEOUT"
TEXT[<int>E_INVALID_DEVICE] = b"ERR Invalid DEVICE"
TEXT[<int>E_BATCHSIZE] = b"ERR Invalid argument for BATCHSIZE"
TEXT[<int>E_MINBATCHSIZE] = b"ERR Invalid argument for MINBATCHSIZE"
TEXT[<int>E_MINBATCH_NO_BATCH] = b"ERR MINBATCHSIZE specified without BATCHSIZE"
TEXT[<int>E_MINBATCHTIMEOUT] = b"ERR Invalid argument for MINBATCHTIMEOUT"
TEXT[<int>E_MINBATCHTIMEOUT_NO_MIN] = b"ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"
TEXT[<int>E_MISSING_BLOB] = b"ERR Insufficient arguments, missing model BLOB"
TEXT[<int>E_TF_INPUTS] = b"ERR INPUTS not specified for TF"
TEXT[<int>E_TF_INPUTS_ARGS] = (
    b"ERR number of model inputs does not match the number of given arguments")
TEXT[<int>E_TF_OUTPUTS] = b"ERR OUTPUTS not specified for TF"
TEXT[<int>E_TF_OUTPUTS_ARGS] = (
    b"ERR number of model outputs does not match the number of given arguments")
TEXT[<int>E_INPUTS_FORBIDDEN] = b"ERR INPUTS argument should not be specified for this backend"
TEXT[<int>E_EXPECTED_BLOB] = b"ERR Invalid argument, expected BLOB"
TEXT[<int>E_COULD_NOT_LOAD_BACKEND] = b"ERR Could not load backend"
TEXT[<int>E_QUEUE] = b"ERR Could not initialize queue on requested device"
TEXT[<int>E_NO_RUN_INFO] = b"ERR cannot find run info for key"
TEXT[<int>E_UNSUPPORTED_DEVICE] = b"ERR unsupported device"
TEXT[<int>E_TFLITE_BATCHING] = b"ERR Auto-batching not supported by the TFLITE backend"
TEXT[<int>E_MINBATCHTIMEOUT_NO_BATCH] = b"ERR MINBATCHTIMEOUT specified without BATCHSIZE"
TEXT[<int>E_TF_NO_INPUTS_OUTPUTS] = b"ERR Insufficient arguments, INPUTS and OUTPUTS not specified"
TEXT[<int>E_TF_NO_OUTPUTS] = b"ERR OUTPUTS not specified"
TEXT[<int>E_MODELRUN_ARITY] = b"ERR wrong number of arguments for 'AI.MODELRUN' command"


cdef const char *err_text(Err err) noexcept nogil:
    return TEXT[<int>err]


cdef int reply_error(RedisModuleCtx *ctx, Err err) noexcept nogil:
    RedisModule_ReplyWithError(ctx, TEXT[<int>err])
    return REDISMODULE_OK


cdef int reply_formatted(RedisModuleCtx *ctx, const char *fmt, const char *a,
                         RedisModuleString *b) noexcept nogil:
    cdef size_t len
    cdef const char *s = RedisModule_StringPtrLen(b, &len)
    cdef size_t size = len + 128
    cdef char *msg = <char *>RedisModule_Alloc(size)
    snprintf(msg, size, fmt, a, <int>len, s)
    RedisModule_ReplyWithError(ctx, msg)
    RedisModule_Free(msg)
    return REDISMODULE_OK


cdef int reply_error_token(RedisModuleCtx *ctx, Err err, RedisModuleString *token) noexcept nogil:
    return reply_formatted(ctx, b"%s%.*s", TEXT[<int>err], token)


cdef char *error_message(Err err, const char *detail) noexcept nogil:
    cdef size_t size = strlen(TEXT[<int>err]) + (strlen(detail) + 2 if detail != NULL else 0) + 1
    cdef char *msg = <char *>RedisModule_Alloc(size)
    if detail != NULL:
        snprintf(msg, size, b"%s: %s", TEXT[<int>err], detail)
    else:
        snprintf(msg, size, b"%s", TEXT[<int>err])
    return msg


cdef int reply_owned_error(RedisModuleCtx *ctx, char *message) noexcept nogil:
    RedisModule_ReplyWithError(ctx, message)
    RedisModule_Free(message)
    return REDISMODULE_OK


cdef int reply_arity(RedisModuleCtx *ctx, RedisModuleString *name) noexcept nogil:
    return reply_formatted(ctx, b"%sERR wrong number of arguments for '%.*s' command", b"", name)
