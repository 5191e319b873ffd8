/* src/ops/layernorm.c - layer normalization's backend choice.
 * defines: ws_layernorm_forward, ws_layernorm_backward
 * backends: src/ops/layernorm_cpu.c (reference), src/ops/layernorm_cuda.cu (to come);
 * contract: src/ops/layernorm.h. Non-positive sizes, a non-positive or NaN eps and missing
 * buffers are WS_EINVAL whatever the device; the CPU (fp32 only) runs the reference; any
 * other device or precision is WS_ENOTSUP for now. */
#include "ops/layernorm.h"

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

/* TODO(cuda issue): under WS_HAVE_CUDA, the CUDA device runs the _cuda twins below. */

ws_status ws_layernorm_forward(const ws_exec *ex, int rows, int dim, float eps, float *y, float *mean, float *rstd,
                               const float *x, const float *gamma, const float *beta) {
    if (!ex || rows < 1 || dim < 1 || !(eps > 0.0f) || !y || !mean || !rstd || !x || !gamma || !beta)
        return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_layernorm_forward_cpu(rows, dim, eps, ex->threads, y, mean, rstd, x, gamma, beta);
    return WS_OK;
}

ws_status ws_layernorm_backward(const ws_exec *ex, int rows, int dim, float *dx, float *dgamma, float *dbeta,
                                const float *dy, const float *x, const float *gamma, const float *mean,
                                const float *rstd) {
    if (!ex || rows < 1 || dim < 1 || !dx || !dgamma || !dbeta || !dy || !x || !gamma || !mean || !rstd)
        return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_layernorm_backward_cpu(rows, dim, ex->threads, dx, dgamma, dbeta, dy, x, gamma, mean, rstd);
    return WS_OK;
}
