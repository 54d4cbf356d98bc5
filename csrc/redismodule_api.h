/* Our declarations of the part of the Redis Modules API that redisai uses,
 * written from the public API reference (signatures and constants are facts
 * of the server ABI). Every function is a pointer filled by rm_init_api() from
 * the server's GetApi table; the pointers are defined once, in
 * redismodule_api.c. */
#ifndef REDISAI_REDISMODULE_API_H
#define REDISAI_REDISMODULE_API_H

#include <stddef.h>
#include <stdint.h>

#define REDISMODULE_OK 0
#define REDISMODULE_ERR 1
#define REDISMODULE_APIVER_1 1

#define REDISMODULE_READ (1 << 0)
#define REDISMODULE_WRITE (1 << 1)

#define REDISMODULE_KEYTYPE_EMPTY 0
#define REDISMODULE_KEYTYPE_MODULE 6

#define REDISMODULE_POSTPONED_LEN -1

/* RedisModule_CallReplyType values (RESP2 replies) */
#define REDISMODULE_REPLY_UNKNOWN -1
#define REDISMODULE_REPLY_STRING 0
#define REDISMODULE_REPLY_ERROR 1
#define REDISMODULE_REPLY_INTEGER 2
#define REDISMODULE_REPLY_ARRAY 3
#define REDISMODULE_REPLY_NULL 4
#define REDISMODULE_NO_EXPIRE -1

#define REDISMODULE_CTX_FLAGS_LUA (1 << 0)
#define REDISMODULE_CTX_FLAGS_MULTI (1 << 1)
#define REDISMODULE_CTX_FLAGS_EVICT (1 << 9)
#define REDISMODULE_CTX_FLAGS_OOM (1 << 10)
#define REDISMODULE_CTX_FLAGS_REPLICATED (1 << 12)
#define REDISMODULE_CTX_FLAGS_LOADING (1 << 13)
#define REDISMODULE_CTX_FLAGS_DENY_BLOCKING (1 << 21)

#define REDISMODULE_OPTIONS_HANDLE_IO_ERRORS (1 << 0)

/* Version 3 of the type-methods struct ends at `defrag`; servers >= 6.2
 * accept it. */
#define REDISMODULE_TYPE_METHOD_VERSION 3

typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleKey RedisModuleKey;
typedef struct RedisModuleString RedisModuleString;
typedef struct RedisModuleIO RedisModuleIO;
typedef struct RedisModuleType RedisModuleType;
typedef struct RedisModuleDigest RedisModuleDigest;
typedef struct RedisModuleInfoCtx RedisModuleInfoCtx;
typedef struct RedisModuleBlockedClient RedisModuleBlockedClient;
typedef struct RedisModuleDefragCtx RedisModuleDefragCtx;
typedef struct RedisModuleCallReply RedisModuleCallReply;
typedef struct RedisModuleUser RedisModuleUser;

typedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
typedef void *(*RedisModuleTypeLoadFunc)(RedisModuleIO *rdb, int encver);
typedef void (*RedisModuleTypeSaveFunc)(RedisModuleIO *rdb, void *value);
typedef void (*RedisModuleTypeRewriteFunc)(RedisModuleIO *aof, RedisModuleString *key, void *value);
typedef size_t (*RedisModuleTypeMemUsageFunc)(const void *value);
typedef void (*RedisModuleTypeDigestFunc)(RedisModuleDigest *digest, void *value);
typedef void (*RedisModuleTypeFreeFunc)(void *value);
typedef int (*RedisModuleTypeAuxLoadFunc)(RedisModuleIO *rdb, int encver, int when);
typedef void (*RedisModuleTypeAuxSaveFunc)(RedisModuleIO *rdb, int when);
typedef size_t (*RedisModuleTypeFreeEffortFunc)(RedisModuleString *key, const void *value);
typedef void (*RedisModuleTypeUnlinkFunc)(RedisModuleString *key, const void *value);
typedef void *(*RedisModuleTypeCopyFunc)(RedisModuleString *fromkey, RedisModuleString *tokey,
                                         const void *value);
typedef int (*RedisModuleTypeDefragFunc)(RedisModuleDefragCtx *ctx, RedisModuleString *key,
                                         void **value);
