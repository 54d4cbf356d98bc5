# Tensor replies (AI.TENSORGET and DAG TENSORGET ops).
from redisai.rm cimport RedisModuleCtx
from redisai.tensor cimport Tensor

cdef void reply_tensor(RedisModuleCtx *ctx, const Tensor *t, int fmt) noexcept nogil
