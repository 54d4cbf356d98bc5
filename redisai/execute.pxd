# Running a request's parts on the workers (redisai.dag plans them).
from redisai.dag cimport Dag

# Job.run of a part: its ops in order, until done, stopped or waiting.
cdef bint run_part(void *arg) noexcept nogil
# Job.done of the part that finished last: the main thread replies (a
# low-level API request's callback runs here instead).
cdef void unblock_dag(void *arg) noexcept nogil
# The low-level API's synchronous runs: the one op of each of n one-op
# requests, in the calling thread.
cdef void run_now(Dag **dags, int n) noexcept nogil
