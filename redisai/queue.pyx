# cython: language_level=3
from libc.string cimport memcpy, strcmp
from libc.stdio cimport snprintf
from posix.signal cimport sigset_t, sigfillset, SIG_BLOCK, SIG_SETMASK

from redisai.rm cimport RedisModule_Alloc, RedisModule_Free
from redisai.pthread cimport *

all_queues = NULL


cdef extern from "<ctype.h>" nogil:
    int toupper(int c)


cdef extern from "Python.h" nogil:
    ctypedef int PyGILState_STATE
    PyGILState_STATE PyGILState_Ensure()
    void *PyEval_SaveThread()


cdef void *worker_main(void *arg) noexcept nogil:
    cdef RunQueue *q = <RunQueue *>arg
    cdef Job *job
    # Give this thread a Python thread state for its whole life, then drop the
    # GIL: later `with gil` blocks only take the lock (each would otherwise
    # create and destroy a thread state, ~30 us per backend call).
    PyGILState_Ensure()
    PyEval_SaveThread()
    while True:
        pthread_mutex_lock(&q.lock)
        while q.head == NULL:
            pthread_cond_wait(&q.ready, &q.lock)
        job = q.head
        q.head = job.next
        if q.head == NULL:
            q.tail = NULL
        pthread_mutex_unlock(&q.lock)
        job.run(job.arg)
    return NULL


cdef RunQueue *queue_ensure(const char *device, size_t len, int nthreads) noexcept nogil:
    global all_queues
    cdef char name[16]
    cdef size_t i
    if len >= sizeof(name):
        return NULL
    for i in range(len):
        name[i] = toupper(device[i])
    name[len] = 0
    cdef RunQueue *q = all_queues
    while q != NULL:
        if strcmp(q.name, name) == 0:
            return q
        q = q.next
    q = <RunQueue *>RedisModule_Alloc(sizeof(RunQueue))
    memcpy(q.name, name, len + 1)
    pthread_mutex_init(&q.lock, NULL)
    pthread_cond_init(&q.ready, NULL)
    q.head = q.tail = NULL
    q.threads = <pthread_t *>RedisModule_Alloc(nthreads * sizeof(pthread_t))
    q.nthreads = 0
    # Workers inherit a fully blocked signal mask: signals stay with Redis's
    # main thread.
    cdef sigset_t all_signals, previous
    sigfillset(&all_signals)
    pthread_sigmask(SIG_BLOCK, &all_signals, &previous)
    cdef char thread_name[16]
    for i in range(<size_t>nthreads):
        if pthread_create(&q.threads[i], NULL, worker_main, q) != 0:
            break
        snprintf(thread_name, sizeof(thread_name), b"ai-%s-%d", q.name, <int>i + 1)
        pthread_setname_np(q.threads[i], thread_name)
        q.nthreads += 1
    pthread_sigmask(SIG_SETMASK, &previous, NULL)
    if q.nthreads == 0:
        RedisModule_Free(q.threads)
        RedisModule_Free(q)
        return NULL
    q.next = NULL
    cdef RunQueue **tail = &all_queues
    while tail[0] != NULL:
        tail = &tail[0].next
    tail[0] = q
    return q


cdef void queue_push(RunQueue *q, Job *job) noexcept nogil:
    job.next = NULL
    pthread_mutex_lock(&q.lock)
    if q.tail == NULL:
        q.head = job
    else:
        q.tail.next = job
    q.tail = job
    pthread_cond_signal(&q.ready)
    pthread_mutex_unlock(&q.lock)
