/* A malloc-counting LD_PRELOAD shim for bench/run-profile: counts the calls to malloc, calloc,
 * realloc, the aligned allocators and free of every process it is loaded into, and rewrites
 * "allocs frees" into $MALLOCCOUNT_DIR/<pid> every 20 ms from a thread of its own, so that a
 * script can read the counts of a running server before and after a bounded load and divide.
 * Not part of the server. Build: cc -O2 -shared -fPIC -o malloccount.so malloccount.c -pthread
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_ullong s_allocs;
static atomic_ullong s_frees;

void *malloc(size_t n)
{
    atomic_fetch_add_explicit(&s_allocs, 1, memory_order_relaxed);
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    atomic_fetch_add_explicit(&s_allocs, 1, memory_order_relaxed);
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    atomic_fetch_add_explicit(&s_allocs, 1, memory_order_relaxed);
    if (p)
        atomic_fetch_add_explicit(&s_frees, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}

void *memalign(size_t align, size_t n)
{
    atomic_fetch_add_explicit(&s_allocs, 1, memory_order_relaxed);
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = memalign(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void free(void *p)
{
    if (p)
        atomic_fetch_add_explicit(&s_frees, 1, memory_order_relaxed);
    __libc_free(p);
}

/* Read once at load: nginx replaces its workers' environment. */
static char s_dir[400];

static void *reporter(void *unused)
{
    (void)unused;
    const char *dir = s_dir;
    if (!*dir)
        return NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/%d", dir, (int)getpid());
    for (;;) {
        char line[64];
        const int n = snprintf(line, sizeof line, "%20llu %20llu\n",
                               (unsigned long long)atomic_load(&s_allocs),
                               (unsigned long long)atomic_load(&s_frees));
        const int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            if (pwrite(fd, line, (size_t)n, 0) < 0) {
            }
            close(fd);
        }
        const struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void start(void)
{
    pthread_t thread;
    if (pthread_create(&thread, NULL, reporter, NULL) == 0)
        pthread_detach(thread);
}

static void child(void)
{
    atomic_store(&s_allocs, 0);
    atomic_store(&s_frees, 0);
    start(); /* threads do not survive fork(): the child reports under its own pid */
}

__attribute__((constructor)) static void init(void)
{
    const char *dir = getenv("MALLOCCOUNT_DIR");
    if (dir)
        snprintf(s_dir, sizeof s_dir, "%s", dir);
    pthread_atfork(NULL, NULL, child);
    start();
}
