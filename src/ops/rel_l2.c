/* src/ops/rel_l2.c - the relative L2 loss's backend choice.
 * defines: ws_rel_l2_forward, ws_rel_l2_backward
 * backends: src/ops/rel_l2_cpu.c (reference), src/ops/rel_l2_cuda.cu; contract:
 * src/ops/rel_l2.h. Non-positive sizes or NULL buffers are WS_EINVAL whatever the device;
 * the CPU (fp32) runs the reference (WS_EINVAL on a zero target), a CUDA exec (fp32 or
 * tf32) the twin (a NaN loss on a zero target); anything else is WS_ENOTSUP. */
#include "ops/rel_l2.h"
#include "ws_config.h"

ws_status ws_rel_l2_forward(const ws_exec *ex, int n, size_t count, double *loss, const float *pred,
                            const float *target) {
    if (!ex || n < 1 || count < 1 || !loss || !pred || !target) return WS_EINVAL;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU: return ws_rel_l2_forward_cpu(n, count, ex->threads, loss, pred, target);
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_rel_l2_forward_cuda(ex, n, count, loss, pred, target); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_rel_l2_backward(const ws_exec *ex, int n, size_t count, float *dpred, const float *pred,
                             const float *target, float scale) {
    if (!ex || n < 1 || count < 1 || !dpred || !pred || !target) return WS_EINVAL;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU: return ws_rel_l2_backward_cpu(n, count, ex->threads, dpred, pred, target, scale);
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_rel_l2_backward_cuda(ex, n, count, dpred, pred, target, scale); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
