/* src/ops/bias_add.c - the row-broadcast add's backend choice.
 * defines: ws_bias_add_forward, ws_bias_add_backward
 * backends: src/ops/bias_add_cpu.c (reference), src/ops/bias_add_cuda.cu; contract:
 * src/ops/bias_add.h. Non-positive sizes or NULL buffers are WS_EINVAL; the CPU (fp32)
 * runs the reference, a CUDA exec (fp32 or tf32) the twin; anything else is WS_ENOTSUP. */
#include "ops/bias_add.h"
#include "ws_config.h"

ws_status ws_bias_add_forward(const ws_exec *ex, int rows, size_t count, float *y, const float *x, const float *b) {
    if (!ex || rows < 1 || count < 1 || !y || !x || !b) return WS_EINVAL;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU: ws_bias_add_forward_cpu(rows, count, ex->threads, y, x, b); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_bias_add_forward_cuda(ex, rows, count, y, x, b); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_bias_add_backward(const ws_exec *ex, int rows, size_t count, float *db, const float *dy) {
    if (!ex || rows < 1 || count < 1 || !db || !dy) return WS_EINVAL;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU: ws_bias_add_backward_cpu(rows, count, ex->threads, db, dy); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_bias_add_backward_cuda(ex, rows, count, db, dy); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