typedef void (*RedisModuleInfoFunc)(RedisModuleInfoCtx *ctx, int for_crash_report);
typedef void (*RedisModuleFreePrivDataFunc)(RedisModuleCtx *ctx, void *privdata);
typedef struct RedisModuleDict RedisModuleDict;
typedef struct RedisModuleDictIter RedisModuleDictIter;
typedef struct RedisModuleCommand RedisModuleCommand;

typedef struct RedisModuleTypeMethods {
    uint64_t version;
    RedisModuleTypeLoadFunc rdb_load;
    RedisModuleTypeSaveFunc rdb_save;
    RedisModuleTypeRewriteFunc aof_rewrite;
    RedisModuleTypeMemUsageFunc mem_usage;
    RedisModuleTypeDigestFunc digest;
    RedisModuleTypeFreeFunc free;
    RedisModuleTypeAuxLoadFunc aux_load;
    RedisModuleTypeAuxSaveFunc aux_save;
    int aux_save_triggers;
    RedisModuleTypeFreeEffortFunc free_effort;
    RedisModuleTypeUnlinkFunc unlink;
    RedisModuleTypeCopyFunc copy;
    RedisModuleTypeDefragFunc defrag;
} RedisModuleTypeMethods;

/* Command metadata (RedisModule_SetCommandInfo, Redis >= 7.0): COMMAND INFO,
 * COMMAND DOCS, key specs. Layouts as in the 7.0 API reference; the server
 * walks our arrays with the sizes given in RedisModuleCommandInfoVersion. */
#define REDISMODULE_CMD_KEY_RO (1ULL << 0)
#define REDISMODULE_CMD_KEY_RW (1ULL << 1)
#define REDISMODULE_CMD_KEY_OW (1ULL << 2)
#define REDISMODULE_CMD_KEY_RM (1ULL << 3)
#define REDISMODULE_CMD_KEY_ACCESS (1ULL << 4)
#define REDISMODULE_CMD_KEY_UPDATE (1ULL << 5)
#define REDISMODULE_CMD_KEY_INSERT (1ULL << 6)
#define REDISMODULE_CMD_KEY_DELETE (1ULL << 7)
#define REDISMODULE_CMD_KEY_NOT_KEY (1ULL << 8)
#define REDISMODULE_CMD_KEY_INCOMPLETE (1ULL << 9)
#define REDISMODULE_CMD_KEY_VARIABLE_FLAGS (1ULL << 10)

#define REDISMODULE_CMD_ARG_NONE 0
#define REDISMODULE_CMD_ARG_OPTIONAL (1 << 0)
#define REDISMODULE_CMD_ARG_MULTIPLE (1 << 1)
#define REDISMODULE_CMD_ARG_MULTIPLE_TOKEN (1 << 2)

typedef enum {
    REDISMODULE_ARG_TYPE_STRING,
    REDISMODULE_ARG_TYPE_INTEGER,
    REDISMODULE_ARG_TYPE_DOUBLE,
    REDISMODULE_ARG_TYPE_KEY,
    REDISMODULE_ARG_TYPE_PATTERN,
    REDISMODULE_ARG_TYPE_UNIX_TIME,
    REDISMODULE_ARG_TYPE_PURE_TOKEN,
    REDISMODULE_ARG_TYPE_ONEOF,
    REDISMODULE_ARG_TYPE_BLOCK
} RedisModuleCommandArgType;

typedef enum {
    REDISMODULE_KSPEC_BS_INVALID = 0, /* ends a key-spec array */
    REDISMODULE_KSPEC_BS_UNKNOWN,
    REDISMODULE_KSPEC_BS_INDEX,
    REDISMODULE_KSPEC_BS_KEYWORD
} RedisModuleKeySpecBeginSearchType;

typedef enum {
    REDISMODULE_KSPEC_FK_OMITTED = 0, /* one key */
    REDISMODULE_KSPEC_FK_UNKNOWN,
    REDISMODULE_KSPEC_FK_RANGE,
    REDISMODULE_KSPEC_FK_KEYNUM
} RedisModuleKeySpecFindKeysType;

typedef struct RedisModuleCommandKeySpec {
    const char *notes;
    uint64_t flags; /* REDISMODULE_CMD_KEY_* */
    RedisModuleKeySpecBeginSearchType begin_search_type;
    union {
        struct { int pos; } index;
        struct { const char *keyword; int startfrom; } keyword;
    } bs;
    RedisModuleKeySpecFindKeysType find_keys_type;
    union {
        struct { int lastkey, keystep, limit; } range;
        struct { int keynumidx, firstkey, keystep; } keynum;
    } fk;
} RedisModuleCommandKeySpec;

