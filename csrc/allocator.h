/* Giving a build's scratch memory back to the OS, whichever malloc the process has. */
#ifndef REDISAI_ALLOCATOR_H
#define REDISAI_ALLOCATOR_H

#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>

typedef int (*rai_mallctl_fn)(const char *, void *, size_t *, void *, size_t);

/* Returns the free pages of the calling thread's heap to the OS. A build frees
 * several times the model's size of scratch (the parsed model, unpacked
 * weights); left dirty, those pages are handed to the next blob, whose
 * untouched tail (jemalloc rounds 1.5 MiB up to 1.75) then stays resident.
 * Debian's redis-server makes jemalloc the process's malloc (it exports
 * `mallctl`); a Redis built with its own jemalloc keeps it to itself
 * (`je_` prefix), and everything else here uses glibc's malloc. */
static inline void rai_release_free_memory(void) {
    rai_mallctl_fn mallctl = (rai_mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (mallctl == NULL) {
        malloc_trim(0);
        return;
    }
    unsigned arena;
    size_t len = sizeof(arena);
    char name[32];
    if (mallctl("thread.arena", &arena, &len, NULL, 0) == 0) {
        snprintf(name, sizeof(name), "arena.%u.purge", arena);
        mallctl(name, NULL, NULL, NULL, 0);
    }
}

#endif
