/* src/ops/loss.c - the cross-entropy loss's backend choice.
 * defines: ws_softmax_xent_forward, ws_softmax_xent_backward, ws_topk_count
 * backends: src/ops/loss_cpu.c (reference), src/ops/loss_cuda.cu; contract: src/ops/loss.h.
 * Non-positive sizes or smoothing outside [0, 1] are WS_EINVAL whatever the device; on the
 * CPU a label outside [0, K) is WS_EINVAL, else the reference runs; a CUDA exec runs the
 * twin (labels in device memory are not checked: the data layer gives labels in range);
 * anything else is WS_ENOTSUP. */
#include "ops/loss.h"
#include "ws_config.h"

static int args_ok(int n, int k, float smoothing) {
    return n >= 1 && k >= 1 && smoothing >= 0.0f && smoothing <= 1.0f; /* NaN smoothing fails */
}

/* On the host only: a CUDA backend may be handed labels in device memory. */
static int labels_ok(int n, int k, const int32_t *labels) {
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k) return 0;
    return 1;
}

ws_status ws_softmax_xent_forward(const ws_exec *ex, int n, int k, double *loss, float *probs, const void *logits,
                                  const int32_t *labels, float smoothing) {
    if (!ex || !args_ok(n, k, smoothing) || !loss || !probs || !logits || !labels) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU:
        if (!labels_ok(n, k, labels)) return WS_EINVAL;
        ws_softmax_xent_forward_cpu(n, k, loss, probs, logits, labels, smoothing);
        return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_softmax_xent_forward_cuda(ex, n, k, loss, probs, logits, labels, smoothing); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_softmax_xent_backward(const ws_exec *ex, int n, int k, void *dlogits, const float *probs,
                                   const int32_t *labels, float smoothing, float scale) {
    if (!ex || !args_ok(n, k, smoothing) || !dlogits || !probs || !labels) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU:
        if (!labels_ok(n, k, labels)) return WS_EINVAL;
        ws_softmax_xent_backward_cpu(n, k, dlogits, probs, labels, smoothing, scale);
        return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_softmax_xent_backward_cuda(ex, n, k, dlogits, probs, labels, smoothing, scale); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_topk_count(const ws_exec *ex, int n, int k, const void *logits, const int32_t *labels, int topk,
                        double *count) {
    if (!ex || n < 1 || k < 1 || topk < 1 || !logits || !labels || !count) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: *count += ws_topk_correct(n, k, logits, labels, topk); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_topk_count_cuda(ex, n, k, logits, labels, topk, count); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
