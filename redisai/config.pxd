# Load-time arguments, AI.CONFIG and the INFO MODULES sections.
from redisai.rm cimport RedisModuleCtx, RedisModuleString, RedisModuleInfoCtx
from redisai.model cimport Model

ctypedef struct Config:
    char *backends_path
    long long threads_per_queue
    long long intra_op_parallelism      # 0: the backend's default
    long long inter_op_parallelism
    long long model_chunk_size
    long long model_execution_timeout   # ms
    long long backend_memory_limit      # MB, 0: none

cdef Config config

# Applies the module arguments (spec/config.md order); logs and returns
# REDISMODULE_ERR on the first bad one.
cdef int apply_load_args(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
                         const char *module_dir) noexcept
cdef int cmd_config(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil
cdef void info_func(RedisModuleInfoCtx *ctx, int for_crash_report) noexcept nogil
# Loads a backend from its default location if it is not loaded yet (any
# thread: a first AI.MODELSTORE imports its framework on the worker).
cdef int ensure_backend(int backend) noexcept nogil
# Builds a model's backend session with the load-time thread and timeout
# settings (redisai.bridge.build_model).
cdef int build_configured(Model *m, char **error) noexcept nogil
