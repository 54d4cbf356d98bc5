# Handlers of the DAG commands (registered in redisai.commands).
from redisai.rm cimport RedisModuleCtx, RedisModuleString
from redisai.errors cimport Err
from redisai.dag cimport Dag

cdef int cmd_dagexecute(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_dagexecute_ro(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_dagrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef int cmd_dagrun_ro(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil

# The low-level API's DAGAddOpsFromString: the ops of argv, which must start
# with `|>`, parsed as AI.DAGEXECUTE's into dag.ops (capacity: argc), their
# slots left as argv indices of the tensor names. On E_DAG_UNEXPECTED or
# E_INVALID_ARGUMENT *bad is the token. Release with dag_free.
cdef Err parse_dag_ops(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, Dag *dag,
                       RedisModuleString **bad) noexcept nogil
