/* ops/eltwise.h - element-wise ops over n floats: ReLU and the residual add.
 * defines: ws_relu_forward, ws_relu_backward, ws_add_forward (dispatch, ops/eltwise.c),
 *          their _cpu references (ops/eltwise_cpu.c) and _cuda twins (ops/eltwise_cuda.cu).
 * Elements are in the activation storage type of ex (any layout: element-wise).
 * relu_forward: y = max(x, 0) (=); y may alias x (in place).
 * relu_backward: dx = dy where y > 0, else 0 (=), from the OUTPUT y; dx may alias dy.
 * add_forward: y = a + b (=); y may alias a or b. Its backward is the identity: the model
 *   passes dy on to both branches. */
#ifndef WS_OPS_ELTWISE_H
#define WS_OPS_ELTWISE_H

#include "ops/ops.h"

ws_status ws_relu_forward(const ws_exec *ex, size_t n, void *y, const void *x);
ws_status ws_relu_backward(const ws_exec *ex, size_t n, void *dx, const void *dy, const void *y);
ws_status ws_add_forward(const ws_exec *ex, size_t n, void *y, const void *a, const void *b);

void ws_relu_forward_cpu(size_t n, int threads, float *y, const float *x);
void ws_relu_backward_cpu(size_t n, int threads, float *dx, const float *dy, const float *y);
void ws_add_forward_cpu(size_t n, int threads, float *y, const float *a, const float *b);

void ws_relu_forward_cuda(const ws_exec *ex, size_t n, void *y, const void *x);
void ws_relu_backward_cuda(const ws_exec *ex, size_t n, void *dx, const void *dy, const void *y);
void ws_add_forward_cuda(const ws_exec *ex, size_t n, void *y, const void *a, const void *b);

#endif
