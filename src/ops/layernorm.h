/* ops/layernorm.h - layer normalization over the last dimension, PyTorch's nn.LayerNorm(dim,
 * eps) with elementwise affine weight and bias (FourCastNet uses eps 1e-6).
 * defines: ws_layernorm_forward, ws_layernorm_backward (dispatch, ops/layernorm.c), their
 *          _cpu references (ops/layernorm_cpu.c) and _cuda twins (ops/layernorm_cuda.cu).
 * Shapes: x, y, dx, dy [ROWS, DIM] row-major (tokens x channels); gamma, beta, dgamma,
 *   dbeta [DIM]; mean, rstd [ROWS].
 * forward: per row, mean and biased variance over DIM, rstd = 1/sqrt(var + eps),
 *   y = (x - mean) * rstd * gamma + beta. y (=), mean and rstd (=, kept for backward).
 * backward: with xhat = (x - mean) * rstd and g = dy * gamma,
 *   dx (=) = rstd * (g - mean_j(g) - xhat * mean_j(g * xhat)),
 *   dgamma (+=) sum over rows of dy * xhat, dbeta (+=) sum over rows of dy.
 * y may not alias x (backward reads x); dx may not alias dy. No workspace (CUDA: the
 * context's small scratch holds the column sums' partials, DIM <= 2^21).
 * Every buffer is fp32 in ex's device memory, whatever the run precision: the CPU runs at
 * fp32, CUDA at fp32 or tf32 (the same arithmetic); bf16/fp16 are WS_ENOTSUP. */
#ifndef WS_OPS_LAYERNORM_H
#define WS_OPS_LAYERNORM_H

#include "ops/ops.h"

ws_status ws_layernorm_forward(const ws_exec *ex, int rows, int dim, float eps, float *y, float *mean, float *rstd,
                               const float *x, const float *gamma, const float *beta);
ws_status ws_layernorm_backward(const ws_exec *ex, int rows, int dim, float *dx, float *dgamma, float *dbeta,
                                const float *dy, const float *x, const float *gamma, const float *mean,
                                const float *rstd);

void ws_layernorm_forward_cpu(int rows, int dim, float eps, int threads, float *y, float *mean, float *rstd,
                              const float *x, const float *gamma, const float *beta);
void ws_layernorm_backward_cpu(int rows, int dim, int threads, float *dx, float *dgamma, float *dbeta,
                               const float *dy, const float *x, const float *gamma, const float *mean,
                               const float *rstd);

void ws_layernorm_forward_cuda(const ws_exec *ex, int rows, int dim, float eps, float *y, float *mean, float *rstd,
                               const float *x, const float *gamma, const float *beta);
void ws_layernorm_backward_cuda(const ws_exec *ex, int rows, int dim, float *dx, float *dgamma, float *dbeta,
                                const float *dy, const float *x, const float *gamma, const float *mean,
                                const float *rstd);

#endif
