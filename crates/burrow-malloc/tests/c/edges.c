/* Sizes at the top of the address space, and products that overflow:
 * every allocation function must refuse them (NULL and errno ENOMEM;
 * posix_memalign returns ENOMEM and leaves its out-pointer alone), never
 * hand out a smaller block, and realloc must leave the old block intact.
 * Prints one line per function, "NAME ok" or "NAME BAD count"; the first
 * few failures go to stderr. Sizes go through volatiles and results into a
 * volatile sink so the compiler cannot fold or drop any call. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EDGE 4096
#define MAX_ALIGN_SHIFT 30 /* 1 GiB */

static volatile size_t top = SIZE_MAX;
static void *volatile sink;
static unsigned long bad;

/* One refused call: p must be NULL and errno ENOMEM. */
static void refused(const char *what, size_t k, size_t al, void *p, int err) {
    sink = p;
    if (p == NULL && err == ENOMEM) return;
    if (bad++ < 5)
        fprintf(stderr, "%s(SIZE_MAX - %zu, align %zu) = %p, errno %d\n", what, k, al, p, err);
    free(p);
}

static void report(const char *what) {
    if (bad) printf("%s BAD %lu\n", what, bad);
    else printf("%s ok\n", what);
    bad = 0;
}

/* A block filled with a pattern, and whether it still holds it. */
static char *filled(size_t n) {
    char *p = malloc(n);
    if (!p) { printf("malloc(%zu) failed\n", n); exit(1); }
    memset(p, 0x5a, n);
    return p;
}
static int intact(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) if (p[i] != 0x5a) return 0;
    return 1;
}

int main(void) {
    size_t k, al;
    for (k = 0; k < EDGE; k++) { errno = 0; void *p = malloc(top - k); refused("malloc", k, 0, p, errno); }
    report("malloc");
    for (k = 0; k < EDGE; k++) { errno = 0; void *p = calloc(1, top - k); refused("calloc(1,s)", k, 0, p, errno); }
    report("calloc(1,s)");
    for (k = 0; k < EDGE; k++) { errno = 0; void *p = calloc(top - k, 1); refused("calloc(s,1)", k, 0, p, errno); }
    report("calloc(s,1)");
    errno = 0;
    sink = calloc(1, top);
    printf("calloc(1, SIZE_MAX) NULL: %d ENOMEM: %d\n", sink == NULL, errno == ENOMEM);
    free(sink);
    /* Products that overflow, by a little and by a lot. */
    size_t factors[] = {2, 3, 4, 8, 16, 4096, 1u << 20, (size_t)1 << 32, top / 2, top};
    for (size_t i = 0; i < sizeof factors / sizeof *factors; i++) {
        size_t b = factors[i], a = top / b + 1;
        errno = 0; void *p = calloc(a, b); refused("calloc(a,b) overflow", a, b, p, errno);
        errno = 0; p = calloc(b, a); refused("calloc(b,a) overflow", a, b, p, errno);
        errno = 0; p = reallocarray(NULL, a, b); refused("reallocarray overflow", a, b, p, errno);
    }
    report("overflowing products");

    size_t sizes[] = {24, 256 << 10};
    for (int i = 0; i < 2; i++) {
        size_t n = sizes[i];
        char *q = filled(n);
        for (k = 0; k < EDGE; k++) {
            errno = 0; void *p = realloc(q, top - k); refused("realloc", k, n, p, errno);
            errno = 0; p = reallocarray(q, 1, top - k); refused("reallocarray(q,1,s)", k, n, p, errno);
            errno = 0; p = reallocarray(q, top - k, 1); refused("reallocarray(q,s,1)", k, n, p, errno);
        }
        if (!intact(q, n)) { fprintf(stderr, "realloc of %zu changed the block\n", n); bad++; }
        free(q);
    }
    for (k = 0; k < EDGE; k++) { errno = 0; void *p = realloc(NULL, top - k); refused("realloc(NULL)", k, 0, p, errno); }
    report("realloc/reallocarray");

    for (k = 0; k < EDGE; k++) {
        for (al = sizeof(void *); al <= (size_t)1 << MAX_ALIGN_SHIFT; al <<= 1) {
            void *out = &bad;
            int rc = posix_memalign(&out, al, top - k);
            if (rc != ENOMEM || out != &bad) {
                if (bad++ < 5)
                    fprintf(stderr, "posix_memalign(%zu, SIZE_MAX - %zu) = %d, %p\n", al, k, rc, out);
                if (rc == 0) free(out);
            }
        }
    }
    report("posix_memalign");
    for (k = 0; k < EDGE; k++)
        for (al = 1; al <= (size_t)1 << MAX_ALIGN_SHIFT; al <<= 1) {
            errno = 0; void *p = memalign(al, top - k); refused("memalign", k, al, p, errno);
        }
    report("memalign");
    for (k = 0; k < EDGE; k++)
        for (al = 1; al <= (size_t)1 << MAX_ALIGN_SHIFT; al <<= 1) {
            errno = 0; void *p = aligned_alloc(al, top - k); refused("aligned_alloc", k, al, p, errno);
        }
    report("aligned_alloc");
    for (k = 0; k < EDGE; k++) { errno = 0; void *p = valloc(top - k); refused("valloc", k, 0, p, errno); }
    report("valloc");
    for (k = 0; k < EDGE; k++) { errno = 0; void *p = pvalloc(top - k); refused("pvalloc", k, 0, p, errno); }
    report("pvalloc");
    return 0;
}
