# cython: language_level=3
from libc.string cimport memcpy, strcmp
from libc.stdio cimport snprintf
from posix.signal cimport sigset_t, sigfillset, SIG_BLOCK, SIG_SETMASK

from redisai.rm cimport RedisModule_Alloc, RedisModule_Free
from redisai.pthread cimport *
from redisai.clock cimport now_ns
from posix.time cimport timespec, CLOCK_MONOTONIC
from libc.limits cimport LLONG_MAX

all_queues = NULL


cdef extern from "<ctype.h>" nogil:
    int toupper(int c)


cdef extern from "Python.h" nogil:
    ctypedef int PyGILState_STATE
    PyGILState_STATE PyGILState_Ensure()
    void *PyEval_SaveThread()


cdef extern from "atomics.h" nogil:
    void *rai_load_ptr(void *const *p)
    void rai_cpu_relax()

cdef enum:
    # A worker whose queue ran dry polls it this long before sleeping: waking
    # a sleeping thread on another CPU costs ~30 us on a small VM, about a
    # whole small-model call, and at one client the next request comes sooner.
    SPIN_NS = 100000
    # Completions of short jobs are held back while more jobs are queued, then
    # handed back together: each hand-back (RedisModule_UnblockClient) may
    # wake the main thread, and one wake-up for several replies is what lets a
    # busy queue keep up (32 clients on a small model: +30% throughput over
    # 4 at a time). Bounded in count and in the oldest one's wait.
    MAX_HELD = 16
    HOLD_NS = 500000


ctypedef struct Held:
    Job *jobs[MAX_HELD]
    int count
    long long since_ns              # when the oldest was completed
    long long last_run_ns           # how long the last one ran


cdef void hand_back(Held *held) noexcept nogil:
    cdef int i
    for i in range(held.count):
        held.jobs[i].done(held.jobs[i].arg)
    held.count = 0


cdef void spin_for_work(RunQueue *q) noexcept nogil:
    """Polls the queue for up to SPIN_NS without the lock."""
    cdef long long until = now_ns() + SPIN_NS
    cdef int i
    while now_ns() < until:
        for i in range(64):
            if rai_load_ptr(<void **>&q.head) != NULL:
                return
            rai_cpu_relax()


cdef long long wake_time(RunQueue *q) noexcept nogil:
    """0 if a job can be taken now, else when one can (LLONG_MAX: only once
    another is queued). Lock held."""
    if q.head == NULL:
        return LLONG_MAX
    if q.deferred < q.length:
        return 0
    cdef long long wake = LLONG_MAX
    cdef Job *job = q.head
    while job != NULL:
        if job.defer_until < wake:
            wake = job.defer_until
        job = job.next
    return 0 if wake <= now_ns() else wake


cdef void wait_until(RunQueue *q, long long wake) noexcept nogil:
    cdef timespec at
    if wake == LLONG_MAX:
        pthread_cond_wait(&q.ready, &q.lock)
        return
    at.tv_sec = wake // 1000000000
    at.tv_nsec = wake % 1000000000
    pthread_cond_timedwait(&q.ready, &q.lock, &at)


cdef void unlink(RunQueue *q, Job *prev, Job *job) noexcept nogil:
    """Takes a queued job (after `prev`, NULL at the head) off the queue. Lock held."""
    if prev == NULL:
        q.head = job.next
    else:
        prev.next = job.next
    if q.tail == job:
        q.tail = prev
    q.length -= 1
    if job.defer_until:
        job.defer_until = 0
        q.deferred -= 1


