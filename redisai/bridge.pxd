# The only module that takes the GIL: everything that calls into Python.
from redisai.rm cimport RedisModuleCtx, RedisModuleBlockedClient, RedisModuleString
from redisai.errors cimport Err

cdef enum Backend:
    BE_TF
    BE_TFLITE
    BE_TORCH
    BE_ONNX
    BE_COUNT

ctypedef struct BackendInfo:
    const char *name          # wire token
    const char *info_field    # INFO MODULES version field
    char *version             # framework version once loaded, else NULL
    char *error               # why the last load failed (read it with backend_error_message)

cdef BackendInfo BACKENDS[<int>BE_COUNT]

cdef int backend_from_name(const char *name, size_t len) noexcept nogil
# "<text of err>: <why the backend's last load failed>", allocated.
cdef char *backend_error_message(Err err, int backend) noexcept nogil
# Imports the framework (any thread; Redis's signal handlers are kept).
# `path` is an optional extra import directory. Returns REDISMODULE_OK, or ERR
# after logging why (or if it was loaded already and `loaded_is_error`).
cdef int load_backend(RedisModuleCtx *ctx, int backend, const char *path,
                      bint loaded_is_error) noexcept nogil

from redisai.tensor cimport Tensor
from redisai.model cimport Model, Op

# AI._TENSORVIEW: describes a tensor as the backends see it (a numpy view
# over the module's memory), replying on the calling main thread.
cdef int reply_tensor_view(RedisModuleCtx *ctx, Tensor *t) noexcept nogil

# Builds m.session from its blob (a script: compiles its source; the backend
# must be loaded). Worker or main thread. On failure returns REDISMODULE_ERR
# and sets *error (owned reply text).
cdef int build_model(Model *m, long long intra_op, long long inter_op, long long execution_timeout_ms,
                     char **error) noexcept nogil

# What a running script's calls back into the server (redisai.host) act for.
ctypedef struct CallContext:
    RedisModuleBlockedClient *bc
    RedisModuleString *user         # the client's ACL user name; NULL: unrestricted
    bint holds_lock                 # the running thread holds the server lock already (a
                                    # low-level API run on the main thread)

# Runs a model or script op on op.inputs; fills op.outputs or op.error, and
# op.duration_us (the backend call alone).
cdef void run_op(Op *op, const CallContext *call) noexcept nogil
# Runs n model ops of one model as one call on `inputs`, their inputs joined
# along dim 0; each op gets its own rows of every output (or the batch's
# error), and the whole call's duration.
cdef void run_batch(Op **ops, int n, Tensor **inputs) noexcept nogil
# The context of the script running on this thread (NULL outside a script).
cdef const CallContext *current_call() noexcept nogil
# redisai.host registers the object scripts call back into.
cdef void set_script_host(object host)
