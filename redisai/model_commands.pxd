# Handlers of the model commands (registered in redisai.commands), and the
# steps every execution command shares (redisai.script_commands).
from redisai.rm cimport RedisModuleCtx, RedisModuleString, RedisModuleType
from redisai.errors cimport Err
from redisai.model cimport Model, Op
from redisai.dag cimport Dag

# The value of a key of module type `mt` (read-only), else the error (`empty`
# for a missing key; E_OK accepts one).
cdef Err open_typed(RedisModuleCtx *ctx, RedisModuleString *name, RedisModuleType *mt, Err empty,
                    void **value) noexcept nogil
cdef void get_flags(RedisModuleString **argv, int argc, const char *content, bint *meta,
                    bint *data) noexcept nogil
# AI.MODELDEL / AI.SCRIPTDEL: deletes a key of module type `mt`, replicated verbatim.
cdef int delete_typed(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, RedisModuleType *mt,
                      Err empty) noexcept nogil
cdef bint in_transaction(RedisModuleCtx *ctx) noexcept nogil
# The checks every execution command starts with, in the spec's order:
# transaction, arity, the model or script key.
cdef Err open_to_run(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int min_argc,
                     Err arity, RedisModuleType *mt, Err empty, Model **m) noexcept nogil
# A one-op request: slots 0..n-1 are the input keys' tensors, the outputs
# follow and are persisted to their keys (a key of another type: WRONGTYPE).
# (`skip`: an argument among the keys that is not one, e.g. SCRIPTRUN's `$`.)
cdef Err load_inputs(RedisModuleCtx *ctx, Dag *dag, Op *op, RedisModuleString **keys,
                     RedisModuleString **skip) noexcept nogil
cdef Err check_outputs(RedisModuleCtx *ctx, Dag *dag, Op *op, RedisModuleString **keys) noexcept nogil
# Builds and stores a parsed model or script (see model_commands.pyx).
cdef int store(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, Model *m,
               int blob_at, int nchunks, Err err) noexcept nogil
# Queues a one-op request (with its TIMEOUT), or frees it and replies `err`.
cdef int submit_single(RedisModuleCtx *ctx, Dag *dag, Err err, long long timeout) noexcept nogil

cdef int cmd_modelstore(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modelget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modeldel(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modelexecute(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modelscan(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_info(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modelset(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_modelrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_scriptscan(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
