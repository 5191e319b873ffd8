/* ops/pool.h - max pooling (any window and stride; padding never wins, as in PyTorch's
 * nn.MaxPool2d) and global average pooling (nn.AdaptiveAvgPool2d(1) + flatten).
 * defines: ws_maxpool_desc, ws_maxpool_desc_make, ws_maxpool_forward, ws_maxpool_backward,
 *          ws_avgpool_global_forward, ws_avgpool_global_backward (dispatch, ops/pool.c),
 *          their _cpu references (ops/pool_cpu.c) and _cuda twins (ops/pool_cuda.cu).
 * Layouts: NCHW on the CPU, NHWC on CUDA; activation storage type.
 * maxpool: x [N,C,H,W] -> y [N,C,P,Q] (=); argmax [N,C,P,Q] (int32, in the layout of y:
 *   the index within the H*W plane of the chosen input; ties: the first in row-major order,
 *   as PyTorch's CPU kernel) is written by forward and read by backward; dx (=).
 * avgpool_global: x [N,C,H,W] -> y [N,C] (=, the same in both layouts); dx (=) = dy / (H*W)
 *   broadcast. */
#ifndef WS_OPS_POOL_H
#define WS_OPS_POOL_H

#include "ops/ops.h"

typedef struct {
    int n, c, h, w;
    int r, s, stride, pad;
    int p, q;          /* filled by ws_maxpool_desc_make */
} ws_maxpool_desc;

ws_maxpool_desc ws_maxpool_desc_make(int n, int c, int h, int w, int r, int s, int stride, int pad);

ws_status ws_maxpool_forward(const ws_exec *ex, const ws_maxpool_desc *d, void *y, int32_t *argmax, const void *x);
ws_status ws_maxpool_backward(const ws_exec *ex, const ws_maxpool_desc *d, void *dx, const void *dy,
                              const int32_t *argmax);
ws_status ws_avgpool_global_forward(const ws_exec *ex, int n, int c, int h, int w, void *y, const void *x);
ws_status ws_avgpool_global_backward(const ws_exec *ex, int n, int c, int h, int w, void *dx, const void *dy);

void ws_maxpool_forward_cpu(const ws_maxpool_desc *d, int threads, float *y, int32_t *argmax, const float *x);
void ws_maxpool_backward_cpu(const ws_maxpool_desc *d, int threads, float *dx, const float *dy, const int32_t *argmax);
void ws_avgpool_global_forward_cpu(int n, int c, int h, int w, int threads, float *y, const float *x);
void ws_avgpool_global_backward_cpu(int n, int c, int h, int w, int threads, float *dx, const float *dy);

void ws_maxpool_forward_cuda(const ws_exec *ex, const ws_maxpool_desc *d, void *y, int32_t *argmax, const void *x);
void ws_maxpool_backward_cuda(const ws_exec *ex, const ws_maxpool_desc *d, void *dx, const void *dy,
                              const int32_t *argmax);
void ws_avgpool_global_forward_cuda(const ws_exec *ex, int n, int c, int h, int w, void *y, const void *x);
void ws_avgpool_global_backward_cuda(const ws_exec *ex, int n, int c, int h, int w, void *dx, const void *dy);

#endif
