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
# scripts
TEXT[<int>E_ARITY] = b"ERR wrong number of arguments"
TEXT[<int>E_MISSING_ENTRY_POINTS] = b"ERR Insufficient arguments, missing script entry points"
TEXT[<int>E_ENTRY_POINTS_NUMERIC] = (
    b"ERR Non numeric entry points number provided to AI.SCRIPTSTORE command")
TEXT[<int>E_MISSING_SOURCE] = b"ERR Insufficient arguments, missing script SOURCE"
TEXT[<int>E_SCOPE_FIRST] = (
    b"ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command")
TEXT[<int>E_KEYS_MISSING] = b"ERR Missing arguments after KEYS keyword"
TEXT[<int>E_KEYS_COUNT] = b"ERR Invalid or negative value found in number of KEYS"
TEXT[<int>E_KEYS_ARGS] = (b"ERR Number of pre declared KEYS to be used in the command does not match "
                          b"the number of given arguments")
TEXT[<int>E_SCOPE_NO_COUNT] = b"ERR Invalid arguments provided to AI.SCRIPTEXECUTE"
TEXT[<int>E_SCRIPT_INPUTS_COUNT] = b"ERR Invalid argument for inputs count in AI.SCRIPTEXECUTE"
TEXT[<int>E_SCRIPT_INPUTS_ARGS] = (b"ERR number of inputs to AI.SCRIPTEXECUTE command does not match "
                                   b"the number of given arguments")
# "keys" (sic): the reference's text for a bad ARGS count.
TEXT[<int>E_SCRIPT_ARGS_COUNT] = b"ERR Invalid argument for keys count in AI.SCRIPTEXECUTE"
TEXT[<int>E_SCRIPT_ARGS_ARGS] = (b"ERR number of args to AI.SCRIPTEXECUTE command does not match "
                                 b"the number of given arguments")
TEXT[<int>E_SCRIPT_OUTPUTS_COUNT] = b"ERR Invalid argument for outputs count in AI.SCRIPTEXECUTE"
TEXT[<int>E_SCRIPT_OUTPUTS_ARGS] = (b"ERR number of outputs to AI.SCRIPTEXECUTE command does not match "
                                    b"the number of given arguments")
TEXT[<int>E_KEYS_REPEATED] = b"ERR Already Encountered KEYS scope in AI.SCRIPTEXECUTE command"
TEXT[<int>E_ARGS_REPEATED] = b"ERR Already Encountered ARGS scope in AI.SCRIPTEXECUTE command"
TEXT[<int>E_INPUTS_REPEATED] = b"ERR Already Encountered INPUTS scope in AI.SCRIPTEXECUTE command"
TEXT[<int>E_OUTPUTS_REPEATED] = b"ERR Already Encountered OUTPUTS scope in AI.SCRIPTEXECUTE command"
TEXT[<int>E_SCRIPT_TIMEOUT_MISSING] = b"ERR No value provided for TIMEOUT in AI.SCRIPTEXECUTE"
TEXT[<int>E_SCRIPT_UNEXPECTED] = b"ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: "
TEXT[<int>E_SCRIPT_AFTER_TIMEOUT] = b"ERR Encountered problem parsing AI.SCRIPTEXECUTE"
TEXT[<int>E_TIMEOUT_IN_DAG] = b"ERR TIMEOUT not allowed within a DAG command"
TEXT[<int>E_SCRIPTRUN_TIMEOUT_TWICE] = b"ERR Already encountered an TIMEOUT section in SCRIPTRUN"
TEXT[<int>E_SCRIPTRUN_INPUTS_SECTION] = b"ERR Already encountered an INPUTS section in SCRIPTRUN"
TEXT[<int>E_SCRIPTRUN_INPUTS_KEYWORD] = b"ERR Already encountered an INPUTS keyword in SCRIPTRUN"
TEXT[<int>E_SCRIPTRUN_OUTPUTS_KEYWORD] = b"ERR Already encountered an OUTPUTS keyword in SCRIPTRUN"
TEXT[<int>E_SCRIPTRUN_DOLLAR_OUTSIDE] = (
    b"ERR Encountered a variable size list of tensors outside of input section")
TEXT[<int>E_SCRIPTRUN_DOLLAR_TWICE] = b"ERR Already encountered a variable size list of tensors"
TEXT[<int>E_SCRIPTRUN_UNRECOGNIZED] = b"ERR Unrecongnized parameter to SCRIPTRUN"
# Ours: a section whose names a TIMEOUT clause splits has no single argv range.
TEXT[<int>E_SCRIPTRUN_SPLIT] = b"ERR TIMEOUT cannot come between the names of a section in SCRIPTRUN"
# script commands and DAGs
TEXT[<int>E_SCRIPT_EMPTY] = b"ERR script key is empty"
TEXT[<int>E_SCRIPTEXECUTE_ARITY] = b"ERR wrong number of arguments for 'AI.SCRIPTEXECUTE' command"
TEXT[<int>E_SCRIPTRUN_ARITY] = b"ERR wrong number of arguments for 'AI.SCRIPTRUN' command"
TEXT[<int>E_DAGEXECUTE_ARITY] = b"ERR missing arguments for 'AI.DAGEXECUTE' command"
TEXT[<int>E_DAGEXECUTE_RO_ARITY] = b"ERR missing arguments for 'AI.DAGEXECUTE_RO' command"
TEXT[<int>E_DAGRUN_ARITY] = b"ERR wrong number of arguments for 'AI.DAGRUN' command"
TEXT[<int>E_DAGRUN_RO_ARITY] = b"ERR wrong number of arguments for 'AI.DAGRUN_RO' command"
TEXT[<int>E_LOAD_MISSING] = b"ERR missing arguments after LOAD keyword in DAG command"
TEXT[<int>E_LOAD_COUNT] = b"ERR invalid or negative value found in number of keys to LOAD"
TEXT[<int>E_LOAD_MISMATCH] = (
    b"ERR number of keys to LOAD into DAG does not match the number of given arguments")
