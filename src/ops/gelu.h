/* ops/gelu.h - the Gaussian error linear unit in its exact (erf) form, PyTorch's nn.GELU()
 * default (approximate='none'): y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
 * defines: ws_gelu_forward, ws_gelu_backward (dispatch, ops/gelu.c), their _cpu
 *          references (ops/gelu_cpu.c) and _cuda twins (ops/gelu_cuda.cu); ws_gelu_forward_act,
 *          ws_gelu_backward_act (the same on activation-typed buffers).
 * Shapes: n floats, any layout.
 * forward: y (=); y may alias x, but backward needs x, so the model keeps it apart.
 * backward: dx (=) = dy * (Phi(x) + x phi(x)), phi the standard normal density, from the
 *   INPUT x; dx may alias dy.
 * fp32 buffers in ex's device memory whatever the run precision: the CPU runs at fp32, CUDA
 * at fp32 or tf32 (the same arithmetic); bf16/fp16 are WS_ENOTSUP. */
#ifndef WS_OPS_GELU_H
#define WS_OPS_GELU_H

#include "ops/ops.h"

ws_status ws_gelu_forward(const ws_exec *ex, size_t n, float *y, const float *x);
ws_status ws_gelu_backward(const ws_exec *ex, size_t n, float *dx, const float *dy, const float *x);

/* The same contract on buffers in ex's activation storage type (ws_act_dtype: bf16 in a bf16
 * run, fp32 in fp32/tf32, where these are ws_gelu_forward/backward), fp32 arithmetic inside
 * and one rounding of each result, as PyTorch's GELU on a bf16 tensor under autocast (the
 * AFNO's MLP in bf16 keeps h1 and g in bf16). The CPU: fp32 only. */
ws_status ws_gelu_forward_act(const ws_exec *ex, size_t n, void *y, const void *x);
ws_status ws_gelu_backward_act(const ws_exec *ex, size_t n, void *dx, const void *dy, const void *x);

void ws_gelu_forward_cpu(size_t n, int threads, float *y, const float *x);
void ws_gelu_backward_cpu(size_t n, int threads, float *dx, const float *dy, const float *x);

void ws_gelu_forward_cuda(const ws_exec *ex, size_t n, float *y, const float *x);
void ws_gelu_backward_cuda(const ws_exec *ex, size_t n, float *dx, const float *dy, const float *x);
void ws_gelu_forward_act_cuda(const ws_exec *ex, size_t n, void *y, const void *x);
void ws_gelu_backward_act_cuda(const ws_exec *ex, size_t n, void *dx, const void *dy, const void *x);

#endif
