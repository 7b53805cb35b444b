/* Grows one block by realloc, 64 KiB at a time, to 256 MiB, filling each
 * new chunk and checking every earlier chunk's first byte at each step.
 * Prints whether the contents survived and whether the process's peak RSS
 * (VmHWM) stayed within 1.25 x the block + 64 MiB of what it was before:
 * glibc moves such a block with mremap, never holding two copies; an
 * allocator that copies a large block at the end holds both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP (64 * 1024)
#define TOTAL (256L << 20)

static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) v = strtol(line + n, NULL, 10);
    fclose(f);
    return v;
}

int main(void) {
    long before = status_kib("VmRSS:");
    long steps = TOTAL / STEP, bad = 0;
    unsigned char *p = malloc(STEP);
    if (!p) return 1;
    memset(p, 0, STEP);
    for (long step = 1; step < steps; step++) {
        unsigned char *q = realloc(p, (size_t)(step + 1) * STEP);
        if (!q) { puts("realloc failed"); return 1; }
        p = q;
        memset(p + step * STEP, (int)(step & 0xff), STEP);
        for (long k = 0; k < step; k++)
            if (p[k * STEP] != (unsigned char)(k & 0xff)) bad++;
    }
    long peak_mib = (status_kib("VmHWM:") - before) >> 10;
    long limit_mib = (TOTAL >> 20) + (TOTAL >> 22) + 64;
    printf("contents %s\n", bad ? "lost" : "intact");
    printf("peak RSS %s\n", peak_mib <= limit_mib ? "within bound" : "over bound");
    fprintf(stderr, "peak RSS +%ld MiB (bound %ld MiB)\n", peak_mib, limit_mib);
    free(p);
    return 0;
}
