/* src/ops/eltwise.c - the element-wise ops' backend choice.
 * defines: ws_relu_forward, ws_relu_backward, ws_add_forward
 * backends: src/ops/eltwise_cpu.c (reference), src/ops/eltwise_cuda.cu; contract:
 * src/ops/eltwise.h. NULL buffers (with n > 0) are WS_EINVAL; the CPU (fp32) runs the
 * reference, a CUDA exec the twin; anything else is WS_ENOTSUP. */
#include "ops/eltwise.h"
#include "ws_config.h"

ws_status ws_relu_forward(const ws_exec *ex, size_t n, void *y, const void *x) {
    if (!ex || (n && (!y || !x))) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: ws_relu_forward_cpu(n, ex->threads, y, x); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_relu_forward_cuda(ex, n, y, x); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_relu_backward(const ws_exec *ex, size_t n, void *dx, const void *dy, const void *y) {
    if (!ex || (n && (!dx || !dy || !y))) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: ws_relu_backward_cpu(n, ex->threads, dx, dy, y); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_relu_backward_cuda(ex, n, dx, dy, y); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_add_forward(const ws_exec *ex, size_t n, void *y, const void *a, const void *b) {
    if (!ex || (n && (!y || !a || !b))) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: ws_add_forward_cpu(n, ex->threads, y, a, b); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_add_forward_cuda(ex, n, y, a, b); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
