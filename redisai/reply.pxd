# Tensor replies (AI.TENSORGET and DAG TENSORGET ops).
from redisai.rm cimport RedisModuleCtx
from redisai.tensor cimport Tensor

# Replies OOM instead when the reply would not fit in the server's memory
# (main thread: the check asks CONFIG GET maxmemory).
cdef void reply_tensor(RedisModuleCtx *ctx, const Tensor *t, int fmt) noexcept nogil
