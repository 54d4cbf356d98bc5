# Handlers of the script commands (registered in redisai.commands), and the
# script op shared with DAGs.
from redisai.rm cimport RedisModuleCtx, RedisModuleString
from redisai.model cimport Model, Op
from redisai.parse cimport ScriptExecArgs

cdef int cmd_scriptstore(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_scriptset(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_scriptget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_scriptdel(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_scriptexecute(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_scriptrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
# A script op (function, KEYS, ARGS; the caller sets its slots) from its
# parsed arguments; argv is the command's or the DAG op's.
cdef void script_op_init(Op *op, Model *s, RedisModuleString **argv, RedisModuleString *function,
                         ScriptExecArgs *a) noexcept nogil
