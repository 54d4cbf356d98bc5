# Per-device run queues, each served by its own worker threads.
from redisai.pthread cimport pthread_t, pthread_mutex_t, pthread_cond_t

ctypedef bint (*JobRun)(void *arg) noexcept nogil
ctypedef void (*JobDone)(void *arg) noexcept nogil

ctypedef struct Job:
    JobRun run                  # the work, on a worker; False: the job was parked or
                                # handed on, the worker must not touch it again
    JobDone done                # hands the result back (may be held, see queue.pyx); or NULL
    const void *alike           # jobs with the same non-NULL value take about as long
    void *arg
    long long defer_until       # queued but waiting (a batch below its minimum): re-examined
                                # when another job arrives or at this time (now_ns clock);
                                # 0: runnable
    Job *next

ctypedef struct RunQueue:
    char name[16]               # upper-cased device string, e.g. CPU, GPU:0
    pthread_mutex_t lock
    pthread_cond_t ready
    Job *head
    Job *tail
    int length                  # queued jobs
    int deferred                # of which waiting (defer_until > 0)
    int spinning                # workers polling `head` instead of waiting on `ready`
    int nthreads
    pthread_t *threads
    RunQueue *next              # the list of all queues (main thread only)

cdef RunQueue *all_queues

# The queue for a device string (case-insensitive), created with its workers
# if missing. NULL if the name is too long or threads cannot be started.
cdef RunQueue *queue_ensure(const char *device, size_t len, int nthreads) noexcept nogil
cdef void queue_push(RunQueue *q, Job *job) noexcept nogil
# Puts a job at the head: a request that was already under way continues next.
cdef void queue_push_front(RunQueue *q, Job *job) noexcept nogil

# Decides, under the queue's lock, on each queued job in order: PICK_TAKE
# removes it from the queue (the picker owns it), PICK_STOP ends the walk
# (both may be set).
ctypedef int (*JobPick)(void *picker, Job *job) noexcept nogil
cdef enum:
    PICK_SKIP = 0
    PICK_TAKE = 1
    PICK_STOP = 2
cdef void queue_take(RunQueue *q, JobPick pick, void *picker) noexcept nogil
# Puts jobs back at the tail, each waiting until its `until` (> 0, now_ns
# clock) or until another job is queued.
cdef void queue_defer(RunQueue *q, Job **jobs, const long long *until, int n) noexcept nogil
# Makes a waiting job runnable now (no-op if it is not waiting in `q`).
cdef void queue_wake(RunQueue *q, Job *job) noexcept nogil
