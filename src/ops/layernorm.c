/* src/ops/layernorm.c - layer normalization's backend choice.
 * defines: ws_layernorm_forward, ws_layernorm_backward
 * backends: src/ops/layernorm_cpu.c (reference), src/ops/layernorm_cuda.cu; contract:
 * src/ops/layernorm.h. Non-positive sizes, a non-positive or NaN eps and missing buffers
 * are WS_EINVAL whatever the device; the CPU (fp32) runs the reference, a CUDA exec (fp32
 * or tf32) the twin; anything else is WS_ENOTSUP. */
#include "ops/layernorm.h"
#include "ws_config.h"

ws_status ws_layernorm_forward(const ws_exec *ex, int rows, int dim, float eps, float *y, float *mean, float *rstd,
                               const float *x, const float *gamma, const float *beta) {
    if (!ex || rows < 1 || dim < 1 || !(eps > 0.0f) || !y || !mean || !rstd || !x || !gamma || !beta)
        return WS_EINVAL;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU:
        ws_layernorm_forward_cpu(rows, dim, eps, ex->threads, y, mean, rstd, x, gamma, beta);
        return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_layernorm_forward_cuda(ex, rows, dim, eps, y, mean, rstd, x, gamma, beta); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_layernorm_backward(const ws_exec *ex, int rows, int dim, float *dx, float *dgamma, float *dbeta,
                                const float *dy, const float *x, const float *gamma, const float *mean,
                                const float *rstd) {
    if (!ex || rows < 1 || dim < 1 || !dx || !dgamma || !dbeta || !dy || !x || !gamma || !mean || !rstd)
        return WS_EINVAL;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU:
        ws_layernorm_backward_cpu(rows, dim, ex->threads, dx, dgamma, dbeta, dy, x, gamma, mean, rstd);
        return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA:
        ws_layernorm_backward_cuda(ex, rows, dim, dx, dgamma, dbeta, dy, x, gamma, mean, rstd);
        return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
