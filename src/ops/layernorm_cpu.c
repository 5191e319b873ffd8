/* src/ops/layernorm_cpu.c - reference layer normalization over the last dimension (nn.LayerNorm).
 * defines: ws_layernorm_forward_cpu, ws_layernorm_backward_cpu
 * twin: src/ops/layernorm_cuda.cu; contract: src/ops/layernorm.h
 * Shapes: x, y, dx, dy [ROWS, DIM]; gamma, beta [DIM]; mean, rstd [ROWS]; fp32.
 * Row statistics in double, two passes (mean, then the squared deviations), so a row with
 * a large mean and a small spread loses nothing to cancellation. Rows run in parallel and
 * each row's arithmetic is fixed, so y and dx have the same bits for every thread count.
 * dgamma and dbeta are column sums over all rows: the columns are cut into blocks of
 * COL_BLOCK, a thread owns whole blocks and adds its rows in order 0..ROWS-1, so these sums,
 * too, do not depend on the thread count (and need no workspace). */
#include "ops/layernorm.h"

#include <math.h>
#include <string.h>

enum { COL_BLOCK = 32 };

void ws_layernorm_forward_cpu(int rows, int dim, float eps, int threads, float *y, float *mean, float *rstd,
                              const float *x, const float *gamma, const float *beta) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) if ((long long)rows * dim >= 32768)
#else
    (void)threads;
#endif
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *yr = y + (size_t)r * dim;
        double sum = 0.0;
        for (int j = 0; j < dim; j++) sum += xr[j];
        double mu = sum / dim, ss = 0.0;
        for (int j = 0; j < dim; j++) ss += ((double)xr[j] - mu) * ((double)xr[j] - mu);
        double rs = 1.0 / sqrt(ss / dim + (double)eps);
        for (int j = 0; j < dim; j++) yr[j] = (float)(((double)xr[j] - mu) * rs * gamma[j] + beta[j]);
        mean[r] = (float)mu;
        rstd[r] = (float)rs;
    }
}

void ws_layernorm_backward_cpu(int rows, int dim, int threads, float *dx, float *dgamma, float *dbeta,
                               const float *dy, const float *x, const float *gamma, const float *mean,
                               const float *rstd) {
    int team = wsi_omp_threads(threads);
#ifdef _OPENMP
#pragma omp parallel for num_threads(team) schedule(static) if ((long long)rows * dim >= 32768)
#else
    (void)team;
#endif
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim, *dyr = dy + (size_t)r * dim;
        float *dxr = dx + (size_t)r * dim;
        double mu = mean[r], rs = rstd[r], sum_g = 0.0, sum_gx = 0.0;
        for (int j = 0; j < dim; j++) {
            double g = (double)dyr[j] * gamma[j];
            sum_g += g;
            sum_gx += g * ((double)xr[j] - mu) * rs;
        }
        double mean_g = sum_g / dim, mean_gx = sum_gx / dim;
        for (int j = 0; j < dim; j++) {
            double xhat = ((double)xr[j] - mu) * rs;
            dxr[j] = (float)(rs * ((double)dyr[j] * gamma[j] - mean_g - xhat * mean_gx));
        }
    }
    int blocks = (dim + COL_BLOCK - 1) / COL_BLOCK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(team) schedule(static) if (blocks > 1 && (long long)rows * dim >= 32768)
#endif
    for (int b = 0; b < blocks; b++) {
        int j0 = b * COL_BLOCK, nj = dim - j0 < COL_BLOCK ? dim - j0 : COL_BLOCK;
        double acc_g[COL_BLOCK], acc_b[COL_BLOCK];
        memset(acc_g, 0, sizeof acc_g);
        memset(acc_b, 0, sizeof acc_b);
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (size_t)r * dim + j0, *dyr = dy + (size_t)r * dim + j0;
            double mu = mean[r], rs = rstd[r];
            for (int j = 0; j < nj; j++) {
                acc_g[j] += (double)dyr[j] * (((double)xr[j] - mu) * rs);
                acc_b[j] += dyr[j];
            }
        }
        for (int j = 0; j < nj; j++) {
            dgamma[j0 + j] += (float)acc_g[j];
            dbeta[j0 + j] += (float)acc_b[j];
        }
    }
}
