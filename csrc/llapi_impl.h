/* The implementation side of redisai_llapi.h: RedisAI_<Name> is
 * rai_llapi_<Name>, defined in redisai/llapi.pyx. Declaring them here from the
 * header's own list makes the compiler check each definition against it. */
#ifndef REDISAI_LLAPI_IMPL_H
#define REDISAI_LLAPI_IMPL_H

#define REDISAI_LLAPI_IMPLEMENTATION
#include "redisai_llapi.h"

#define RAI_LLAPI_PROTOTYPE(ret, name, args) ret rai_llapi_##name args;
REDISAI_LLAPI_FUNCTIONS(RAI_LLAPI_PROTOTYPE)

/* Exports every function (csrc/llapi.c). Returns how many could not be. */
int rai_llapi_export(RedisModuleCtx *ctx);

#endif
