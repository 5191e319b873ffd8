/* ops/conv2d.h - 2-D convolution without bias (ResNet's convs have none), any kernel,
 * stride and zero padding; PyTorch's nn.Conv2d(bias=False) semantics.
 * defines: ws_conv2d_desc, ws_conv2d_desc_make, ws_conv2d_workspace_bytes,
 *          ws_conv2d_forward, ws_conv2d_backward (dispatch, ops/conv2d.c) and the CPU
 *          reference ws_conv2d_forward_cpu, ws_conv2d_backward_cpu (ops/conv2d_cpu.c).
 * Shapes (NCHW on the CPU): x [N,C,H,W], w [K,C,R,S], y [N,K,P,Q],
 *   P = (H + 2*pad - R) / stride + 1, Q = (W + 2*pad - S) / stride + 1.
 * forward: y = conv(x, w) (overwritten).
 * backward: dx = conv_transpose(dy, w) (overwritten; skipped when dx is NULL, as for the
 *   first layer); dw += correlation(x, dy) (accumulates). */
#ifndef WS_OPS_CONV2D_H
#define WS_OPS_CONV2D_H

#include "ops/ops.h"

typedef struct {
    int n, c, h, w;    /* input */
    int k, r, s;       /* filters */
    int stride, pad;
    int p, q;          /* output, filled by ws_conv2d_desc_make */
} ws_conv2d_desc;

ws_conv2d_desc ws_conv2d_desc_make(int n, int c, int h, int w, int k, int r, int s, int stride, int pad);
/* Scratch the op needs (im2col buffers, per-thread partial dw) for `threads` threads. */
size_t ws_conv2d_workspace_bytes(const ws_exec *ex, const ws_conv2d_desc *d);

ws_status ws_conv2d_forward(const ws_exec *ex, const ws_conv2d_desc *d, float *y, const float *x, const float *w,
                            void *workspace);
ws_status ws_conv2d_backward(const ws_exec *ex, const ws_conv2d_desc *d, float *dx, float *dw, const float *dy,
                             const float *x, const float *w, void *workspace);

ws_status ws_conv2d_forward_cpu(const ws_conv2d_desc *d, int threads, float *y, const float *x, const float *w,
                                void *workspace);
ws_status ws_conv2d_backward_cpu(const ws_conv2d_desc *d, int threads, float *dx, float *dw, const float *dy,
                                 const float *x, const float *w, void *workspace);
size_t ws_conv2d_workspace_bytes_cpu(const ws_conv2d_desc *d, int threads);

#endif
