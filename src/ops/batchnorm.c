/* src/ops/batchnorm.c - batch normalisation's backend choice.
 * defines: ws_batchnorm_forward_train, ws_batchnorm_forward_eval, ws_batchnorm_backward
 * backends: src/ops/batchnorm_cpu.c (reference), src/ops/batchnorm_cuda.cu (to come);
 * contract: src/ops/batchnorm.h. A bad descriptor is WS_EINVAL whatever the device; the CPU
 * (fp32 only) runs the reference; any other device or precision is WS_ENOTSUP for now. */
#include "ops/batchnorm.h"

#include <math.h>

static int desc_ok(const ws_batchnorm_desc *d) {
    return d && d->n >= 1 && d->c >= 1 && d->h >= 1 && d->w >= 1 && d->eps >= 0.0 && d->eps < INFINITY &&
           d->momentum >= 0.0 && d->momentum <= 1.0;
}

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

/* TODO(cuda issue): under WS_HAVE_CUDA, the CUDA device runs the _cuda twins below. */

ws_status ws_batchnorm_forward_train(const ws_exec *ex, const ws_batchnorm_desc *d, float *y, const float *x,
                                     const float *gamma, const float *beta, float *running_mean, float *running_var,
                                     float *save_mean, float *save_invstd) {
    if (!ex || !desc_ok(d) || (size_t)d->n * d->h * d->w < 2) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    return ws_batchnorm_forward_train_cpu(d, ex->threads, y, x, gamma, beta, running_mean, running_var, save_mean,
                                          save_invstd);
}

ws_status ws_batchnorm_forward_eval(const ws_exec *ex, const ws_batchnorm_desc *d, float *y, const float *x,
                                    const float *gamma, const float *beta, const float *running_mean,
                                    const float *running_var) {
    if (!ex || !desc_ok(d)) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    return ws_batchnorm_forward_eval_cpu(d, ex->threads, y, x, gamma, beta, running_mean, running_var);
}

ws_status ws_batchnorm_backward(const ws_exec *ex, const ws_batchnorm_desc *d, float *dx, float *dgamma, float *dbeta,
                                const float *dy, const float *x, const float *gamma, const float *save_mean,
                                const float *save_invstd) {
    if (!ex || !desc_ok(d)) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    return ws_batchnorm_backward_cpu(d, ex->threads, dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd);
}
