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
    Job *next

ctypedef struct RunQueue:
    char name[16]               # upper-cased device string, e.g. CPU, GPU:0
    pthread_mutex_t lock
    pthread_cond_t ready
    Job *head
    Job *tail
    int length                  # queued jobs
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
