/* A double free of a large block (256 KiB), then a malloc: under the
 * preload the second free must abort with a message naming the block
 * (the heap used to spin in the next malloc). Prints the block first. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 256 << 10;
    char *p = malloc(n);
    printf("block=%p\n", (void *)p);
    fflush(stdout);
    free(p);
    free(p);
    void *q = malloc(n);
    printf("survived: %p\n", q);
    return 0;
}
