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
    # scripts
    E_ARITY               # the server's arity error: the caller replies reply_arity(ctx, argv[0])
    E_MISSING_ENTRY_POINTS
    E_ENTRY_POINTS_NUMERIC
    E_MISSING_SOURCE
    E_SCOPE_FIRST
    E_KEYS_MISSING
    E_KEYS_COUNT
    E_KEYS_ARGS
    E_SCOPE_NO_COUNT
    E_SCRIPT_INPUTS_COUNT
    E_SCRIPT_INPUTS_ARGS
    E_SCRIPT_ARGS_COUNT
    E_SCRIPT_ARGS_ARGS
    E_SCRIPT_OUTPUTS_COUNT
    E_SCRIPT_OUTPUTS_ARGS
    E_KEYS_REPEATED
    E_ARGS_REPEATED
    E_INPUTS_REPEATED
    E_OUTPUTS_REPEATED
    E_SCRIPT_TIMEOUT_MISSING
    E_SCRIPT_UNEXPECTED   # followed by the offending token
    E_SCRIPT_AFTER_TIMEOUT
    E_TIMEOUT_IN_DAG
    E_SCRIPTRUN_TIMEOUT_TWICE
    E_SCRIPTRUN_INPUTS_SECTION
    E_SCRIPTRUN_INPUTS_KEYWORD
    E_SCRIPTRUN_OUTPUTS_KEYWORD
    E_SCRIPTRUN_DOLLAR_OUTSIDE
    E_SCRIPTRUN_DOLLAR_TWICE
    E_SCRIPTRUN_UNRECOGNIZED
    E_SCRIPTRUN_SPLIT
    # script commands and DAGs
    E_SCRIPT_EMPTY
    E_SCRIPTEXECUTE_ARITY
    E_SCRIPTRUN_ARITY
    E_DAGEXECUTE_ARITY
    E_DAGEXECUTE_RO_ARITY
    E_DAGRUN_ARITY
    E_DAGRUN_RO_ARITY
    E_LOAD_MISSING
    E_LOAD_COUNT
    E_LOAD_MISMATCH
    E_PERSIST_RO
    E_PERSIST_MISSING
    E_PERSIST_COUNT
    E_PERSIST_UNIQUE
    E_PERSIST_MISMATCH
    E_ROUTING_MISSING
    E_DAG_UNEXPECTED      # followed by the offending token
    E_DAG_KEYWORD_REQUIRED
    E_DAG_EMPTY
    E_DAG_SCRIPT_RO
    E_DAG_MODELRUN_IN_EXECUTE
    E_DAG_SCRIPTRUN_IN_EXECUTE
    E_DAG_MODELEXECUTE_IN_RUN
    E_DAG_SCRIPTEXECUTE_IN_RUN
    E_DAG_UNSUPPORTED_OP
    E_DAG_INPUT_NOT_FOUND
    E_DAG_PERSIST_NOT_FOUND
    # execution
    E_NON_TENSOR_OUTPUT
    E_BATCH_OUTPUT
    E_TF_BATCH_OUTPUT
    # redis.execute from a script
    E_CALL_UNKNOWN
    E_CALL_DENIED
    E_CALL_NOPERM
    # the low-level API for other modules (redisai.llapi)
    E_LL_NOTHING_TO_RUN
    E_LL_NOT_MODEL_CTX
    E_LL_NOT_SCRIPT_CTX
    E_LL_INPUTS_MISMATCH
    E_LL_OUTPUTS_MISMATCH
    E_LL_DAG_START
    E_LL_UNSUPPORTED_BACKEND
    E_COUNT

cdef const char *err_text(Err err) noexcept nogil
cdef int reply_error(RedisModuleCtx *ctx, Err err) noexcept nogil
# `ERR wrong number of arguments for '<name>' command`, the name as the client
# typed it (Redis 7's RedisModule_WrongArity lower-cases it).
# The message of `err` followed by the text of `token` (E_INVALID_ARGUMENT,
# E_SCRIPT_UNEXPECTED).
cdef int reply_error_token(RedisModuleCtx *ctx, Err err, RedisModuleString *token) noexcept nogil
# "<text of err>: <detail>" (just the text when detail is NULL), allocated.
cdef char *error_message(Err err, const char *detail) noexcept nogil
# The message of `err` followed by the text of `token`, allocated.
cdef char *error_message_token(Err err, RedisModuleString *token) noexcept nogil
# Replies with an error_message() and frees it.
cdef int reply_owned_error(RedisModuleCtx *ctx, char *message) noexcept nogil
cdef int reply_arity(RedisModuleCtx *ctx, RedisModuleString *name) noexcept nogil
