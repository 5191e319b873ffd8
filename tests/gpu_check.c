/* tests/gpu_check.c - the GPU tests' comparison (contract: tests/gpu_check.h). */
#include "gpu_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int checks, failures;

ws_gpu_tol ws_gpu_tol_of(ws_dtype p) {
    switch (p) {
    case WS_TF32: return (ws_gpu_tol){2e-3, 2e-3};
    case WS_BF16: return (ws_gpu_tol){1e-2, 1e-2};
    case WS_FP16: return (ws_gpu_tol){2e-3, 2e-3};
    default: return (ws_gpu_tol){1e-5, 1e-5};
    }
}

int ws_gpu_check(const char *what, ws_dtype p, const char *shape, const float *got, const float *ref, size_t n,
                 ws_gpu_tol t) {
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    size_t bad = 0, worst = 0;
    double max_abs = 0, worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)ref[i]), bound = t.atol * scale + t.rtol * fabs(ref[i]);
        if (!(e <= bound)) bad++; /* NaN fails */
        if (!(e <= max_abs)) max_abs = e;
        double excess = bound > 0 ? e / bound : e;
        if (!(excess <= worst_excess)) {
            worst_excess = excess;
            worst = i;
        }
    }
    checks++;
    if (bad) failures++;
    printf("%s %-30s %-4s %-28s n=%-9zu bad %-7zu max_abs %.3g (%.3g of scale %.3g) worst[%zu] got %.7g ref %.7g\n",
           bad ? "FAIL" : "ok  ", what, ws_dtype_name(p), shape, n, bad, max_abs, scale > 0 ? max_abs / scale : max_abs,
           scale, worst, n ? (double)got[worst] : 0.0, n ? (double)ref[worst] : 0.0);
    fflush(stdout);
    return bad == 0;
}

int ws_gpu_expect(int ok, const char *what, ws_dtype p, const char *shape, const char *detail) {
    checks++;
    if (!ok) failures++;
    printf("%s %-30s %-4s %-28s %s\n", ok ? "ok  " : "FAIL", what, ws_dtype_name(p), shape, ok ? "" : detail);
    fflush(stdout);
    return ok;
}

int ws_gpu_checks(void) { return checks; }
int ws_gpu_failures(void) { return failures; }

void ws_gpu_must(ws_status st, const char *what, const ws_error *err) {
    if (st != WS_OK) {
        fprintf(stderr, "FATAL %s: %s (%s)\n", what, ws_status_name(st), err ? err->msg : "");
        exit(1);
    }
}
