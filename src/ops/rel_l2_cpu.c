/* src/ops/rel_l2_cpu.c - reference relative L2 loss (FourCastNet's LpLoss.rel) and its gradient.
 * defines: ws_rel_l2_forward_cpu, ws_rel_l2_backward_cpu
 * twin: src/ops/rel_l2_cuda.cu; contract: src/ops/rel_l2.h
 * Shapes: pred, target, dpred [N, COUNT]; fp32 in, norms in double.
 * Per sample, both squared norms are summed in double in index order (one sample per
 * thread, so the bits do not depend on the thread count), then the mean over samples is
 * summed in sample order. */
#include "ops/rel_l2.h"

#include <math.h>

/* ||p - t||_2 and ||t||_2 of one sample */
static void norms(size_t count, const float *p, const float *t, double *diff, double *tnorm) {
    double sd = 0.0, st = 0.0;
    for (size_t j = 0; j < count; j++) {
        double d = (double)p[j] - t[j];
        sd += d * d;
        st += (double)t[j] * t[j];
    }
    *diff = sqrt(sd);
    *tnorm = sqrt(st);
}

ws_status ws_rel_l2_forward_cpu(int n, size_t count, int threads, double *loss, const float *pred,
                                const float *target) {
    double total = 0.0;
    int zero_target = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) ordered if (n > 1)
#else
    (void)threads;
#endif
    for (int i = 0; i < n; i++) {
        double diff, tnorm;
        norms(count, pred + (size_t)i * count, target + (size_t)i * count, &diff, &tnorm);
#ifdef _OPENMP
#pragma omp ordered
#endif
        {
            if (!(tnorm > 0.0)) zero_target = 1;
            total += diff / tnorm;
        }
    }
    if (zero_target) return WS_EINVAL;
    *loss = total / n;
    return WS_OK;
}

ws_status ws_rel_l2_backward_cpu(int n, size_t count, int threads, float *dpred, const float *pred,
                                 const float *target, float scale) {
    int zero_target = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) reduction(| : zero_target) if (n > 1)
#else
    (void)threads;
#endif
    for (int i = 0; i < n; i++) {
        const float *p = pred + (size_t)i * count, *t = target + (size_t)i * count;
        float *dp = dpred + (size_t)i * count;
        double diff, tnorm;
        norms(count, p, t, &diff, &tnorm);
        if (!(tnorm > 0.0)) {
            zero_target |= 1;
            continue;
        }
        double k = diff > 0.0 ? (double)scale / (diff * tnorm) : 0.0;
        for (size_t j = 0; j < count; j++) dp[j] = (float)(k * ((double)p[j] - t[j]));
    }
    return zero_target ? WS_EINVAL : WS_OK;
}
