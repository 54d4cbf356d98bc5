/* The one definition of every Redis Modules API pointer, and their lookup. */
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

void *rm_try_alloc(size_t bytes) {
    return RedisModule_TryAlloc ? RedisModule_TryAlloc(bytes) : RedisModule_Alloc(bytes);
}