TEXT[<int>E_PERSIST_RO] = b"ERR PERSIST cannot be specified in a read-only DAG"
TEXT[<int>E_PERSIST_MISSING] = b"ERR missing arguments after PERSIST keyword in DAG command"
TEXT[<int>E_PERSIST_COUNT] = b"ERR invalid or negative value found in number of keys to PERSIST"
TEXT[<int>E_PERSIST_UNIQUE] = b"ERR PERSIST keys must be unique"
TEXT[<int>E_PERSIST_MISMATCH] = (
    b"ERR number of keys to PERSIST after DAG execution does not match the number of given arguments")
TEXT[<int>E_ROUTING_MISSING] = b"ERR Missing ROUTING value"
TEXT[<int>E_DAG_UNEXPECTED] = b"ERR Invalid DAG command. Unexpected argument:  "
TEXT[<int>E_DAG_KEYWORD_REQUIRED] = (
    b"ERR AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one out of ROUTING, "
    b"LOAD, PERSIST keywords")
TEXT[<int>E_DAG_EMPTY] = b"ERR DAG is empty"
TEXT[<int>E_DAG_SCRIPT_RO] = b"ERR AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG"
TEXT[<int>E_DAG_MODELRUN_IN_EXECUTE] = b"Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command"
TEXT[<int>E_DAG_SCRIPTRUN_IN_EXECUTE] = b"Deprecated AI.SCRIPTRUN cannot be used in AI.DAGEXECUTE command"
TEXT[<int>E_DAG_MODELEXECUTE_IN_RUN] = b"AI.MODELEXECUTE cannot be used in a deprecated AI.DAGRUN command"
TEXT[<int>E_DAG_SCRIPTEXECUTE_IN_RUN] = b"AI.SCRIPTEXECUTE cannot be used in a deprecated AI.DAGRUN command"
TEXT[<int>E_DAG_UNSUPPORTED_OP] = b"Unsupported command within DAG"
TEXT[<int>E_DAG_INPUT_NOT_FOUND] = b"ERR INPUT key cannot be found in DAG"
TEXT[<int>E_DAG_PERSIST_NOT_FOUND] = b"ERR PERSIST key cannot be found in DAG"
# execution
TEXT[<int>E_NON_TENSOR_OUTPUT] = b"ERR non-tensor output is not supported"
TEXT[<int>E_BATCH_OUTPUT] = b"ERR Model did not generate the expected batch size"
TEXT[<int>E_TF_BATCH_OUTPUT] = (
    b"ERR Tensorflow batching error: model did not generate the expected batch size")
# redis.execute from a script: Redis's own texts for a Lua script's redis.call.
TEXT[<int>E_CALL_UNKNOWN] = b"ERR Unknown Redis command called from script"
TEXT[<int>E_CALL_DENIED] = b"ERR This Redis command is not allowed from script"
TEXT[<int>E_CALL_NOPERM] = (b"NOPERM this user has no permissions to run the '%s' command or to access "
                            b"one of the keys used as arguments")
# the low-level API (spec/llapi.md)
TEXT[<int>E_LL_NOTHING_TO_RUN] = b"ERR Nothing to run"
TEXT[<int>E_LL_NOT_MODEL_CTX] = b"Finish ctx is not a model run ctx"
TEXT[<int>E_LL_NOT_SCRIPT_CTX] = b"Finish ctx is not a script run ctx"
TEXT[<int>E_LL_INPUTS_MISMATCH] = b"Number of keys given as INPUTS does not match model definition"
TEXT[<int>E_LL_OUTPUTS_MISMATCH] = b"Number of keys given as OUTPUTS does not match model definition"
TEXT[<int>E_LL_DAG_START] = b"DAG op should start with: '|>' "
TEXT[<int>E_LL_UNSUPPORTED_BACKEND] = b"ERR Unsupported backend"


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


cdef char *error_message_token(Err err, RedisModuleString *token) noexcept nogil:
    cdef size_t len
    cdef const char *s = RedisModule_StringPtrLen(token, &len)
    cdef size_t size = strlen(TEXT[<int>err]) + len + 1
    cdef char *msg = <char *>RedisModule_Alloc(size)
    snprintf(msg, size, b"%s%.*s", TEXT[<int>err], <int>len, s)
    return msg


cdef int reply_owned_error(RedisModuleCtx *ctx, char *message) noexcept nogil:
    RedisModule_ReplyWithError(ctx, message)
    RedisModule_Free(message)
    return REDISMODULE_OK


cdef int reply_arity(RedisModuleCtx *ctx, RedisModuleString *name) noexcept nogil:
    return reply_formatted(ctx, b"%sERR wrong number of arguments for '%.*s' command", b"", name)
