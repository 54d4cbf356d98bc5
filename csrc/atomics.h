/* Atomic operations Cython lacks: reference counts and counters shared by the main
 * thread, workers and Redis's lazy-free thread, and the workers' lock-free spin. */
#ifndef REDISAI_ATOMICS_H
#define REDISAI_ATOMICS_H

static inline void rai_incref(int *rc) { __atomic_add_fetch(rc, 1, __ATOMIC_RELAXED); }

/* Returns the new count; 0 means the caller owned the last reference. */
static inline int rai_decref(int *rc) { return __atomic_sub_fetch(rc, 1, __ATOMIC_ACQ_REL); }

/* Statistics counters updated by workers, read by the main thread. */
static inline void rai_add(long long *counter, long long v) {
    __atomic_add_fetch(counter, v, __ATOMIC_RELAXED);
}

/* A pointer another thread writes under a lock, polled without it. */
static inline void *rai_load_ptr(void *const *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

/* DAG state shared by the workers running its parts. */
static inline int rai_load_int(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

/* Sets *p from 0 to value; true for the one caller that did. */
static inline int rai_set_once(int *p, int value) {
    int expected = 0;
    return __atomic_compare_exchange_n(p, &expected, value, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static inline void rai_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
