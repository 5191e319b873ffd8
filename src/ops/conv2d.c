/* src/ops/conv2d.c - the convolution's descriptor and its backend choice.
 * defines: ws_conv2d_desc_make, ws_conv2d_workspace_bytes, ws_conv2d_forward, ws_conv2d_backward
 * backends: src/ops/conv2d_cpu.c (reference), src/ops/conv2d_cuda.cu (to come); contract:
 * src/ops/conv2d.h. Every dispatcher: a bad descriptor is WS_EINVAL whatever the device;
 * then the CPU (fp32 only) runs the reference; any other device or precision is
 * WS_ENOTSUP until its backend exists. */
#include "ops/conv2d.h"
#include "ws_config.h"

#include <limits.h>

ws_conv2d_desc ws_conv2d_desc_make(int n, int c, int h, int w, int k, int r, int s, int stride, int pad) {
    ws_conv2d_desc d = {.n = n, .c = c, .h = h, .w = w, .k = k, .r = r, .s = s, .stride = stride, .pad = pad};
    /* p, q = 0 (rejected later) where the filter does not fit: C's division truncates
     * toward zero, so (H + 2*pad - R) / stride + 1 alone would give 1 for a negative span. */
    long long span_h = (long long)h + 2LL * pad - r, span_w = (long long)w + 2LL * pad - s;
    d.p = (stride > 0 && span_h >= 0 && span_h / stride + 1 <= INT_MAX) ? (int)(span_h / stride + 1) : 0;
    d.q = (stride > 0 && span_w >= 0 && span_w / stride + 1 <= INT_MAX) ? (int)(span_w / stride + 1) : 0;
    return d;
}

static int desc_ok(const ws_conv2d_desc *d) {
    if (!d || d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->k < 1 || d->r < 1 || d->s < 1 || d->stride < 1 ||
        d->pad < 0)
        return 0;
    ws_conv2d_desc m = ws_conv2d_desc_make(d->n, d->c, d->h, d->w, d->k, d->r, d->s, d->stride, d->pad);
    return d->p >= 1 && d->q >= 1 && d->p == m.p && d->q == m.q;
}

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

size_t ws_conv2d_workspace_bytes(const ws_exec *ex, const ws_conv2d_desc *d) {
    if (!ex || !desc_ok(d)) return 0;
    if (cpu_runs(ex)) return ws_conv2d_workspace_bytes_cpu(d, ex->threads);
    /* TODO(cuda issue): under WS_HAVE_CUDA, the CUDA device asks ws_conv2d_workspace_bytes_cuda
     * (the largest cuDNN algorithm workspace). */
    return 0;
}

ws_status ws_conv2d_forward(const ws_exec *ex, const ws_conv2d_desc *d, float *y, const float *x, const float *w,
                            void *workspace) {
    if (!ex || !desc_ok(d)) return WS_EINVAL;
    if (cpu_runs(ex)) return ws_conv2d_forward_cpu(d, ex->threads, y, x, w, workspace);
#if WS_HAVE_CUDA
    /* TODO(cuda issue): the CUDA device runs ws_conv2d_forward_cuda here. */
#endif
    return WS_ENOTSUP;
}

ws_status ws_conv2d_backward(const ws_exec *ex, const ws_conv2d_desc *d, float *dx, float *dw, const float *dy,
                             const float *x, const float *w, void *workspace) {
    if (!ex || !desc_ok(d)) return WS_EINVAL;
    if (cpu_runs(ex)) return ws_conv2d_backward_cpu(d, ex->threads, dx, dw, dy, x, w, workspace);
#if WS_HAVE_CUDA
    /* TODO(cuda issue): the CUDA device runs ws_conv2d_backward_cuda here. */
#endif
    return WS_ENOTSUP;
}
