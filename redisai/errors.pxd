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
    E_COUNT

cdef const char *err_text(Err err) noexcept nogil
cdef int reply_error(RedisModuleCtx *ctx, Err err) noexcept nogil
# `ERR wrong number of arguments for '<name>' command`, the name as the client
# typed it (Redis 7's RedisModule_WrongArity lower-cases it).
cdef int reply_arity(RedisModuleCtx *ctx, RedisModuleString *name) noexcept nogil
