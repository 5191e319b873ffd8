/* src/ops/rel_l2.c - the relative L2 loss's backend choice.
 * defines: ws_rel_l2_forward, ws_rel_l2_backward
 * backends: src/ops/rel_l2_cpu.c (reference), src/ops/rel_l2_cuda.cu (to come); contract:
 * src/ops/rel_l2.h. Non-positive sizes or NULL buffers are WS_EINVAL whatever the device;
 * the CPU (fp32 only) runs the reference (WS_EINVAL on a zero target); any other device or
 * precision is WS_ENOTSUP for now. */
#include "ops/rel_l2.h"

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

/* TODO(cuda issue): under WS_HAVE_CUDA, the CUDA device runs the _cuda twins below. */

ws_status ws_rel_l2_forward(const ws_exec *ex, int n, size_t count, double *loss, const float *pred,
                            const float *target) {
    if (!ex || n < 1 || count < 1 || !loss || !pred || !target) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    return ws_rel_l2_forward_cpu(n, count, ex->threads, loss, pred, target);
}

ws_status ws_rel_l2_backward(const ws_exec *ex, int n, size_t count, float *dpred, const float *pred,
                             const float *target, float scale) {
    if (!ex || n < 1 || count < 1 || !dpred || !pred || !target) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    return ws_rel_l2_backward_cpu(n, count, ex->threads, dpred, pred, target, scale);
}
