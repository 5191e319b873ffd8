/* src/ops/linear.c - the fully connected layer's backend choice.
 * defines: ws_linear_forward, ws_linear_backward
 * backends: src/ops/linear_cpu.c (reference), src/ops/linear_cuda.cu (to come); contract:
 * src/ops/linear.h. Non-positive sizes or missing buffers are WS_EINVAL whatever the
 * device; the CPU (fp32 only) runs the reference; any other device or precision is
 * WS_ENOTSUP for now. ex->threads does not apply: the CPU products thread themselves. */
#include "ops/linear.h"

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

/* TODO(cuda issue): under WS_HAVE_CUDA, the CUDA device runs the _cuda twins below. */

ws_status ws_linear_forward(const ws_exec *ex, int n, int in, int out, float *y, const float *x, const float *w,
                            const float *b) {
    if (!ex || n < 1 || in < 1 || out < 1 || !y || !x || !w) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_linear_forward_cpu(n, in, out, y, x, w, b);
    return WS_OK;
}

ws_status ws_linear_backward(const ws_exec *ex, int n, int in, int out, float *dx, float *dw, float *db,
                             const float *dy, const float *x, const float *w) {
    if (!ex || n < 1 || in < 1 || out < 1 || !dw || !dy || !x || !w) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_linear_backward_cpu(n, in, out, dx, dw, db, dy, x, w);
    return WS_OK;
}
