/* The C API's edge cases; prints one line per check. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    void *a = malloc(0), *b = malloc(0);
    printf("malloc(0) unique: %d\n", a && b && a != b);
    free(a); free(b);
    errno = 0;
    void *c = calloc(SIZE_MAX / 2, 4);
    printf("calloc overflow: %d %d\n", c == NULL, errno == ENOMEM);
    errno = 0;
    void *r = reallocarray(NULL, SIZE_MAX / 2, 4);
    printf("reallocarray overflow: %d %d\n", r == NULL, errno == ENOMEM);
    void *p = NULL;
    printf("posix_memalign bad: %d\n", posix_memalign(&p, 24, 10) == EINVAL);
    int okal = 1;
    for (size_t al = 8; al <= (1 << 22); al <<= 1) {
        void *q = NULL;
        if (posix_memalign(&q, al, al / 3 + 1) != 0 || ((uintptr_t)q & (al - 1))) okal = 0;
        memset(q, 7, al / 3 + 1);
        free(q);
        q = aligned_alloc(al, al);
        if (!q || ((uintptr_t)q & (al - 1))) okal = 0;
        free(q);
        q = memalign(al, 100);
        if (!q || ((uintptr_t)q & (al - 1))) okal = 0;
        free(q);
    }
    printf("alignments: %d\n", okal);
    void *v = valloc(100), *pv = pvalloc(100);
    printf("valloc/pvalloc page aligned: %d %d\n", ((uintptr_t)v & 4095) == 0, ((uintptr_t)pv & 4095) == 0);
    printf("pvalloc usable >= page: %d\n", malloc_usable_size(pv) >= 4096);
    free(v); free(pv);
    char *s = malloc(10);
    strcpy(s, "burrow");
    printf("usable >= 10: %d\n", malloc_usable_size(s) >= 10);
    for (size_t n = 20; n < (8 << 20); n = n * 3 + 1) {
        s = realloc(s, n);
        if (strcmp(s, "burrow") != 0) { printf("realloc lost contents at %zu\n", n); return 1; }
    }
    printf("realloc keeps contents: 1\n");
    printf("realloc(p,0) frees: %d\n", realloc(s, 0) == NULL);
    int *z = calloc(1000, sizeof(int)), zero = 1;
    for (int i = 0; i < 1000; i++) zero &= z[i] == 0;
    printf("calloc zeroes: %d\n", zero);
    free(z);
    printf("usable(NULL): %zu\n", malloc_usable_size(NULL));
    return 0;
}