typedef struct RedisModuleCommandArg {
    const char *name;
    RedisModuleCommandArgType type;
    int key_spec_index; /* KEY arguments: index into key_specs; else -1 */
    const char *token;
    const char *summary;
    const char *since;
    int flags; /* REDISMODULE_CMD_ARG_* */
    const char *deprecated_since;
    struct RedisModuleCommandArg *subargs; /* ONEOF and BLOCK; ends with a zeroed entry */
    const char *display_text; /* read from 7.2 on; 7.0 strides past it */
} RedisModuleCommandArg;

typedef struct {
    const char *since;
    const char *changes;
} RedisModuleCommandHistoryEntry;

typedef struct {
    int version;
    size_t sizeof_historyentry;
    size_t sizeof_keyspec;
    size_t sizeof_arg;
} RedisModuleCommandInfoVersion;

typedef struct {
    const RedisModuleCommandInfoVersion *version;
    const char *summary;
    const char *complexity;
    const char *since;
    RedisModuleCommandHistoryEntry *history;
    const char *tips; /* space-separated */
    int arity;        /* -N: at least N arguments, counting the name; 0: unchanged */
    RedisModuleCommandKeySpec *key_specs; /* ends with a zeroed entry */
    RedisModuleCommandArg *args;          /* ends with a zeroed entry */
} RedisModuleCommandInfo;

/* Version 1 of the command-info structs, with our sizes. */
extern const RedisModuleCommandInfoVersion rm_command_info_version;

