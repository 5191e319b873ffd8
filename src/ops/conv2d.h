/* ops/conv2d.h - 2-D convolution without bias (ResNet's convs have none), any kernel,
 * stride and zero padding; PyTorch's nn.Conv2d(bias=False) semantics.
 * defines: ws_conv2d_desc, ws_conv2d_desc_make, ws_conv2d_plan, ws_conv2d_plan_apis,
 *          ws_conv2d_workspace_bytes, ws_conv2d_forward, ws_conv2d_backward (dispatch,
 *          ops/conv2d.c), the CPU reference ws_conv2d_forward_cpu, ws_conv2d_backward_cpu
 *          (ops/conv2d_cpu.c) and the CUDA twins ws_conv2d_*_cuda (ops/conv2d_cuda.cu, cuDNN).
 * Shapes: x [N,C,H,W], w [K,C,R,S], y [N,K,P,Q] on the CPU (NCHW); on CUDA x [N,H,W,C],
 *   w [K,R,S,C], y [N,P,Q,K] (NHWC, cuDNN's fastest layout for tensor cores);
 *   P = (H + 2*pad - R) / stride + 1, Q = (W + 2*pad - S) / stride + 1.
 * x, y, dx, dy and w are in the activation storage type (bf16 weights are the model's
 * working copy of its fp32 master weights); dw is fp32 in w's layout.
 * forward: y = conv(x, w) (overwritten).
 * backward: dx = conv_transpose(dy, w) (overwritten, or added with WS_ACCUMULATE in flags;
 *   skipped when dx is NULL, as for the first layer); dw += correlation(x, dy) (accumulates). */
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
/* Prepares a shape before the steps that use it (model open): on CUDA it times cuDNN's
 * algorithms for forward, backward data (= and +=) and backward filter, from the legacy
 * API (cudnnFind*) and the graph API's engines as WATTSCALE_CUDNN_API says (fastest within
 * the workspace limit, deterministic ones only if the context asks), caches the winners
 * per shape and reserves the context's workspace; on the CPU it does nothing. A shape
 * never planned still runs on CUDA, with cuDNN's legacy heuristic choice that fits the
 * workspace reserved so far. */
ws_status ws_conv2d_plan(const ws_exec *ex, const ws_conv2d_desc *d, ws_error *err);
/* Which cuDNN API each direction of a planned shape runs, for logs and tests:
 * "fwd=graph dx=legacy dx+=graph dw=graph+add" (dx+ is dx with WS_ACCUMULATE; +add: dW is
 * computed into a stage and added). NULL where the shape has no CUDA plan, and on the CPU.
 * The string belongs to the context. */
const char *ws_conv2d_plan_apis(const ws_exec *ex, const ws_conv2d_desc *d);
/* Scratch the caller passes as `workspace`: CPU im2col buffers and per-thread partial dw
 * for `threads` threads; 0 on CUDA, whose scratch is the context's (sized by plan). */
size_t ws_conv2d_workspace_bytes(const ws_exec *ex, const ws_conv2d_desc *d);

ws_status ws_conv2d_forward(const ws_exec *ex, const ws_conv2d_desc *d, void *y, const void *x, const void *w,
                            void *workspace);
ws_status ws_conv2d_backward(const ws_exec *ex, const ws_conv2d_desc *d, void *dx, float *dw, const void *dy,
                             const void *x, const void *w, void *workspace, int flags);

ws_status ws_conv2d_forward_cpu(const ws_conv2d_desc *d, int threads, float *y, const float *x, const float *w,
                                void *workspace);
/* accumulate_dx: dx += instead of dx = */
ws_status ws_conv2d_backward_cpu(const ws_conv2d_desc *d, int threads, float *dx, float *dw, const float *dy,
                                 const float *x, const float *w, void *workspace, int accumulate_dx);
size_t ws_conv2d_workspace_bytes_cpu(const ws_conv2d_desc *d, int threads);

ws_status ws_conv2d_plan_cuda(const ws_exec *ex, const ws_conv2d_desc *d, ws_error *err);
const char *ws_conv2d_plan_apis_cuda(const ws_exec *ex, const ws_conv2d_desc *d);
void ws_conv2d_forward_cuda(const ws_exec *ex, const ws_conv2d_desc *d, void *y, const void *x, const void *w);
void ws_conv2d_backward_cuda(const ws_exec *ex, const ws_conv2d_desc *d, void *dx, float *dw, const void *dy,
                             const void *x, const void *w, int accumulate_dx);

#endif
