/* src/ops/eltwise.c - the element-wise ops' backend choice.
 * defines: ws_relu_forward, ws_relu_backward, ws_add_forward
 * backends: src/ops/eltwise_cpu.c (reference), src/ops/eltwise_cuda.cu (to come); contract:
 * src/ops/eltwise.h. NULL buffers (with n > 0) are WS_EINVAL; the CPU (fp32 only) runs the
 * reference; any other device or precision is WS_ENOTSUP for now. */
#include "ops/eltwise.h"

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

/* TODO(cuda issue): under WS_HAVE_CUDA, the CUDA device runs the _cuda twins below. */

ws_status ws_relu_forward(const ws_exec *ex, size_t n, float *y, const float *x) {
    if (!ex || (n && (!y || !x))) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_relu_forward_cpu(n, ex->threads, y, x);
    return WS_OK;
}

ws_status ws_relu_backward(const ws_exec *ex, size_t n, float *dx, const float *dy, const float *y) {
    if (!ex || (n && (!dx || !dy || !y))) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_relu_backward_cpu(n, ex->threads, dx, dy, y);
    return WS_OK;
}

ws_status ws_add_forward(const ws_exec *ex, size_t n, float *y, const float *a, const float *b) {
    if (!ex || (n && (!y || !a || !b))) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_add_forward_cpu(n, ex->threads, y, a, b);
    return WS_OK;
}
