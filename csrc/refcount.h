/* Atomic reference counts and counters shared by the main thread, workers and Redis's
 * lazy-free thread (Cython has no atomics). */
#ifndef REDISAI_REFCOUNT_H
#define REDISAI_REFCOUNT_H

static inline void rai_incref(int *rc) { __atomic_add_fetch(rc, 1, __ATOMIC_RELAXED); }

/* Returns the new count; 0 means the caller owned the last reference. */
static inline int rai_decref(int *rc) { return __atomic_sub_fetch(rc, 1, __ATOMIC_ACQ_REL); }

/* Statistics counters updated by workers, read by the main thread. */
static inline void rai_add(long long *counter, long long v) {
    __atomic_add_fetch(counter, v, __ATOMIC_RELAXED);
}

#endif
