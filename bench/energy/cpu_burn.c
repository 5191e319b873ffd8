/* bench/energy/cpu_burn.c - a steady CPU load for the meter's demo and overhead runs.
 * usage: ws_cpu_burn SECONDS [THREADS]
 * Each thread runs dependent FMA chains; at the end one line on stdout:
 *   {"seconds": S, "threads": T, "gflop": G, "gflop_per_s": R}
 * so that a run with and without the meter compares the load's throughput. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double seconds;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *burn(void *arg) {
    double *flop = arg;
    double a[8] = {1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7};
    double end = now_s() + seconds;
    long iters = 0;
    while (now_s() < end) {
        for (int k = 0; k < 100000; k++)
            for (int j = 0; j < 8; j++) a[j] = a[j] * 0.999999 + 1e-6; /* stays near 1: no overflow */
        iters++;
    }
    *flop = (double)iters * 100000.0 * 8 * 2 + (a[0] + a[7]) * 1e-300; /* keep the result live */
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ws_cpu_burn SECONDS [THREADS]\n");
        return 2;
    }
    seconds = atof(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (seconds <= 0 || threads < 1 || threads > 1024) {
        fprintf(stderr, "ws_cpu_burn: bad SECONDS or THREADS\n");
        return 2;
    }
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    double *flop = calloc((size_t)threads, sizeof *flop);
    if (!t || !flop) return 1;
    double t0 = now_s();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, burn, &flop[i]);
    double total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += flop[i];
    }
    double el = now_s() - t0;
    printf("{\"seconds\": %.3f, \"threads\": %d, \"gflop\": %.3f, \"gflop_per_s\": %.3f}\n", el, threads, total / 1e9,
           total / 1e9 / el);
    free(t);
    free(flop);
    return 0;
}
