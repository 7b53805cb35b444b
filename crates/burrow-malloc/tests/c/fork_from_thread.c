/* Threads churn malloc/free while one of them forks; the child allocates,
 * frees and prints; the parent waits. Output must not depend on timing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *churn(void *arg) {
    unsigned long seed = (unsigned long)arg;
    while (!stop) {
        void *ps[64];
        for (int i = 0; i < 64; i++) {
            seed = seed * 6364136223846793005UL + 1;
            ps[i] = malloc(1 + (seed >> 33) % 5000);
            memset(ps[i], 1, 1);
        }
        for (int i = 0; i < 64; i++) free(ps[i]);
    }
    return NULL;
}

static void *forker(void *arg) {
    (void)arg;
    int ok = 0;
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            long sum = 0, want = 0;
            for (int i = 0; i < 10000; i++) {
                char *p = malloc(16 + i % 3000);
                p[0] = (char)i;
                sum += p[0];
                want += (char)i;
                free(p);
            }
            char *big = calloc(1, 1 << 20);
            sum += big[12345];
            free(big);
            _exit(sum == want ? 0 : 3);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
    }
    printf("children ok: %d of 20\n", ok);
    return NULL;
}

int main(void) {
    pthread_t t[3], f;
    for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, churn, (void *)(i + 1));
    pthread_create(&f, NULL, forker, NULL);
    pthread_join(f, NULL);
    stop = 1;
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    printf("done\n");
    return 0;
}
