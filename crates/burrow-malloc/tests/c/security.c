/* The cases of mimalloc-bench's `security/` suite that burrow-alloc
 * promises to catch in a release build (see *Double and invalid frees* in
 * docs/alloc.md), written afresh: frees of a large block (256 KiB) that
 * is no longer, or never was, a live block's start. Each case must abort
 * before it prints NOT_CAUGHT. The block's address is printed first, so
 * the test can look for it in the abort message.
 *
 *   security double_free       free(p); free(p)
 *   security double_free_later free(p); 1024 malloc/free pairs; free(p)
 *   security interleaved       free(p); free(q); free(p)
 *   security unaligned         free(p + 1)
 *   security interior          free(p + 8192)  (a page inside the block)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N (256 << 10)

/* Out of line, so the compiler cannot see through malloc/free pairs. */
__attribute__((noinline)) static void *get(size_t n) { return malloc(n); }
__attribute__((noinline)) static void put(void *p) { free(p); }

static void show(const char *what, void *p) {
    printf("%s=%p\n", what, p);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    char *p = get(N);
    char *q = get(N);
    if (!p || !q) {
        puts("malloc failed");
        return 2;
    }
    if (!strcmp(mode, "double_free")) {
        show("block", p);
        put(p);
        put(p);
    } else if (!strcmp(mode, "double_free_later")) {
        show("block", p);
        put(p);
        for (int i = 0; i < 1024; i++)
            put(get(N));
        put(p);
    } else if (!strcmp(mode, "interleaved")) {
        show("block", p);
        put(p);
        put(q);
        put(p);
    } else if (!strcmp(mode, "unaligned")) {
        show("block", p + 1);
        put(p + 1);
    } else if (!strcmp(mode, "interior")) {
        show("block", p + 8192);
        put(p + 8192);
    } else {
        printf("unknown mode '%s'\n", mode);
        return 2;
    }
    puts("NOT_CAUGHT");
    fflush(stdout);
    return 0;
}
