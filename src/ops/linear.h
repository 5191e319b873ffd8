/* ops/linear.h - fully connected layer, PyTorch's nn.Linear: y = x w^T + b.
 * defines: ws_linear_forward, ws_linear_backward (dispatch, ops/linear.c), their _cpu
 *          references (ops/linear_cpu.c) and _cuda twins (ops/linear_cuda.cu, cuBLAS).
 * Shapes: x [N,IN], w [OUT,IN], b [OUT] (may be NULL), y [N,OUT], row-major, the same on
 * every device. x, y, dx, dy and w are in the activation storage type (w: the model's
 * working copy of its fp32 weights; bf16 logits, as PyTorch's autocast gives); b, dw, db
 * are fp32.
 * forward: y (=). backward: dx (=; skipped when NULL), dw (+=), db (+=; skipped when NULL). */
#ifndef WS_OPS_LINEAR_H
#define WS_OPS_LINEAR_H

#include "ops/ops.h"

/* Before the steps (model open): on CUDA in bf16/fp16, reserves the context's workspace for
 * dW in the storage type (out x in), which cuBLAS computes there and one kernel adds to the
 * fp32 gradient (a product with bf16 inputs and an fp32 output took 6.3 ms for ResNet-50's
 * fc at batch 256 on an H200, 2026-12-01, against microseconds for this route). CPU: no-op. */
ws_status ws_linear_plan(const ws_exec *ex, int n, int in, int out, ws_error *err);
ws_status ws_linear_forward(const ws_exec *ex, int n, int in, int out, void *y, const void *x, const void *w,
                            const float *b);
ws_status ws_linear_backward(const ws_exec *ex, int n, int in, int out, void *dx, float *dw, float *db,
                             const void *dy, const void *x, const void *w);

void ws_linear_forward_cpu(int n, int in, int out, float *y, const float *x, const float *w, const float *b);
void ws_linear_backward_cpu(int n, int in, int out, float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w);

ws_status ws_linear_plan_cuda(const ws_exec *ex, int n, int in, int out, ws_error *err);
void ws_linear_forward_cuda(const ws_exec *ex, int n, int in, int out, void *y, const void *x, const void *w,
                            const float *b);
void ws_linear_backward_cuda(const ws_exec *ex, int n, int in, int out, void *dx, float *dw, float *db,
                             const void *dy, const void *x, const void *w);

#endif
