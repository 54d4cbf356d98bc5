# Running a request's parts on the workers (redisai.dag plans them).

# Job.run of a part: its ops in order, until done, stopped or waiting.
cdef bint run_part(void *arg) noexcept nogil
# Job.done of the part that finished last: the main thread replies.
cdef void unblock_dag(void *arg) noexcept nogil
