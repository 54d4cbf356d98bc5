# The module data types: RDB, AOF rewrite, free, memory usage. Every callback
# is pure C over module-owned memory, so it is safe in a fork child (BGSAVE,
# BGREWRITEAOF) and on the lazy-free thread.
from redisai.rm cimport RedisModuleCtx, RedisModuleType

cdef RedisModuleType *TensorType
cdef RedisModuleType *ModelType

cdef int register_types(RedisModuleCtx *ctx) noexcept nogil
