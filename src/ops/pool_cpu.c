/* src/ops/pool_cpu.c - reference max pooling and global average pooling.
 * defines: ws_maxpool_forward_cpu, ws_maxpool_backward_cpu, ws_avgpool_global_forward_cpu,
 *          ws_avgpool_global_backward_cpu
 * twin: src/ops/pool_cuda.cu; contract: src/ops/pool.h
 * Shapes: x, dx [N,C,H,W]; maxpool y, dy, argmax [N,C,P,Q]; avgpool y, dy [N,C]. NCHW fp32.
 * OpenMP over the N*C planes: each plane is computed by one thread in a fixed order, so
 * every thread count gives the same bits. Max pooling follows PyTorch's CPU kernel: padding
 * is -inf (never chosen), ties keep the first element in row-major order, and a NaN in the
 * window is chosen (so it propagates to y and, in backward, to its own position). */
#include "ops/pool.h"

#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
/* threads <= 0: the OpenMP default */
#endif

void ws_maxpool_forward_cpu(const ws_maxpool_desc *d, int threads, float *y, int32_t *argmax, const float *x) {
    int planes = d->n * d->c;
    size_t hw = (size_t)d->h * d->w, pq = (size_t)d->p * d->q;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static)
#else
    (void)threads;
#endif
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * hw;
        float *yp = y + (size_t)pl * pq;
        int32_t *ap = argmax + (size_t)pl * pq;
        for (int p = 0; p < d->p; p++) {
            int h0 = p * d->stride - d->pad, h1 = h0 + d->r;
            if (h0 < 0) h0 = 0;
            if (h1 > d->h) h1 = d->h;
            for (int q = 0; q < d->q; q++) {
                int w0 = q * d->stride - d->pad, w1 = w0 + d->s;
                if (w0 < 0) w0 = 0;
                if (w1 > d->w) w1 = d->w;
                /* the window is never empty: the dispatcher holds pad <= r/2, s/2 */
                int32_t best_i = h0 * d->w + w0;
                float best = -INFINITY;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) {
                        float v = xp[ih * d->w + iw];
                        if (v > best || isnan(v)) {
                            best = v;
                            best_i = ih * d->w + iw;
                        }
                    }
                yp[p * d->q + q] = best;
                ap[p * d->q + q] = best_i;
            }
        }
    }
}

void ws_maxpool_backward_cpu(const ws_maxpool_desc *d, int threads, float *dx, const float *dy, const int32_t *argmax) {
    int planes = d->n * d->c;
    size_t hw = (size_t)d->h * d->w, pq = (size_t)d->p * d->q;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static)
#else
    (void)threads;
#endif
    for (int pl = 0; pl < planes; pl++) {
        float *dxp = dx + (size_t)pl * hw;
        const float *dyp = dy + (size_t)pl * pq;
        const int32_t *ap = argmax + (size_t)pl * pq;
        memset(dxp, 0, hw * sizeof *dxp);
        /* overlapping windows (3x3/2) can pick one input twice: add, in output order */
        for (size_t o = 0; o < pq; o++) dxp[ap[o]] += dyp[o];
    }
}

void ws_avgpool_global_forward_cpu(int n, int c, int h, int w, int threads, float *y, const float *x) {
    int planes = n * c;
    size_t hw = (size_t)h * w;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static)
#else
    (void)threads;
#endif
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * hw;
        double sum = 0.0;
        for (size_t i = 0; i < hw; i++) sum += xp[i];
        y[pl] = (float)(sum / (double)hw);
    }
}

void ws_avgpool_global_backward_cpu(int n, int c, int h, int w, int threads, float *dx, const float *dy) {
    int planes = n * c;
    size_t hw = (size_t)h * w;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static)
#else
    (void)threads;
#endif
    for (int pl = 0; pl < planes; pl++) {
        float g = (float)((double)dy[pl] / (double)hw);
        float *dxp = dx + (size_t)pl * hw;
        for (size_t i = 0; i < hw; i++) dxp[i] = g;
    }
}
