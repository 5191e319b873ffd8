/* src/ops/gelu.c - GELU's backend choice.
 * defines: ws_gelu_forward, ws_gelu_backward, ws_gelu_forward_act, ws_gelu_backward_act
 * backends: src/ops/gelu_cpu.c (reference), src/ops/gelu_cuda.cu; contract: src/ops/gelu.h.
 * NULL buffers (with n > 0) are WS_EINVAL; the CPU (fp32) runs the reference, a CUDA exec
 * (fp32 or tf32) the twin; anything else is WS_ENOTSUP. */
#include "ops/gelu.h"
#include "ws_config.h"

ws_status ws_gelu_forward(const ws_exec *ex, size_t n, float *y, const float *x) {
    if (!ex || (n && (!y || !x))) return WS_EINVAL;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU: ws_gelu_forward_cpu(n, ex->threads, y, x); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_gelu_forward_cuda(ex, n, y, x); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_gelu_backward(const ws_exec *ex, size_t n, float *dx, const float *dy, const float *x) {
    if (!ex || (n && (!dx || !dy || !x))) return WS_EINVAL;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU: ws_gelu_backward_cpu(n, ex->threads, dx, dy, x); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_gelu_backward_cuda(ex, n, dx, dy, x); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

/* activation-typed: fp32 storage goes to the fp32 ops above (the CPU reference or the
 * vectorised twin); other storage types to the typed CUDA kernels */
ws_status ws_gelu_forward_act(const ws_exec *ex, size_t n, void *y, const void *x) {
    if (!ex || (n && (!y || !x))) return WS_EINVAL;
    if (ws_act_dtype(ex->precision) == WS_FP32) return ws_gelu_forward(ex, n, y, x);
#if WS_HAVE_CUDA
    if (wsi_exec_run(ex) == WSI_RUN_CUDA) {
        ws_gelu_forward_act_cuda(ex, n, y, x);
        return WS_OK;
    }
#endif
    return WS_ENOTSUP;
}

ws_status ws_gelu_backward_act(const ws_exec *ex, size_t n, void *dx, const void *dy, const void *x) {
    if (!ex || (n && (!dx || !dy || !x))) return WS_EINVAL;
    if (ws_act_dtype(ex->precision) == WS_FP32) return ws_gelu_backward(ex, n, dx, dy, x);
#if WS_HAVE_CUDA
    if (wsi_exec_run(ex) == WSI_RUN_CUDA) {
        ws_gelu_backward_act_cuda(ex, n, dx, dy, x);
        return WS_OK;
    }
#endif
    return WS_ENOTSUP;
}
