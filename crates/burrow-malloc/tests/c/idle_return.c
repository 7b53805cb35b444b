/* Frees a 256 MiB burst of 64 KiB..1 MiB blocks, then makes no allocator
 * call while it polls its RSS (raw open/read of /proc/self/statm, 20 ms
 * apart, 10 s at most). Prints whether RSS came back to within 32 MiB of
 * where it was before the burst while the program sat idle. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long rss_mib(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strchr(buf, ' ');
    return p ? strtol(p + 1, NULL, 10) * sysconf(_SC_PAGESIZE) >> 20 : -1;
}

int main(void) {
    static void *blocks[4096];
    long before = rss_mib(), total = 0;
    int n = 0;
    while (total < (256L << 20) && n < 4096) {
        size_t size = (64 << 10) + (size_t)(n % 16) * (60 << 10);
        blocks[n] = malloc(size);
        if (!blocks[n]) return 1;
        memset(blocks[n], n | 1, size);
        total += (long)size;
        n++;
    }
    long peak = rss_mib();
    for (int i = 0; i < n; i++) free(blocks[i]);
    long now = rss_mib();
    struct timespec step = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 500 && now > before + 32; i++) {
        nanosleep(&step, NULL);
        now = rss_mib();
    }
    printf("burst %s\n", peak > before + 200 ? "resident" : "not resident");
    printf("rss %s while idle\n", now <= before + 32 ? "returned" : "stayed");
    fprintf(stderr, "RSS %ld MiB before, %ld at peak, %ld after\n", before, peak, now);
    return 0;
}
