# Execution requests: parsed on the main thread, run on a device queue's
# worker, replied (outputs written, propagated) on the main thread. A single
# AI.MODELEXECUTE is a one-operation request; AI.MODELSTORE builds the model on
# a worker the same way, so neither blocks the server.
from redisai.rm cimport RedisModuleCtx, RedisModuleString
from redisai.model cimport Model, ModelRun

# Blocks the client and queues `run`; outputs go to argv[outputs:outputs+n].
# Takes ownership of `run`.
cdef void submit_model_run(RedisModuleCtx *ctx, ModelRun *run, RedisModuleString **output_keys,
                           long long timeout_ms) noexcept nogil

# Blocks the client and builds `m` on its queue from the chunks after
# argv[blob_at]; the worker then stores it at argv[1] under the server lock and
# propagates the command (even if the client has left). Takes ownership of `m`.
cdef void submit_model_build(RedisModuleCtx *ctx, Model *m, RedisModuleString **argv, int argc,
                             int blob_at) noexcept nogil

# Stores a built model at `key` (WRONGTYPE if it holds another type) and
# replies. Takes ownership of `m`. Returns REDISMODULE_OK if stored.
cdef int store_model(RedisModuleCtx *ctx, RedisModuleString *key, Model *m) noexcept nogil
