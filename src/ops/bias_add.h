/* ops/bias_add.h - a vector added to every row, the broadcast of PyTorch's `x + b` with b of
 * shape [COUNT] against x of shape [ROWS, COUNT]: the AFNO's position embedding
 * (x [N, L*E] + pos_embed [1, L, E]).
 * defines: ws_bias_add_forward, ws_bias_add_backward (dispatch, ops/bias_add.c), their _cpu
 *          references (ops/bias_add_cpu.c) and _cuda twins (ops/bias_add_cuda.cu).
 * Shapes: x, y, dy [ROWS, COUNT] row-major; b, db [COUNT].
 * forward: y[r][j] = x[r][j] + b[j] (=); y may alias x (in place).
 * backward: db[j] += sum over r of dy[r][j] (accumulates). The gradient for x is dy itself:
 *   the model passes it on.
 * fp32 buffers in ex's device memory whatever the run precision: the CPU runs at fp32, CUDA
 * at fp32 or tf32 (the same arithmetic); bf16/fp16 are WS_ENOTSUP. */
#ifndef WS_OPS_BIAS_ADD_H
#define WS_OPS_BIAS_ADD_H

#include "ops/ops.h"

ws_status ws_bias_add_forward(const ws_exec *ex, int rows, size_t count, float *y, const float *x, const float *b);
ws_status ws_bias_add_backward(const ws_exec *ex, int rows, size_t count, float *db, const float *dy);

void ws_bias_add_forward_cpu(int rows, size_t count, int threads, float *y, const float *x, const float *b);
void ws_bias_add_backward_cpu(int rows, size_t count, int threads, float *db, const float *dy);

void ws_bias_add_forward_cuda(const ws_exec *ex, int rows, size_t count, float *y, const float *x,
                              const float *b);
void ws_bias_add_backward_cuda(const ws_exec *ex, int rows, size_t count, float *db, const float *dy);

#endif
