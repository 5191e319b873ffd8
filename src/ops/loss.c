/* src/ops/loss.c - the cross-entropy loss's backend choice.
 * defines: ws_softmax_xent_forward, ws_softmax_xent_backward
 * backends: src/ops/loss_cpu.c (reference), src/ops/loss_cuda.cu (to come); contract:
 * src/ops/loss.h. Non-positive sizes or smoothing outside [0, 1] are WS_EINVAL whatever the
 * device; any device or precision but the CPU's fp32 is WS_ENOTSUP for now; on the CPU a
 * label outside [0, K) is WS_EINVAL, else the reference runs. */
#include "ops/loss.h"

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

static int args_ok(int n, int k, float smoothing) {
    return n >= 1 && k >= 1 && smoothing >= 0.0f && smoothing <= 1.0f; /* NaN smoothing fails */
}

/* On the host only: a CUDA backend may be handed labels in device memory. */
static int labels_ok(int n, int k, const int32_t *labels) {
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k) return 0;
    return 1;
}

/* TODO(cuda issue): under WS_HAVE_CUDA, the CUDA device runs the _cuda twins below. */

ws_status ws_softmax_xent_forward(const ws_exec *ex, int n, int k, double *loss, float *probs, const float *logits,
                                  const int32_t *labels, float smoothing) {
    if (!ex || !args_ok(n, k, smoothing) || !loss || !probs || !logits || !labels) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    if (!labels_ok(n, k, labels)) return WS_EINVAL;
    ws_softmax_xent_forward_cpu(n, k, loss, probs, logits, labels, smoothing);
    return WS_OK;
}

ws_status ws_softmax_xent_backward(const ws_exec *ex, int n, int k, float *dlogits, const float *probs,
                                   const int32_t *labels, float smoothing, float scale) {
    if (!ex || !args_ok(n, k, smoothing) || !dlogits || !probs || !labels) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    if (!labels_ok(n, k, labels)) return WS_EINVAL;
    ws_softmax_xent_backward_cpu(n, k, dlogits, probs, labels, smoothing, scale);
    return WS_OK;
}
