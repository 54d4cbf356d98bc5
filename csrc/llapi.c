/* Exports the low-level API (csrc/redisai_llapi.h) to other modules. */
#include "redismodule_api.h"
#include "llapi_impl.h"

int rai_llapi_export(RedisModuleCtx *ctx) {
    int failed = 0;
#define RAI_LLAPI_EXPORT(ret, name, args)                                                     \
    failed += RedisModule_ExportSharedAPI == NULL ||                                          \
              RedisModule_ExportSharedAPI(ctx, "RedisAI_" #name, (void *)rai_llapi_##name) != \
                  REDISMODULE_OK;
    REDISAI_LLAPI_FUNCTIONS(RAI_LLAPI_EXPORT)
    return failed;
}
