# The Redis Modules API for Cython: the functions of csrc/redismodule_api.h,
# usable without the GIL.
from libc.stdint cimport uint64_t, int64_t

cdef extern from "redismodule_api.h" nogil:
    enum:
        REDISMODULE_OK
        REDISMODULE_ERR
        REDISMODULE_READ
        REDISMODULE_WRITE
        REDISMODULE_KEYTYPE_EMPTY
        REDISMODULE_KEYTYPE_MODULE
        REDISMODULE_POSTPONED_LEN
        REDISMODULE_NO_EXPIRE
        REDISMODULE_CTX_FLAGS_LUA
        REDISMODULE_CTX_FLAGS_MULTI
        REDISMODULE_CTX_FLAGS_EVICT
        REDISMODULE_CTX_FLAGS_OOM
        REDISMODULE_CTX_FLAGS_REPLICATED
        REDISMODULE_CTX_FLAGS_LOADING
        REDISMODULE_CTX_FLAGS_DENY_BLOCKING
        REDISMODULE_OPTIONS_HANDLE_IO_ERRORS
        REDISMODULE_TYPE_METHOD_VERSION
        REDISMODULE_REPLY_UNKNOWN
        REDISMODULE_REPLY_STRING
        REDISMODULE_REPLY_ERROR
        REDISMODULE_REPLY_INTEGER
        REDISMODULE_REPLY_ARRAY
        REDISMODULE_REPLY_NULL
        REDISMODULE_CMD_KEY_RO
        REDISMODULE_CMD_KEY_RW
        REDISMODULE_CMD_KEY_OW
        REDISMODULE_CMD_KEY_RM
        REDISMODULE_CMD_KEY_ACCESS
        REDISMODULE_CMD_KEY_UPDATE
        REDISMODULE_CMD_KEY_INSERT
        REDISMODULE_CMD_KEY_DELETE
        REDISMODULE_CMD_KEY_NOT_KEY
        REDISMODULE_CMD_KEY_INCOMPLETE
        REDISMODULE_CMD_KEY_VARIABLE_FLAGS
        REDISMODULE_CMD_ARG_NONE
        REDISMODULE_CMD_ARG_OPTIONAL
        REDISMODULE_CMD_ARG_MULTIPLE
        REDISMODULE_CMD_ARG_MULTIPLE_TOKEN

    ctypedef struct RedisModuleCtx
    ctypedef struct RedisModuleKey
    ctypedef struct RedisModuleString
    ctypedef struct RedisModuleIO
    ctypedef struct RedisModuleType
    ctypedef struct RedisModuleDigest
    ctypedef struct RedisModuleInfoCtx
    ctypedef struct RedisModuleBlockedClient
    ctypedef struct RedisModuleDict
    ctypedef struct RedisModuleDictIter
    ctypedef struct RedisModuleCallReply
    ctypedef struct RedisModuleUser
    ctypedef struct RedisModuleCommand

    ctypedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
    ctypedef void (*RedisModuleInfoFunc)(RedisModuleInfoCtx *ctx, int for_crash_report) noexcept nogil
    ctypedef void (*RedisModuleFreePrivDataFunc)(RedisModuleCtx *ctx, void *privdata) noexcept nogil

    ctypedef struct RedisModuleTypeMethods:
        uint64_t version
        void *(*rdb_load)(RedisModuleIO *rdb, int encver) noexcept nogil
        void (*rdb_save)(RedisModuleIO *rdb, void *value) noexcept nogil
        void (*aof_rewrite)(RedisModuleIO *aof, RedisModuleString *key, void *value) noexcept nogil
        size_t (*mem_usage)(const void *value) noexcept nogil
        void (*digest)(RedisModuleDigest *digest, void *value) noexcept nogil
        void (*free)(void *value) noexcept nogil
        void *(*copy)(RedisModuleString *fromkey, RedisModuleString *tokey, const void *value) noexcept nogil

    # command metadata (COMMAND INFO / DOCS, key specs; Redis >= 7.0)
    ctypedef enum RedisModuleCommandArgType:
        REDISMODULE_ARG_TYPE_STRING
        REDISMODULE_ARG_TYPE_INTEGER
        REDISMODULE_ARG_TYPE_DOUBLE
        REDISMODULE_ARG_TYPE_KEY
        REDISMODULE_ARG_TYPE_PATTERN
        REDISMODULE_ARG_TYPE_UNIX_TIME
        REDISMODULE_ARG_TYPE_PURE_TOKEN
        REDISMODULE_ARG_TYPE_ONEOF
        REDISMODULE_ARG_TYPE_BLOCK
    ctypedef enum RedisModuleKeySpecBeginSearchType:
        REDISMODULE_KSPEC_BS_INVALID
        REDISMODULE_KSPEC_BS_UNKNOWN
        REDISMODULE_KSPEC_BS_INDEX
        REDISMODULE_KSPEC_BS_KEYWORD
    ctypedef enum RedisModuleKeySpecFindKeysType:
        REDISMODULE_KSPEC_FK_OMITTED
        REDISMODULE_KSPEC_FK_UNKNOWN
        REDISMODULE_KSPEC_FK_RANGE
        REDISMODULE_KSPEC_FK_KEYNUM
    ctypedef struct RedisModuleKeySpecIndex "struct { int pos; }":
        int pos
    ctypedef struct RedisModuleKeySpecKeyword "struct { const char *keyword; int startfrom; }":
        const char *keyword
        int startfrom
    ctypedef union RedisModuleKeySpecBS:
        RedisModuleKeySpecIndex index
        RedisModuleKeySpecKeyword keyword
    ctypedef struct RedisModuleKeySpecRange "struct { int lastkey, keystep, limit; }":
        int lastkey, keystep, limit
    ctypedef struct RedisModuleKeySpecKeynum "struct { int keynumidx, firstkey, keystep; }":
        int keynumidx, firstkey, keystep
    ctypedef union RedisModuleKeySpecFK:
        RedisModuleKeySpecRange range
        RedisModuleKeySpecKeynum keynum
    ctypedef struct RedisModuleCommandKeySpec:
        const char *notes
        uint64_t flags
        RedisModuleKeySpecBeginSearchType begin_search_type
        RedisModuleKeySpecBS bs
        RedisModuleKeySpecFindKeysType find_keys_type
        RedisModuleKeySpecFK fk
    ctypedef struct RedisModuleCommandArg:
        const char *name
        RedisModuleCommandArgType type
        int key_spec_index
        const char *token
        const char *summary
        const char *since
        int flags
        const char *deprecated_since
        RedisModuleCommandArg *subargs
        const char *display_text
    ctypedef struct RedisModuleCommandInfoVersion:
        pass
    ctypedef struct RedisModuleCommandInfo:
        const RedisModuleCommandInfoVersion *version
        const char *summary
        const char *complexity
        const char *since
        void *history
        const char *tips
        int arity
        RedisModuleCommandKeySpec *key_specs
        RedisModuleCommandArg *args
    const RedisModuleCommandInfoVersion rm_command_info_version
    RedisModuleCommand *(*RedisModule_GetCommand)(RedisModuleCtx *ctx, const char *name)  # NULL before 7.0
    int (*RedisModule_SetCommandInfo)(RedisModuleCommand *command, const RedisModuleCommandInfo *info)
    # getkeys-api: `pos` as a key with REDISMODULE_CMD_KEY_* flags; out-of-range positions ignored
    void rm_key_at(RedisModuleCtx *ctx, long long pos, int argc, int flags)

    # memory
    void *RedisModule_Alloc(size_t bytes)
    void *rm_try_alloc(size_t bytes)    # TryAlloc (>= 7.0) or Alloc
    void *RedisModule_Realloc(void *ptr, size_t bytes)
    void RedisModule_Free(void *ptr)
    size_t RedisModule_MallocSize(void *ptr)

    # module and commands
    int RedisModule_CreateCommand(RedisModuleCtx *ctx, const char *name, RedisModuleCmdFunc cmdfunc,
                                  const char *strflags, int firstkey, int lastkey, int keystep)
    void RedisModule_SetModuleOptions(RedisModuleCtx *ctx, int options)
    int RedisModule_GetContextFlags(RedisModuleCtx *ctx)
    void RedisModule_Log(RedisModuleCtx *ctx, const char *level, const char *fmt, ...)
    float RedisModule_GetUsedMemoryRatio()

    # replies
    int RedisModule_ReplyWithError(RedisModuleCtx *ctx, const char *err)
    int RedisModule_ReplyWithSimpleString(RedisModuleCtx *ctx, const char *msg)
    int RedisModule_ReplyWithLongLong(RedisModuleCtx *ctx, long long ll)
    int RedisModule_ReplyWithDouble(RedisModuleCtx *ctx, double d)
    int RedisModule_ReplyWithStringBuffer(RedisModuleCtx *ctx, const char *buf, size_t len)
    int RedisModule_ReplyWithArray(RedisModuleCtx *ctx, long len)
    void RedisModule_ReplySetArrayLength(RedisModuleCtx *ctx, long len)
    int RedisModule_ReplyWithNull(RedisModuleCtx *ctx)
    int RedisModule_ReplicateVerbatim(RedisModuleCtx *ctx)
    int RedisModule_Replicate(RedisModuleCtx *ctx, const char *cmdname, const char *fmt, ...)

    # blocked clients
    RedisModuleBlockedClient *RedisModule_BlockClient(RedisModuleCtx *ctx, RedisModuleCmdFunc reply_callback,
                                                      RedisModuleCmdFunc timeout_callback,
                                                      RedisModuleFreePrivDataFunc free_privdata,
                                                      long long timeout_ms)
    int RedisModule_UnblockClient(RedisModuleBlockedClient *bc, void *privdata)
    void *RedisModule_GetBlockedClientPrivateData(RedisModuleCtx *ctx)
    RedisModuleCtx *RedisModule_GetThreadSafeContext(RedisModuleBlockedClient *bc)
    void RedisModule_FreeThreadSafeContext(RedisModuleCtx *ctx)
    void RedisModule_ThreadSafeContextLock(RedisModuleCtx *ctx)
    void RedisModule_ThreadSafeContextUnlock(RedisModuleCtx *ctx)
    long long RedisModule_Milliseconds()

    # calling commands (scripts' redis.execute)
    RedisModuleCallReply *RedisModule_Call(RedisModuleCtx *ctx, const char *cmdname, const char *fmt, ...)
    int RedisModule_CallReplyType(RedisModuleCallReply *reply)
    const char *RedisModule_CallReplyStringPtr(RedisModuleCallReply *reply, size_t *len)
    long long RedisModule_CallReplyInteger(RedisModuleCallReply *reply)
    size_t RedisModule_CallReplyLength(RedisModuleCallReply *reply)
    RedisModuleCallReply *RedisModule_CallReplyArrayElement(RedisModuleCallReply *reply, size_t idx)
    void RedisModule_FreeCallReply(RedisModuleCallReply *reply)
    RedisModuleString *RedisModule_GetCurrentUserName(RedisModuleCtx *ctx)
    RedisModuleUser *RedisModule_GetModuleUserFromUserName(RedisModuleString *name)
    void RedisModule_FreeModuleUser(RedisModuleUser *user)
    int RedisModule_ACLCheckCommandPermissions(RedisModuleUser *user, RedisModuleString **argv, int argc)
    # A numeric server setting (CONFIG GET), or `fallback`; main thread only.
    unsigned long long rm_config_get_ull(const char *name, unsigned long long fallback)

    # key positions (getkeys-api; report them with rm_key_at)
    int RedisModule_IsKeysPositionRequest(RedisModuleCtx *ctx)

    # dictionaries
    RedisModuleDict *RedisModule_CreateDict(RedisModuleCtx *ctx)
    int RedisModule_DictReplaceC(RedisModuleDict *d, void *key, size_t keylen, void *ptr)
    int RedisModule_DictDelC(RedisModuleDict *d, void *key, size_t keylen, void *oldval)
    void *RedisModule_DictGetC(RedisModuleDict *d, void *key, size_t keylen, int *nokey)
    RedisModuleDictIter *RedisModule_DictIteratorStartC(RedisModuleDict *d, const char *op, void *key,
                                                        size_t keylen)
    void *RedisModule_DictNextC(RedisModuleDictIter *di, size_t *keylen, void **dataptr)
    void RedisModule_DictIteratorStop(RedisModuleDictIter *di)

    # strings
    const char *RedisModule_StringPtrLen(const RedisModuleString *str, size_t *len)
    int RedisModule_StringToLongLong(const RedisModuleString *str, long long *ll)
    int RedisModule_StringToDouble(const RedisModuleString *str, double *d)
    RedisModuleString *RedisModule_CreateString(RedisModuleCtx *ctx, const char *ptr, size_t len)
    RedisModuleString *RedisModule_CreateStringFromLongLong(RedisModuleCtx *ctx, long long ll)
    void RedisModule_FreeString(RedisModuleCtx *ctx, RedisModuleString *str)
    void RedisModule_RetainString(RedisModuleCtx *ctx, RedisModuleString *str)

    # keys and module types
    RedisModuleKey *RedisModule_OpenKey(RedisModuleCtx *ctx, RedisModuleString *keyname, int mode)
    void RedisModule_CloseKey(RedisModuleKey *kp)
    int RedisModule_KeyType(RedisModuleKey *kp)
    int RedisModule_DeleteKey(RedisModuleKey *kp)
    RedisModuleType *RedisModule_CreateDataType(RedisModuleCtx *ctx, const char *name, int encver,
                                                RedisModuleTypeMethods *typemethods)
    RedisModuleType *RedisModule_ModuleTypeGetType(RedisModuleKey *key)
    void *RedisModule_ModuleTypeGetValue(RedisModuleKey *key)
    int RedisModule_ModuleTypeSetValue(RedisModuleKey *key, RedisModuleType *mt, void *value)
    int RedisModule_ModuleTypeReplaceValue(RedisModuleKey *key, RedisModuleType *mt, void *new_value,
                                           void **old_value)
    long long RedisModule_GetExpire(RedisModuleKey *key)
    int RedisModule_SetExpire(RedisModuleKey *key, long long expire)

    # RDB and AOF
    void RedisModule_SaveUnsigned(RedisModuleIO *io, uint64_t value)
    uint64_t RedisModule_LoadUnsigned(RedisModuleIO *io)
    void RedisModule_SaveSigned(RedisModuleIO *io, int64_t value)
    int64_t RedisModule_LoadSigned(RedisModuleIO *io)
    void RedisModule_SaveStringBuffer(RedisModuleIO *io, const char *str, size_t len)
    char *RedisModule_LoadStringBuffer(RedisModuleIO *io, size_t *lenptr)
    int RedisModule_IsIOError(RedisModuleIO *io)
    const RedisModuleString *RedisModule_GetKeyNameFromIO(RedisModuleIO *io)
    void RedisModule_LogIOError(RedisModuleIO *io, const char *levelstr, const char *fmt, ...)
    void RedisModule_EmitAOF(RedisModuleIO *io, const char *cmdname, const char *fmt, ...)

    # DEBUG DIGEST / DIGEST-VALUE
    void RedisModule_DigestAddStringBuffer(RedisModuleDigest *md, const char *ele, size_t len)
    void RedisModule_DigestAddLongLong(RedisModuleDigest *md, long long ll)
    void RedisModule_DigestEndSequence(RedisModuleDigest *md)

    # INFO
    int RedisModule_RegisterInfoFunc(RedisModuleCtx *ctx, RedisModuleInfoFunc cb)
    int RedisModule_InfoAddSection(RedisModuleInfoCtx *ctx, const char *name)
    int RedisModule_InfoAddFieldCString(RedisModuleInfoCtx *ctx, const char *field, const char *value)
    int RedisModule_InfoAddFieldLongLong(RedisModuleInfoCtx *ctx, const char *field, long long value)
