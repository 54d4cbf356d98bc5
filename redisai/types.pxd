# The module data types: RDB, AOF rewrite, free, memory usage, digest. Every callback
# is pure C over module-owned memory, so it is safe in a fork child (BGSAVE,
# BGREWRITEAOF) and on the lazy-free thread.
from redisai.rm cimport RedisModuleCtx, RedisModuleType, RedisModuleString, RedisModuleKey
from redisai.tensor cimport Tensor

cdef RedisModuleType *TensorType
cdef RedisModuleType *ModelType
cdef RedisModuleType *ScriptType

# Installs a tensor (a reference) in a key opened for writing, clearing any TTL.
cdef void set_tensor(RedisModuleKey *key, Tensor *t) noexcept nogil

cdef int register_types(RedisModuleCtx *ctx) noexcept nogil
# Propagates a tensor as `AI.TENSORSET <key> <TYPE> <dims...> BLOB <data>`
# (the same command its AOF rewrite emits).
cdef void replicate_tensorset(RedisModuleCtx *ctx, RedisModuleString *key, const Tensor *t) noexcept nogil