#define RM_API(ret, name, args) extern ret(*RedisModule_##name) args;
#define RM_API_LIST(X)                                                                          \
    /* memory */                                                                                \
    X(void *, Alloc, (size_t bytes))                                                            \
    X(void *, Realloc, (void *ptr, size_t bytes))                                               \
    X(void, Free, (void *ptr))                                                                  \
    X(size_t, MallocSize, (void *ptr))                                                          \
    /* module and commands */                                                                   \
    X(void, SetModuleAttribs, (RedisModuleCtx * ctx, const char *name, int ver, int apiver))    \
    X(int, IsModuleNameBusy, (const char *name))                                                \
    X(int, CreateCommand, (RedisModuleCtx * ctx, const char *name, RedisModuleCmdFunc cmdfunc,  \
                           const char *strflags, int firstkey, int lastkey, int keystep))       \
    X(void, SetModuleOptions, (RedisModuleCtx * ctx, int options))                              \
    X(int, GetContextFlags, (RedisModuleCtx * ctx))                                             \
    X(void, Log, (RedisModuleCtx * ctx, const char *level, const char *fmt, ...))               \
    X(float, GetUsedMemoryRatio, (void))                                                        \
    /* replies */                                                                               \
    X(int, ReplyWithError, (RedisModuleCtx * ctx, const char *err))                             \
    X(int, ReplyWithSimpleString, (RedisModuleCtx * ctx, const char *msg))                      \
    X(int, ReplyWithLongLong, (RedisModuleCtx * ctx, long long ll))                             \
    X(int, ReplyWithDouble, (RedisModuleCtx * ctx, double d))                                   \
    X(int, ReplyWithStringBuffer, (RedisModuleCtx * ctx, const char *buf, size_t len))          \
    X(int, ReplyWithArray, (RedisModuleCtx * ctx, long len))                                    \
    X(void, ReplySetArrayLength, (RedisModuleCtx * ctx, long len))                              \
    X(int, ReplyWithNull, (RedisModuleCtx * ctx))                                               \
    X(int, ReplicateVerbatim, (RedisModuleCtx * ctx))                                           \
    X(int, Replicate, (RedisModuleCtx * ctx, const char *cmdname, const char *fmt, ...))        \
    /* blocked clients */                                                                       \
    X(RedisModuleBlockedClient *, BlockClient, (RedisModuleCtx * ctx,                           \
        RedisModuleCmdFunc reply_callback, RedisModuleCmdFunc timeout_callback,                 \
        RedisModuleFreePrivDataFunc free_privdata, long long timeout_ms))                       \
    X(int, UnblockClient, (RedisModuleBlockedClient * bc, void *privdata))                      \
    X(void *, GetBlockedClientPrivateData, (RedisModuleCtx * ctx))                              \
    X(RedisModuleCtx *, GetThreadSafeContext, (RedisModuleBlockedClient * bc))                  \
    X(void, FreeThreadSafeContext, (RedisModuleCtx * ctx))                                      \
    X(void, ThreadSafeContextLock, (RedisModuleCtx * ctx))                                      \
    X(void, ThreadSafeContextUnlock, (RedisModuleCtx * ctx))                                    \
    X(long long, Milliseconds, (void))                                                          \
    /* calling commands (scripts' redis.execute), as the calling client's user */               \
    X(RedisModuleCallReply *, Call, (RedisModuleCtx * ctx, const char *cmdname,                 \
                                     const char *fmt, ...))                                     \
    X(int, CallReplyType, (RedisModuleCallReply * reply))                                       \
    X(const char *, CallReplyStringPtr, (RedisModuleCallReply * reply, size_t *len))            \
    X(long long, CallReplyInteger, (RedisModuleCallReply * reply))                              \
    X(size_t, CallReplyLength, (RedisModuleCallReply * reply))                                  \
    X(RedisModuleCallReply *, CallReplyArrayElement, (RedisModuleCallReply * reply, size_t idx)) \
    X(void, FreeCallReply, (RedisModuleCallReply * reply))                                      \
    X(RedisModuleString *, GetCurrentUserName, (RedisModuleCtx * ctx))                          \
    X(RedisModuleUser *, GetModuleUserFromUserName, (RedisModuleString * name))                 \
    X(void, FreeModuleUser, (RedisModuleUser * user))                                           \
    X(int, ACLCheckCommandPermissions, (RedisModuleUser * user, RedisModuleString **argv,       \
                                        int argc))                                              \
    /* key positions for cluster (getkeys-api) */                                               \
    X(int, IsKeysPositionRequest, (RedisModuleCtx * ctx))                                       \
    X(void, KeyAtPos, (RedisModuleCtx * ctx, int pos))                                          \
    /* dictionaries */                                                                          \
    X(RedisModuleDict *, CreateDict, (RedisModuleCtx * ctx))                                    \
    X(int, DictReplaceC, (RedisModuleDict * d, void *key, size_t keylen, void *ptr))            \
    X(int, DictDelC, (RedisModuleDict * d, void *key, size_t keylen, void *oldval))             \
    X(void *, DictGetC, (RedisModuleDict * d, void *key, size_t keylen, int *nokey))            \
    X(RedisModuleDictIter *, DictIteratorStartC, (RedisModuleDict * d, const char *op,          \
                                                  void *key, size_t keylen))                    \
    X(void *, DictNextC, (RedisModuleDictIter * di, size_t *keylen, void **dataptr))            \
    X(void, DictIteratorStop, (RedisModuleDictIter * di))                                       \
    /* strings */                                                                               \
    X(const char *, StringPtrLen, (const RedisModuleString *str, size_t *len))                  \
    X(int, StringToLongLong, (const RedisModuleString *str, long long *ll))                     \
    X(int, StringToDouble, (const RedisModuleString *str, double *d))                           \
    X(RedisModuleString *, CreateString, (RedisModuleCtx * ctx, const char *ptr, size_t len))   \
    X(RedisModuleString *, CreateStringFromLongLong, (RedisModuleCtx * ctx, long long ll))      \
    X(void, FreeString, (RedisModuleCtx * ctx, RedisModuleString *str))                         \
    X(void, RetainString, (RedisModuleCtx * ctx, RedisModuleString *str))                       \
    /* keys and module types */                                                                 \
    X(RedisModuleKey *, OpenKey, (RedisModuleCtx * ctx, RedisModuleString *keyname, int mode))  \
    X(void, CloseKey, (RedisModuleKey * kp))                                                    \
    X(int, KeyType, (RedisModuleKey * kp))                                                      \
    X(int, DeleteKey, (RedisModuleKey * kp))                                                    \
    X(RedisModuleType *, CreateDataType, (RedisModuleCtx * ctx, const char *name, int encver,   \
                                          RedisModuleTypeMethods *typemethods))                 \
    X(RedisModuleType *, ModuleTypeGetType, (RedisModuleKey * key))                             \
    X(void *, ModuleTypeGetValue, (RedisModuleKey * key))                                       \
    X(int, ModuleTypeSetValue, (RedisModuleKey * key, RedisModuleType *mt, void *value))        \
    X(int, ModuleTypeReplaceValue, (RedisModuleKey * key, RedisModuleType *mt, void *new_value, \
                                    void **old_value))                                          \
    X(long long, GetExpire, (RedisModuleKey * key))                                             \
    X(int, SetExpire, (RedisModuleKey * key, long long expire))                                 \
    /* RDB and AOF */                                                                           \
    X(void, SaveUnsigned, (RedisModuleIO * io, uint64_t value))                                 \
    X(uint64_t, LoadUnsigned, (RedisModuleIO * io))                                             \
    X(void, SaveSigned, (RedisModuleIO * io, int64_t value))                                    \
    X(int64_t, LoadSigned, (RedisModuleIO * io))                                                \
    X(void, SaveStringBuffer, (RedisModuleIO * io, const char *str, size_t len))                \
    X(char *, LoadStringBuffer, (RedisModuleIO * io, size_t *lenptr))                           \
    X(int, IsIOError, (RedisModuleIO * io))                                                     \
    X(const RedisModuleString *, GetKeyNameFromIO, (RedisModuleIO * io))                        \
    X(void, LogIOError, (RedisModuleIO * io, const char *levelstr, const char *fmt, ...))       \
    X(void, EmitAOF, (RedisModuleIO * io, const char *cmdname, const char *fmt, ...))           \
    /* DEBUG DIGEST: elements mixed in order within a sequence; sequences XORed */              \
    X(void, DigestAddStringBuffer, (RedisModuleDigest * md, const char *ele, size_t len))       \
    X(void, DigestAddLongLong, (RedisModuleDigest * md, long long ll))                          \
    X(void, DigestEndSequence, (RedisModuleDigest * md))                                        \
    /* INFO */                                                                                  \
    X(int, RegisterInfoFunc, (RedisModuleCtx * ctx, RedisModuleInfoFunc cb))                    \
    X(int, InfoAddSection, (RedisModuleInfoCtx * ctx, const char *name))                        \
    X(int, InfoAddFieldCString, (RedisModuleInfoCtx * ctx, const char *field, const char *value)) \
    X(int, InfoAddFieldLongLong, (RedisModuleInfoCtx * ctx, const char *field, long long value))

