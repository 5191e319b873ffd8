/* src/ops/linear.c - the fully connected layer's backend choice.
 * defines: ws_linear_forward, ws_linear_backward
 * backends: src/ops/linear_cpu.c (reference), src/ops/linear_cuda.cu (cuBLAS); contract:
 * src/ops/linear.h. Non-positive sizes or missing buffers are WS_EINVAL whatever the
 * device; the CPU (fp32) runs the reference, a CUDA exec the twin; anything else is
 * WS_ENOTSUP. ex->threads does not apply: the CPU products thread themselves. */
#include "ops/linear.h"
#include "ws_config.h"
#include "core/error.h"

ws_status ws_linear_plan(const ws_exec *ex, int n, int in, int out, ws_error *err) {
    if (!ex || n < 1 || in < 1 || out < 1) return WS_EINVAL;
    (void)err; /* only the CUDA plan can fail with a message */
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: return ws_linear_plan_cuda(ex, n, in, out, err);
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_linear_forward(const ws_exec *ex, int n, int in, int out, void *y, const void *x, const void *w,
                            const float *b) {
    if (!ex || n < 1 || in < 1 || out < 1 || !y || !x || !w) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: ws_linear_forward_cpu(n, in, out, y, x, w, b); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_linear_forward_cuda(ex, n, in, out, y, x, w, b); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_linear_backward(const ws_exec *ex, int n, int in, int out, void *dx, float *dw, float *db,
                             const void *dy, const void *x, const void *w) {
    if (!ex || n < 1 || in < 1 || out < 1 || !dw || !dy || !x || !w) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: ws_linear_backward_cpu(n, in, out, dx, dw, db, dy, x, w); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_linear_backward_cuda(ex, n, in, out, dx, dw, db, dy, x, w); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
