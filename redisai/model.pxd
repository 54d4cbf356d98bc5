# A stored model or script: its options, its original blob (a script's: its
# source) and names (kept in C so RDB and AOF never ask a backend to
# serialise), and the live backend session.
from libc.stdint cimport uint64_t, uint32_t, uint8_t
from redisai.tensor cimport Tensor
from redisai.queue cimport RunQueue, Job
from redisai.rm cimport RedisModuleString

ctypedef struct RunStats:
    long long duration_us       # successful backend time
    long long samples           # dim 0 of the first output, summed
    long long calls
    long long errors

cdef enum StoredKind:
    KIND_MODEL
    KIND_SCRIPT                 # TorchScript source; backend is TORCH

ctypedef struct Model:
    int refcount
    uint8_t kind                # StoredKind
    uint8_t backend             # bridge.Backend
    char *device                # as typed
    char *tag
    size_t taglen
    uint64_t batchsize
    uint64_t minbatchsize
    uint64_t minbatchtimeout
    uint32_t ninputs
    uint32_t noutputs
    char **inputs               # names (TF: as given; others: introspected)
    char **outputs
    char *blob                  # scripts: the source, NUL-terminated
    size_t bloblen
    uint32_t nentry             # scripts: declared entry points
    char **entry_points
    void *session               # the backend's Python object (owned), NULL until built
    Model *shares               # a COPY: the model whose blob and session it uses (a reference)
    RunQueue *queue
    char *key                   # key name of its statistics entry (NULL: none)
    size_t keylen
    RunStats stats
    Job destroy_job             # frees the session on a worker (needs the GIL)

cdef char *rm_strndup(const char *s, size_t len) noexcept nogil
# A model without blob or session (device and tag are copied).
cdef Model *model_new(int backend, const char *device, const char *tag, size_t taglen) noexcept nogil
# The blob: the chunks joined (a copy, done off the main thread when large).
cdef void model_set_blob(Model *m, RedisModuleString **chunks, int n) noexcept nogil
cdef void model_set_names(Model *m, uint32_t ninputs, const char **inputs,
                          uint32_t noutputs, const char **outputs) noexcept nogil
cdef void model_set_entry_points(Model *m, uint32_t n, const char **names) noexcept nogil
cdef Model *model_retain(Model *m) noexcept nogil
# A copy for another key (COPY): its own statistics, the same blob and session.
cdef Model *model_copy(Model *m) noexcept nogil
# Drops a reference; the last one queues the session's release on a worker.
cdef void model_release(Model *m) noexcept nogil
cdef size_t model_mem_usage(const Model *m) noexcept nogil

# Run statistics by key name (one global registry, any thread).
cdef void stats_register(Model *m, const char *key, size_t keylen) noexcept nogil
cdef Model *stats_lookup_retain(const char *key, size_t keylen) noexcept nogil
cdef void stats_add(Model *m, long long duration_us, long long samples, bint error) noexcept nogil
cdef void stats_reset(Model *m) noexcept nogil
# Calls fn(key, keylen, model, arg) for every registered model, under the lock.
cdef void stats_foreach(void (*fn)(const char *, size_t, Model *, void *) noexcept nogil,
                        void *arg) noexcept nogil

# redisai.bridge installs the function that drops a session (takes the GIL).
ctypedef void (*SessionRelease)(void *session) noexcept nogil
cdef void set_session_release(SessionRelease fn) noexcept nogil

# One operation of an execution request (redisai.dag): a model or script
# call, or a DAG's TENSORSET / TENSORGET. Slots index the request's tensor
# table; `inputs` are borrowed from it while the op runs, `outputs` (NULL
# where the backend produced none) and `error` are filled by a worker.
cdef enum OpKind:
    OP_TENSORSET
    OP_TENSORGET
    OP_MODEL
    OP_SCRIPT

cdef enum OpState:
    OP_PENDING                  # not executed (NA in a DAG reply)
    OP_DONE
    OP_FAILED

ctypedef struct Op:
    uint8_t kind                # OpKind
    uint8_t state               # OpState
    int format                  # TENSORGET: parse.FMT_* set
    Model *model                # model or script (a reference)
    char *function              # script: the function's name
    uint32_t ninputs
    int *in_slots
    Tensor **inputs
    uint32_t noutputs
    int *out_slots
    Tensor **outputs
    uint32_t nkeys              # script: KEYS and ARGS (retained argument strings)
    RedisModuleString **keys
    uint32_t nargs
    RedisModuleString **args
    char *error                 # reply text, owned; NULL on success
    long long duration_us

# Allocates the slot and tensor arrays of an op (zeroed).
cdef void op_init(Op *op, int kind, Model *m, uint32_t ninputs, uint32_t noutputs) noexcept nogil
# Releases what an op owns (main thread: it releases argument strings).
cdef void op_clear(Op *op) noexcept nogil
