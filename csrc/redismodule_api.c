/* The one definition of every Redis Modules API pointer, and their lookup. */
#include <stdlib.h>
#include <string.h>

#include "redismodule_api.h"

#define RM_DEFINE(ret, name, args) ret(*RedisModule_##name) args = NULL;
RM_API_LIST(RM_DEFINE)
RM_API_OPTIONAL_LIST(RM_DEFINE)

static int (*RedisModule_GetApi)(const char *name, void *funcptr) = NULL;

#define RM_REQUIRE(ret, name, args) \
    if (RedisModule_GetApi("RedisModule_" #name, (void *)&RedisModule_##name) != REDISMODULE_OK) \
        return REDISMODULE_ERR;
#define RM_OPTIONAL(ret, name, args) \
    RedisModule_GetApi("RedisModule_" #name, (void *)&RedisModule_##name);

int rm_init_api(RedisModuleCtx *ctx, const char *name, int ver) {
    /* The server passes its GetApi lookup as the first word of the context. */
    RedisModule_GetApi = (int (*)(const char *, void *))((void **)ctx)[0];
    RM_API_LIST(RM_REQUIRE)
    RM_API_OPTIONAL_LIST(RM_OPTIONAL)
    /* GetServerVersion exists since 6.0.9; without it the server is older
     * than the 6.0 line we support. */
    if (RedisModule_GetServerVersion == NULL || RedisModule_GetServerVersion() < 0x00060000)
        return REDISMODULE_ERR;
    if (RedisModule_IsModuleNameBusy(name))
        return REDISMODULE_ERR;
    RedisModule_SetModuleAttribs(ctx, name, ver, REDISMODULE_APIVER_1);
    return REDISMODULE_OK;
}

const RedisModuleCommandInfoVersion rm_command_info_version = {
    .version = 1,
    .sizeof_historyentry = sizeof(RedisModuleCommandHistoryEntry),
    .sizeof_keyspec = sizeof(RedisModuleCommandKeySpec),
    .sizeof_arg = sizeof(RedisModuleCommandArg),
};

void rm_key_at(RedisModuleCtx *ctx, long long pos, int argc, int flags) {
    if (pos < 1 || pos >= argc) return;
    if (RedisModule_KeyAtPosWithFlags)
        RedisModule_KeyAtPosWithFlags(ctx, (int)pos, flags);
    else
        RedisModule_KeyAtPos(ctx, (int)pos);
}

void *rm_try_alloc(size_t bytes) {
    return RedisModule_TryAlloc ? RedisModule_TryAlloc(bytes) : RedisModule_Alloc(bytes);
}

unsigned long long rm_config_get_ull(const char *name, unsigned long long fallback) {
    /* Detached, so that callers without a context (argument parsing) can ask. */
    static RedisModuleCtx *ctx = NULL;
    if (ctx == NULL) ctx = RedisModule_GetThreadSafeContext(NULL);
    RedisModuleCallReply *reply = RedisModule_Call(ctx, "CONFIG", "cc", "GET", name);
    if (reply == NULL) return fallback;
    /* RESP2 reply: [name, value]. */
    RedisModuleCallReply *value = RedisModule_CallReplyArrayElement(reply, 1);
    size_t len = 0;
    const char *text = value ? RedisModule_CallReplyStringPtr(value, &len) : NULL;
    char digits[32];
    unsigned long long result = fallback;
    if (text != NULL && len > 0 && len < sizeof digits) {
        memcpy(digits, text, len);
        digits[len] = '\0';
        char *end;
        unsigned long long parsed = strtoull(digits, &end, 10);
        if (*end == '\0') result = parsed;
    }
    RedisModule_FreeCallReply(reply);
    return result;
}
