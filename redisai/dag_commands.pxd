# Handlers of the DAG commands (registered in redisai.commands).
from redisai.rm cimport RedisModuleCtx, RedisModuleString

cdef int cmd_dagexecute(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_dagexecute_ro(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_dagrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_dagrun_ro(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
