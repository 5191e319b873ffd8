/* src/ops/batchnorm.c - batch normalisation's backend choice, and the CPU composition of
 * the fused forms (bn, + residual, ReLU) out of the reference operators.
 * defines: ws_batchnorm_forward_train, ws_batchnorm_forward_eval, ws_batchnorm_backward,
 *          ws_batchnorm_relu_mask_bytes
 * backends: src/ops/batchnorm_cpu.c (reference), src/ops/batchnorm_cuda.cu (fused kernels);
 * contract: src/ops/batchnorm.h. A bad descriptor is WS_EINVAL whatever the device; the CPU
 * (fp32 NCHW) runs the references, a CUDA exec the twin; anything else is WS_ENOTSUP. */
#include "ops/batchnorm.h"
#include "ops/eltwise.h"
#include "ws_config.h"

#include <math.h>
#include <string.h>

static int desc_ok(const ws_batchnorm_desc *d) {
    return d && d->n >= 1 && d->c >= 1 && d->h >= 1 && d->w >= 1 && d->eps >= 0.0 && d->eps < INFINITY &&
           d->momentum >= 0.0 && d->momentum <= 1.0;
}

static size_t count_of(const ws_batchnorm_desc *d) { return (size_t)d->n * d->c * d->h * d->w; }

size_t ws_batchnorm_relu_mask_bytes(const ws_batchnorm_desc *d) { return (count_of(d) + 7) / 8; }

/* y = relu?(y + residual?) in place, by the reference element-wise ops. */
static void epilogue_cpu(const ws_batchnorm_desc *d, int threads, float *y, const float *residual, int relu) {
    if (residual) ws_add_forward_cpu(count_of(d), threads, y, y, residual);
    if (relu) ws_relu_forward_cpu(count_of(d), threads, y, y);
}

ws_status ws_batchnorm_forward_train(const ws_exec *ex, const ws_batchnorm_desc *d, void *y, const void *x,
                                     const float *gamma, const float *beta, float *running_mean, float *running_var,
                                     float *save_mean, float *save_invstd, const void *residual, int relu,
                                     uint8_t *relu_mask) {
    if (!ex || !desc_ok(d) || (size_t)d->n * d->h * d->w < 2) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: {
        (void)relu_mask; /* the CPU's backward reads y */
        ws_status st = ws_batchnorm_forward_train_cpu(d, ex->threads, y, x, gamma, beta, running_mean, running_var,
                                                      save_mean, save_invstd);
        if (st == WS_OK) epilogue_cpu(d, ex->threads, y, residual, relu);
        return st;
    }
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA:
        if (!y || !x || !gamma || !beta || !running_mean || !running_var || !save_mean || !save_invstd) return WS_EINVAL;
        ws_batchnorm_forward_train_cuda(ex, d, y, x, gamma, beta, running_mean, running_var, save_mean, save_invstd,
                                        residual, relu, relu_mask);
        return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_batchnorm_forward_eval(const ws_exec *ex, const ws_batchnorm_desc *d, void *y, const void *x,
                                    const float *gamma, const float *beta, const float *running_mean,
                                    const float *running_var, const void *residual, int relu) {
    if (!ex || !desc_ok(d)) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: {
        ws_status st = ws_batchnorm_forward_eval_cpu(d, ex->threads, y, x, gamma, beta, running_mean, running_var);
        if (st == WS_OK) epilogue_cpu(d, ex->threads, y, residual, relu);
        return st;
    }
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA:
        if (!y || !x || !gamma || !beta || !running_mean || !running_var) return WS_EINVAL;
        ws_batchnorm_forward_eval_cuda(ex, d, y, x, gamma, beta, running_mean, running_var, residual, relu);
        return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_batchnorm_backward(const ws_exec *ex, const ws_batchnorm_desc *d, void *dx, float *dgamma, float *dbeta,
                                void *dy, const void *y, const void *x, const float *gamma, const float *beta,
                                const float *save_mean, const float *save_invstd, void *dresidual, int relu,
                                const uint8_t *relu_mask) {
    if (!ex || !desc_ok(d) || !dx || !dgamma || !dbeta || !dy || !x || !gamma || !save_mean || !save_invstd ||
        (relu && (!y || !beta)))
        return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: /* relu_mask unused: y is at hand */
        (void)relu_mask;
        if (relu) ws_relu_backward_cpu(count_of(d), ex->threads, dy, dy, y);
        if (dresidual) memcpy(dresidual, dy, count_of(d) * sizeof(float));
        return ws_batchnorm_backward_cpu(d, ex->threads, dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd);
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA:
        ws_batchnorm_backward_cuda(ex, d, dx, dgamma, dbeta, dy, y, x, gamma, beta, save_mean, save_invstd, dresidual,
                                   relu, relu_mask);
        return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
