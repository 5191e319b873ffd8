/* src/ops/batchnorm_cpu.c - reference 2-D batch normalisation, the oracle for the CUDA twin.
 * defines: ws_batchnorm_forward_train_cpu, ws_batchnorm_forward_eval_cpu, ws_batchnorm_backward_cpu
 * twin: src/ops/batchnorm_cuda.cu (fused kernels); contract: src/ops/batchnorm.h
 * Shapes: x, y, dy, dx [N,C,H,W] NCHW fp32; gamma, beta, running_*, save_* [C]; M = N*H*W.
 * One channel per loop iteration (OpenMP over channels): each channel's sums run in a
 * fixed order in one thread, in double, so every output is bitwise the same for any
 * thread count. The variance is two-pass (mean first, then squared deviations): the
 * one-pass E[x^2] - E[x]^2 cancels catastrophically when |mean| >> std. */
#include "ops/batchnorm.h"

#include <math.h>
#include <stddef.h>

#ifdef _OPENMP
#include <omp.h>
/* threads <= 0: the OpenMP default */
#endif

/* every comparison is false for NaN, so a NaN eps or momentum is rejected too */
static int desc_ok(const ws_batchnorm_desc *d) {
    return d && d->n >= 1 && d->c >= 1 && d->h >= 1 && d->w >= 1 && d->eps >= 0.0 && d->eps < INFINITY &&
           d->momentum >= 0.0 && d->momentum <= 1.0;
}

ws_status ws_batchnorm_forward_train_cpu(const ws_batchnorm_desc *d, int threads, float *y, const float *x,
                                         const float *gamma, const float *beta, float *running_mean,
                                         float *running_var, float *save_mean, float *save_invstd) {
    if (!desc_ok(d) || !y || !x || !gamma || !beta || !running_mean || !running_var || !save_mean || !save_invstd)
        return WS_EINVAL;
    size_t hw = (size_t)d->h * d->w, chw = (size_t)d->c * hw, count = (size_t)d->n * hw;
    /* PyTorch refuses too ("Expected more than 1 value per channel when training"): the
     * unbiased variance of one value divides by zero. */
    if (count < 2) return WS_EINVAL;
    double m = d->momentum;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static)
#else
    (void)threads;
#endif
    for (int c = 0; c < d->c; c++) {
        double sum = 0.0;
        for (int n = 0; n < d->n; n++) {
            const float *xc = x + (size_t)n * chw + (size_t)c * hw;
            for (size_t i = 0; i < hw; i++) sum += xc[i];
        }
        double mean = sum / (double)count, sq = 0.0;
        for (int n = 0; n < d->n; n++) {
            const float *xc = x + (size_t)n * chw + (size_t)c * hw;
            for (size_t i = 0; i < hw; i++) {
                double dev = xc[i] - mean;
                sq += dev * dev;
            }
        }
        double invstd = 1.0 / sqrt(sq / (double)count + d->eps);
        save_mean[c] = (float)mean;
        save_invstd[c] = (float)invstd;
        running_mean[c] = (float)((1.0 - m) * running_mean[c] + m * mean);
        running_var[c] = (float)((1.0 - m) * running_var[c] + m * (sq / (double)(count - 1)));
        /* in double, with the unrounded mean: (x - mean) loses nothing even when |mean| >> std */
        double scale = gamma[c] * invstd, shift = beta[c];
        for (int n = 0; n < d->n; n++) {
            size_t off = (size_t)n * chw + (size_t)c * hw;
            for (size_t i = 0; i < hw; i++) y[off + i] = (float)((x[off + i] - mean) * scale + shift);
        }
    }
    return WS_OK;
}

ws_status ws_batchnorm_forward_eval_cpu(const ws_batchnorm_desc *d, int threads, float *y, const float *x,
                                        const float *gamma, const float *beta, const float *running_mean,
                                        const float *running_var) {
    if (!desc_ok(d) || !y || !x || !gamma || !beta || !running_mean || !running_var) return WS_EINVAL;
    size_t hw = (size_t)d->h * d->w, chw = (size_t)d->c * hw;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static)
#else
    (void)threads;
#endif
    for (int c = 0; c < d->c; c++) {
        double mean = running_mean[c], scale = gamma[c] / sqrt((double)running_var[c] + d->eps), shift = beta[c];
        for (int n = 0; n < d->n; n++) {
            size_t off = (size_t)n * chw + (size_t)c * hw;
            for (size_t i = 0; i < hw; i++) y[off + i] = (float)((x[off + i] - mean) * scale + shift);
        }
    }
    return WS_OK;
}

/* With xhat = (x - mean) * invstd, sums over the channel's M values:
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma)
 * (the batch statistics depend on x, hence the two subtracted terms). */
ws_status ws_batchnorm_backward_cpu(const ws_batchnorm_desc *d, int threads, float *dx, float *dgamma, float *dbeta,
                                    const float *dy, const float *x, const float *gamma, const float *save_mean,
                                    const float *save_invstd) {
    if (!desc_ok(d) || !dx || !dgamma || !dbeta || !dy || !x || !gamma || !save_mean || !save_invstd)
        return WS_EINVAL;
    size_t hw = (size_t)d->h * d->w, chw = (size_t)d->c * hw, count = (size_t)d->n * hw;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static)
#else
    (void)threads;
#endif
    for (int c = 0; c < d->c; c++) {
        double mean = save_mean[c], invstd = save_invstd[c], sdy = 0.0, sdy_xhat = 0.0;
        for (int n = 0; n < d->n; n++) {
            size_t off = (size_t)n * chw + (size_t)c * hw;
            for (size_t i = 0; i < hw; i++) {
                sdy += dy[off + i];
                sdy_xhat += dy[off + i] * ((x[off + i] - mean) * invstd);
            }
        }
        dbeta[c] += (float)sdy;
        dgamma[c] += (float)sdy_xhat;
        double k = gamma[c] * invstd / (double)count;
        for (int n = 0; n < d->n; n++) {
            size_t off = (size_t)n * chw + (size_t)c * hw;
            for (size_t i = 0; i < hw; i++) {
                double xhat = (x[off + i] - mean) * invstd;
                dx[off + i] = (float)(k * ((double)count * dy[off + i] - sdy - xhat * sdy_xhat));
            }
        }
    }
    return WS_OK;
}
