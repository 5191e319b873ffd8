/* ops/linear.h - fully connected layer, PyTorch's nn.Linear: y = x w^T + b.
 * defines: ws_linear_forward, ws_linear_backward (dispatch, ops/linear.c) and their _cpu
 *          references (ops/linear_cpu.c).
 * Shapes: x [N,IN], w [OUT,IN], b [OUT] (may be NULL), y [N,OUT].
 * forward: y (=). backward: dx (=; skipped when NULL), dw (+=), db (+=; skipped when NULL). */
#ifndef WS_OPS_LINEAR_H
#define WS_OPS_LINEAR_H

#include "ops/ops.h"

ws_status ws_linear_forward(const ws_exec *ex, int n, int in, int out, float *y, const float *x, const float *w,
                            const float *b);
ws_status ws_linear_backward(const ws_exec *ex, int n, int in, int out, float *dx, float *dw, float *db,
                             const float *dy, const float *x, const float *w);

void ws_linear_forward_cpu(int n, int in, int out, float *y, const float *x, const float *w, const float *b);
void ws_linear_backward_cpu(int n, int in, int out, float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w);

#endif
