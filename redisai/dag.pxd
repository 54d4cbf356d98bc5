# The execution engine. Every execution request is a DAG of ops over a private
# table of tensor slots: AI.DAGEXECUTE/DAGRUN, and AI.MODELEXECUTE,
# AI.SCRIPTEXECUTE and their deprecated RUN forms as one-op DAGs. It is parsed
# and resolved on the main thread, run per device on the run queues (one part
# per device, in DAG order), and replied on the main thread. Model and script
# builds (AI.MODELSTORE/SCRIPTSTORE) use the same block, queue and reply path.
from redisai.rm cimport RedisModuleCtx, RedisModuleString, RedisModuleBlockedClient
from redisai.tensor cimport Tensor
from redisai.model cimport Model, Op
from redisai.queue cimport Job, RunQueue
from redisai.bridge cimport CallContext
from redisai.pthread cimport pthread_mutex_t

cdef enum RequestKind:
    REQ_DAG
    REQ_BUILD

cdef enum StopReason:
    RUNNING
    STOP_FAILED                     # an op failed: the others are not executed
    STOP_TIMEDOUT

cdef struct Dag

# What a request started through the low-level API (redisai.llapi) calls on
# the worker that completes it, with (the request, its private data).
ctypedef void (*DagFinish)(void *dag, void *private_data) noexcept nogil

cdef struct Part:                   # the ops of one device, in DAG order
    Job job
    Dag *dag
    RunQueue *queue
    int *ops
    int nops
    int next                        # the next op to run
    bint parked                     # waiting for another device's output

cdef struct Dag:
    RequestKind kind                # REQ_DAG (first: the blocked client's private data)
    int nslots
    Tensor **slots                  # references, NULL until produced
    int nops
    Op *ops
    int npersist                    # written to the keyspace after success
    RedisModuleString **persist_keys
    int *persist_slots
    int nparts
    Part *parts
    int unfinished                  # parts still running (atomic)
    pthread_mutex_t lock            # slots and parked parts, when nparts > 1
    long long deadline              # ms since the epoch, 0: none
    long long queued_ns             # now_ns() when queued (MINBATCHTIMEOUT)
    int stop                        # StopReason; the first one wins
    bint single                     # a one-op command: its bare reply
    CallContext call                # the blocked client and its ACL user (scripts)
    DagFinish on_finish             # low-level API: called instead of unblocking a client
    void *on_finish_data
    void *owner                     # low-level API: the run context or DAG that made it

# A zeroed request with `nslots` empty slots and `nops` ops (op_init each).
cdef Dag *dag_new(int nslots, int nops) noexcept nogil
# Keys the given slots are written to after success (the key strings are retained).
cdef void dag_set_persist(Dag *dag, int n, RedisModuleString **keys, const int *slots) noexcept nogil
# Blocks the client and queues the ops on their devices (a DAG with nothing to
# run is replied at once). Takes ownership of `dag`.
cdef int dag_submit(RedisModuleCtx *ctx, Dag *dag) noexcept nogil
# The same without a client (low-level API): dag.on_finish is called on a
# worker when it is done (a DAG with nothing to run passes through the CPU
# queue). Any thread.
cdef void dag_submit_detached(Dag *dag) noexcept nogil
cdef void dag_free(Dag *dag) noexcept nogil

# Blocks the client and builds `m` (a model or script) on its queue from the
# `nchunks` arguments after argv[blob_at]; the worker then stores it at argv[1]
# under the server lock and propagates the command (even if the client has
# left). Takes ownership of `m`.
cdef void submit_build(RedisModuleCtx *ctx, Model *m, RedisModuleString **argv, int argc,
                       int blob_at, int nchunks) noexcept nogil

# Stores a built model or script at `key` (WRONGTYPE if it holds another type)
# and replies. Takes ownership of `m`. Returns REDISMODULE_OK if stored.
cdef int store_model(RedisModuleCtx *ctx, RedisModuleString *key, Model *m) noexcept nogil
