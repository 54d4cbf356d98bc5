# The POSIX threads subset we use (Cython ships no pthread declarations).
from posix.signal cimport sigset_t
from posix.time cimport clockid_t, timespec

cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    ctypedef struct pthread_attr_t:
        pass
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_mutexattr_t:
        pass
    ctypedef struct pthread_cond_t:
        pass
    ctypedef struct pthread_condattr_t:
        pass
    int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                       void *(*start)(void *) noexcept nogil, void *arg)
    int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr)
    int pthread_mutex_destroy(pthread_mutex_t *m)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)
    int pthread_condattr_init(pthread_condattr_t *attr)
    int pthread_condattr_setclock(pthread_condattr_t *attr, clockid_t clock)
    int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
    int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
    int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const timespec *abstime)
    int pthread_cond_signal(pthread_cond_t *c)
    int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
    int pthread_getcpuclockid(pthread_t thread, clockid_t *clock)
    int pthread_setname_np(pthread_t thread, const char *name)
    pthread_t pthread_self()
    int pthread_equal(pthread_t a, pthread_t b)
