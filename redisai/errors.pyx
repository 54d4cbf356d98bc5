# cython: language_level=3
from libc.stdio cimport snprintf
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


cdef const char *err_text(Err err) noexcept nogil:
    return TEXT[<int>err]


cdef int reply_error(RedisModuleCtx *ctx, Err err) noexcept nogil:
    RedisModule_ReplyWithError(ctx, TEXT[<int>err])
    return REDISMODULE_OK


cdef int reply_arity(RedisModuleCtx *ctx, RedisModuleString *name) noexcept nogil:
    cdef size_t len
    cdef const char *s = RedisModule_StringPtrLen(name, &len)
    cdef size_t size = len + 64
    cdef char *msg = <char *>RedisModule_Alloc(size)
    snprintf(msg, size, b"ERR wrong number of arguments for '%.*s' command", <int>len, s)
    RedisModule_ReplyWithError(ctx, msg)
    RedisModule_Free(msg)
    return REDISMODULE_OK
