/* src/ops/bias_add.c - the row-broadcast add's backend choice.
 * defines: ws_bias_add_forward, ws_bias_add_backward
 * backends: src/ops/bias_add_cpu.c (reference), src/ops/bias_add_cuda.cu (to come);
 * contract: src/ops/bias_add.h. Non-positive sizes or NULL buffers are WS_EINVAL; the CPU
 * (fp32 only) runs the reference; any other device or precision is WS_ENOTSUP for now. */
#include "ops/bias_add.h"

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

/* TODO(cuda issue): under WS_HAVE_CUDA, the CUDA device runs the _cuda twins below. */

ws_status ws_bias_add_forward(const ws_exec *ex, int rows, size_t count, float *y, const float *x, const float *b) {
    if (!ex || rows < 1 || count < 1 || !y || !x || !b) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_bias_add_forward_cpu(rows, count, ex->threads, y, x, b);
    return WS_OK;
}

ws_status ws_bias_add_backward(const ws_exec *ex, int rows, size_t count, float *db, const float *dy) {
    if (!ex || rows < 1 || count < 1 || !db || !dy) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_bias_add_backward_cpu(rows, count, ex->threads, db, dy);
    return WS_OK;
}
