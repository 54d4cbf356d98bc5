# Handlers of the model commands (registered in redisai.commands).
from redisai.rm cimport RedisModuleCtx, RedisModuleString

cdef int cmd_modelstore(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modelget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modeldel(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modelexecute(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modelscan(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_info(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modelset(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modelrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
