/* ops/loss.h - softmax cross-entropy with optional label smoothing, PyTorch's
 * nn.CrossEntropyLoss(label_smoothing=eps, reduction='mean'):
 *   loss_i = -sum_k q_ik log softmax(z_i)_k, q_ik = (1-eps) [k == y_i] + eps / K,
 *   loss = mean_i loss_i.
 * defines: ws_softmax_xent_forward, ws_softmax_xent_backward, ws_topk_count (dispatch,
 *          ops/loss.c), their _cpu references (ops/loss_cpu.c) and _cuda twins
 *          (ops/loss_cuda.cu); ws_topk_correct (the host metric).
 * Shapes: logits, dlogits [N,K] in the activation storage type, labels [N] (int32 in
 *   [0,K)), probs [N,K] fp32 (softmax, written by forward, read by backward). All in ex's
 *   device memory, *loss and *count too (a double each).
 * forward: *loss (=, double) and probs (=). backward: dlogits (=) = scale * (probs - q),
 *   with scale = 1/N for the mean (pass another to fold loss scaling or accumulation in).
 * topk_count: *count += the number of rows whose label is among the topk logits (the
 *   rules of ws_topk_correct), so a step's correct predictions stay on the device. */
#ifndef WS_OPS_LOSS_H
#define WS_OPS_LOSS_H

#include "ops/ops.h"

ws_status ws_softmax_xent_forward(const ws_exec *ex, int n, int k, double *loss, float *probs, const void *logits,
                                  const int32_t *labels, float smoothing);
ws_status ws_softmax_xent_backward(const ws_exec *ex, int n, int k, void *dlogits, const float *probs,
                                   const int32_t *labels, float smoothing, float scale);
ws_status ws_topk_count(const ws_exec *ex, int n, int k, const void *logits, const int32_t *labels, int topk,
                        double *count);

void ws_softmax_xent_forward_cpu(int n, int k, double *loss, float *probs, const float *logits,
                                 const int32_t *labels, float smoothing);
void ws_softmax_xent_backward_cpu(int n, int k, float *dlogits, const float *probs, const int32_t *labels,
                                  float smoothing, float scale);

/* How many of the n rows have their label among the top `topk` logits (ties count
 * against: a label tied with the k-th largest is correct only if it comes first). */
int ws_topk_correct(int n, int k, const float *logits, const int32_t *labels, int topk);

void ws_softmax_xent_forward_cuda(const ws_exec *ex, int n, int k, double *loss, float *probs, const void *logits,
                                  const int32_t *labels, float smoothing);
void ws_softmax_xent_backward_cuda(const ws_exec *ex, int n, int k, void *dlogits, const float *probs,
                                   const int32_t *labels, float smoothing, float scale);
void ws_topk_count_cuda(const ws_exec *ex, int n, int k, const void *logits, const int32_t *labels, int topk,
                        double *count);

#endif