/* Looked up when present; NULL on servers that predate them. */
#define RM_API_OPTIONAL_LIST(X)                                                                 \
    X(void *, TryAlloc, (size_t bytes))                                                         \
    X(int, GetServerVersion, (void))                                                            \
    X(RedisModuleCommand *, GetCommand, (RedisModuleCtx * ctx, const char *name))               \
    X(int, SetCommandInfo, (RedisModuleCommand * command, const RedisModuleCommandInfo *info))  \
    X(void, KeyAtPosWithFlags, (RedisModuleCtx * ctx, int pos, int flags))                      \
    /* the low-level API for other modules (csrc/llapi.c) */                                    \
    X(int, ExportSharedAPI, (RedisModuleCtx * ctx, const char *apiname, void *func))            \
    X(void *, GetSharedAPI, (RedisModuleCtx * ctx, const char *apiname))

RM_API_LIST(RM_API)
RM_API_OPTIONAL_LIST(RM_API)

/* getkeys-api: reports argument `pos` as a key with REDISMODULE_CMD_KEY_*
 * flags (flags need >= 7.0); positions outside the argument vector are
 * ignored, because the server would read them. */
void rm_key_at(RedisModuleCtx *ctx, long long pos, int argc, int flags);

/* RedisModule_TryAlloc where the server has it (>= 7.0), else Alloc. */
void *rm_try_alloc(size_t bytes);

/* A numeric server setting (CONFIG GET <name>), or `fallback` if it cannot be
 * read. Main thread only. */
unsigned long long rm_config_get_ull(const char *name, unsigned long long fallback);

/* Fill every pointer from the server. Returns REDISMODULE_ERR if a required
 * function is missing, the module name is taken, or the server is too old. */
int rm_init_api(RedisModuleCtx *ctx, const char *name, int ver);

#endif
