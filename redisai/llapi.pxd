# The low-level API for other modules (csrc/redisai_llapi.h).
from redisai.rm cimport RedisModuleCtx

# Exports every RedisAI_* function (OnLoad); logs a warning if the server
# cannot take shared APIs.
cdef void llapi_export(RedisModuleCtx *ctx) noexcept nogil
