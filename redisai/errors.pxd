# Error codes of our own glue, and the one place that renders them as replies.
from redisai.rm cimport RedisModuleCtx, RedisModuleString

cdef enum Err:
    E_OK
    E_WRONGTYPE
    E_INVALID_DTYPE
    E_BAD_SHAPE
    E_BLOB_ARGS
    E_VALUES_COUNT
    E_BLOB_LENGTH
    E_BOOL_VALUE
    E_STRING_COUNT
    E_INVALID_VALUE
    E_STRING_NUL
    E_NO_MEMORY
    E_OOM
    E_TENSOR_TOO_LARGE
    E_REPLY_OOM
    E_TENSORSET_ARITY_DAG
    E_TENSORGET_ARITY_DAG
    E_TENSOR_EMPTY
    E_DATA_FORMAT
    E_BLOB_AND_VALUES
    E_UNSUPPORTED_BACKEND
    E_LOAD_BACKEND
    E_BACKENDSPATH_MISSING
    E_CHUNK_MISSING
    E_CHUNK_INVALID
    E_UNSUPPORTED_SUBCOMMAND
    E_IN_TX
    E_MODELEXECUTE_ARITY
    E_MODEL_EMPTY
    E_INPUTS_NOT_SPECIFIED
    E_INPUT_COUNT_ARG
    E_INPUT_COUNT_POSITIVE
    E_INPUTS_MISMATCH
    E_INPUT_KEYS_ARGS
    E_OUTPUTS_NOT_SPECIFIED
    E_OUTPUT_COUNT_ARG
    E_OUTPUT_COUNT_POSITIVE
    E_OUTPUTS_MISMATCH
    E_OUTPUT_KEYS_ARGS
    E_INVALID_ARGUMENT    # followed by the offending token
    E_TIMEOUT_MISSING
    E_TIMEOUT_INVALID
    E_INVALID_DEVICE
    E_BATCHSIZE
    E_MINBATCHSIZE
    E_MINBATCH_NO_BATCH
    E_MINBATCHTIMEOUT
    E_MINBATCHTIMEOUT_NO_MIN
    E_MISSING_BLOB
    E_TF_INPUTS
    E_TF_INPUTS_ARGS
    E_TF_OUTPUTS
    E_TF_OUTPUTS_ARGS
    E_INPUTS_FORBIDDEN
    E_EXPECTED_BLOB
    E_COULD_NOT_LOAD_BACKEND
    E_QUEUE
    E_NO_RUN_INFO
    E_UNSUPPORTED_DEVICE
    E_TFLITE_BATCHING
    E_MINBATCHTIMEOUT_NO_BATCH
    E_TF_NO_INPUTS_OUTPUTS
    E_TF_NO_OUTPUTS
    E_MODELRUN_ARITY
    E_COUNT

cdef const char *err_text(Err err) noexcept nogil
cdef int reply_error(RedisModuleCtx *ctx, Err err) noexcept nogil
# `ERR wrong number of arguments for '<name>' command`, the name as the client
# typed it (Redis 7's RedisModule_WrongArity lower-cases it).
# The message of `err` followed by the text of `token` (E_INVALID_ARGUMENT).
cdef int reply_error_token(RedisModuleCtx *ctx, Err err, RedisModuleString *token) noexcept nogil
# "<text of err>: <detail>" (just the text when detail is NULL), allocated.
cdef char *error_message(Err err, const char *detail) noexcept nogil
# Replies with an error_message() and frees it.
cdef int reply_owned_error(RedisModuleCtx *ctx, char *message) noexcept nogil
cdef int reply_arity(RedisModuleCtx *ctx, RedisModuleString *name) noexcept nogil
