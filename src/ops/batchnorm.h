/* ops/batchnorm.h - 2-D batch normalisation over (N, H, W) per channel, PyTorch's
 * nn.BatchNorm2d semantics: eps 1e-5 default; momentum m (default 0.1) updates
 * running = (1 - m) * running + m * batch_stat, with the UNBIASED batch variance
 * (divisor N*H*W - 1) for running_var and the biased one for normalising.
 * defines: ws_batchnorm_desc, ws_batchnorm_forward_train, ws_batchnorm_forward_eval,
 *          ws_batchnorm_backward, ws_batchnorm_relu_mask_bytes (dispatch, ops/batchnorm.c), their _cpu references
 *          (ops/batchnorm_cpu.c, plain batch norm) and _cuda twins (ops/batchnorm_cuda.cu,
 *          fused).
 * Shapes: x, y, dy, dx, residual [N,C,H,W] (NCHW on the CPU, NHWC on CUDA, activation
 * storage type); gamma, beta, running_*, save_*, dgamma, dbeta [C] fp32.
 * The dispatchers fuse what ResNet puts after a batch norm: y = relu?(bn(x) + residual?)
 * (residual NULL: none; relu 0/1), so on the GPU one pass writes y. The CPU composes the
 * references (bn, then ws_add, then ws_relu), which makes the fused CUDA kernels testable
 * against plain, separately tested operators.
 * forward_train: y (=), running_mean/var updated in place, save_mean and save_invstd
 *   (= 1/sqrt(var_biased + eps)) written for backward.
 * forward_eval: y (=) from the running statistics.
 * backward (training mode), dy the gradient of the fused output y:
 *   g = relu ? dy * (y > 0) : dy  (with relu, dy may be overwritten by g; y and beta are
 *   needed only then: without a residual, CUDA recomputes y's sign from x, mean, gamma *
 *   invstd and beta exactly as the forward rounded it, instead of reading y)
 *   dresidual (=) g when not NULL (the residual branch's gradient);
 *   dx (=) the batch-norm backward of g; dgamma (+=), dbeta (+=).
 * relu_mask (CUDA; NULL: none; the CPU ignores it): ws_batchnorm_relu_mask_bytes of memory
 *   on the device that forward_train fills, with a residual and a ReLU and C a multiple of
 *   8, with which elements the ReLU kept; backward with the same mask then takes y's sign
 *   from it instead of reading y (1 bit for 16 in bf16). Ignored elsewhere; pass the same
 *   pointer (or NULL) to both calls of a step. */
#ifndef WS_OPS_BATCHNORM_H
#define WS_OPS_BATCHNORM_H

#include <stdint.h>

#include "ops/ops.h"

typedef struct {
    int n, c, h, w;
    double eps;        /* 1e-5 */
    double momentum;   /* 0.1, PyTorch's meaning (weight of the new batch statistic) */
} ws_batchnorm_desc;

ws_status ws_batchnorm_forward_train(const ws_exec *ex, const ws_batchnorm_desc *d, void *y, const void *x,
                                     const float *gamma, const float *beta, float *running_mean, float *running_var,
                                     float *save_mean, float *save_invstd, const void *residual, int relu,
                                     uint8_t *relu_mask);
ws_status ws_batchnorm_forward_eval(const ws_exec *ex, const ws_batchnorm_desc *d, void *y, const void *x,
                                    const float *gamma, const float *beta, const float *running_mean,
                                    const float *running_var, const void *residual, int relu);
ws_status ws_batchnorm_backward(const ws_exec *ex, const ws_batchnorm_desc *d, void *dx, float *dgamma, float *dbeta,
                                void *dy, const void *y, const void *x, const float *gamma, const float *beta,
                                const float *save_mean, const float *save_invstd, void *dresidual, int relu,
                                const uint8_t *relu_mask);
/* Bytes of a relu_mask for d: one bit per element. */
size_t ws_batchnorm_relu_mask_bytes(const ws_batchnorm_desc *d);

ws_status ws_batchnorm_forward_train_cpu(const ws_batchnorm_desc *d, int threads, float *y, const float *x,
                                         const float *gamma, const float *beta, float *running_mean,
                                         float *running_var, float *save_mean, float *save_invstd);
ws_status ws_batchnorm_forward_eval_cpu(const ws_batchnorm_desc *d, int threads, float *y, const float *x,
                                        const float *gamma, const float *beta, const float *running_mean,
                                        const float *running_var);
ws_status ws_batchnorm_backward_cpu(const ws_batchnorm_desc *d, int threads, float *dx, float *dgamma, float *dbeta,
                                    const float *dy, const float *x, const float *gamma, const float *save_mean,
                                    const float *save_invstd);

void ws_batchnorm_forward_train_cuda(const ws_exec *ex, const ws_batchnorm_desc *d, void *y, const void *x,
                                     const float *gamma, const float *beta, float *running_mean, float *running_var,
                                     float *save_mean, float *save_invstd, const void *residual, int relu,
                                     uint8_t *relu_mask);
void ws_batchnorm_forward_eval_cuda(const ws_exec *ex, const ws_batchnorm_desc *d, void *y, const void *x,
                                    const float *gamma, const float *beta, const float *running_mean,
                                    const float *running_var, const void *residual, int relu);
void ws_batchnorm_backward_cuda(const ws_exec *ex, const ws_batchnorm_desc *d, void *dx, float *dgamma, float *dbeta,
                                void *dy, const void *y, const void *x, const float *gamma, const float *beta,
                                const float *save_mean, const float *save_invstd, void *dresidual, int relu,
                                const uint8_t *relu_mask);

#endif
