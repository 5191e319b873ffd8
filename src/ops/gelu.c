/* src/ops/gelu.c - GELU's backend choice.
 * defines: ws_gelu_forward, ws_gelu_backward
 * backends: src/ops/gelu_cpu.c (reference), src/ops/gelu_cuda.cu (to come); contract:
 * src/ops/gelu.h. NULL buffers (with n > 0) are WS_EINVAL; the CPU (fp32 only) runs the
 * reference; any other device or precision is WS_ENOTSUP for now. */
#include "ops/gelu.h"

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

/* TODO(cuda issue): under WS_HAVE_CUDA, the CUDA device runs the _cuda twins below. */

ws_status ws_gelu_forward(const ws_exec *ex, size_t n, float *y, const float *x) {
    if (!ex || (n && (!y || !x))) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_gelu_forward_cpu(n, ex->threads, y, x);
    return WS_OK;
}

ws_status ws_gelu_backward(const ws_exec *ex, size_t n, float *dx, const float *dy, const float *x) {
    if (!ex || (n && (!dx || !dy || !x))) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_gelu_backward_cpu(n, ex->threads, dx, dy, x);
    return WS_OK;
}