cdef Job *next_job(RunQueue *q, Held *held) noexcept nogil:
    """The next job, once there is one; held completions are handed back
    before waiting."""
    pthread_mutex_lock(&q.lock)
    cdef long long wake = wake_time(q)
    if wake:
        pthread_mutex_unlock(&q.lock)
        hand_back(held)
        pthread_mutex_lock(&q.lock)
        if q.head == NULL and q.spinning == 0:     # one poller per queue is enough
            q.spinning += 1
            pthread_mutex_unlock(&q.lock)
            spin_for_work(q)
            pthread_mutex_lock(&q.lock)
            q.spinning -= 1
        wake = wake_time(q)
        while wake:
            wait_until(q, wake)
            wake = wake_time(q)
    cdef Job *job = q.head
    unlink(q, NULL, job)
    cdef int queued = q.length
    pthread_mutex_unlock(&q.lock)
    # Hold completions only across jobs alike, never more than there are
    # jobs still queued (their clients' next requests keep the queue fed),
    # and only if the oldest would still be handed back within HOLD_NS should
    # this job take as long as the last.
    if held.count and (job.alike == NULL or job.alike != held.jobs[0].alike or
                       held.count > queued or
                       now_ns() - held.since_ns + held.last_run_ns > HOLD_NS):
        hand_back(held)
    return job


cdef void *worker_main(void *arg) noexcept nogil:
    cdef RunQueue *q = <RunQueue *>arg
    cdef Job *job
    cdef Held held
    held.count = 0
    cdef long long start, end
    # Give this thread a Python thread state for its whole life, then drop the
    # GIL: later `with gil` blocks only take the lock (each would otherwise
    # create and destroy a thread state, ~30 us per backend call).
    PyGILState_Ensure()
    PyEval_SaveThread()
    while True:
        job = next_job(q, &held)
        start = now_ns()
        if not job.run(job.arg) or job.done == NULL:
            continue
        end = now_ns()
        if held.count == 0:
            held.since_ns = end
        held.jobs[held.count] = job
        held.count += 1
        held.last_run_ns = end - start
        if held.count == MAX_HELD or job.alike == NULL:
            hand_back(&held)
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
    cdef pthread_condattr_t monotonic          # timed waits use the now_ns clock
    pthread_condattr_init(&monotonic)
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC)
    pthread_cond_init(&q.ready, &monotonic)
    q.head = q.tail = NULL
    q.length = q.spinning = q.deferred = 0
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


cdef inline void append(Job **head, Job **tail, Job *first, Job *last) noexcept nogil:
    """Appends the chain first..last (linked by `next`) to a list."""
    last.next = NULL
    if tail[0] == NULL:
        head[0] = first
    else:
        tail[0].next = first
    tail[0] = last


cdef void push(RunQueue *q, Job *job, bint front) noexcept nogil:
    pthread_mutex_lock(&q.lock)
    if front:
        job.next = q.head
        q.head = job
        if q.tail == NULL:
            q.tail = job
    else:
        append(&q.head, &q.tail, job, job)
    q.length += 1
    if q.length > q.spinning:       # a spinning worker takes it without a wake-up
        pthread_cond_signal(&q.ready)
    pthread_mutex_unlock(&q.lock)


cdef void queue_push(RunQueue *q, Job *job) noexcept nogil:
    push(q, job, False)


cdef void queue_push_front(RunQueue *q, Job *job) noexcept nogil:
    push(q, job, True)


cdef void queue_take(RunQueue *q, JobPick pick, void *picker) noexcept nogil:
    pthread_mutex_lock(&q.lock)
    cdef Job *prev = NULL
    cdef Job *job = q.head
    cdef Job *next
    cdef int verdict
    while job != NULL:
        next = job.next
        verdict = pick(picker, job)
        if verdict & PICK_TAKE:
            unlink(q, prev, job)
        else:
            prev = job
        if verdict & PICK_STOP:
            break
        job = next
    pthread_mutex_unlock(&q.lock)


cdef void queue_defer(RunQueue *q, Job **jobs, const long long *until, int n) noexcept nogil:
    cdef int i
    pthread_mutex_lock(&q.lock)
    for i in range(n):
        jobs[i].defer_until = until[i]
        append(&q.head, &q.tail, jobs[i], jobs[i])
    q.length += n
    q.deferred += n
    pthread_mutex_unlock(&q.lock)


cdef void queue_wake(RunQueue *q, Job *job) noexcept nogil:
    pthread_mutex_lock(&q.lock)
    if job.defer_until:
        job.defer_until = 0
        q.deferred -= 1
        pthread_cond_signal(&q.ready)
    pthread_mutex_unlock(&q.lock)

