/* src/ops/conv2d.c - the convolution's descriptor and its backend choice.
 * defines: ws_conv2d_desc_make, ws_conv2d_workspace_bytes, ws_conv2d_forward, ws_conv2d_backward
 * defines also ws_conv2d_plan, ws_conv2d_plan_apis.
 * backends: src/ops/conv2d_cpu.c (reference), src/ops/conv2d_cuda.cu (cuDNN); contract:
 * src/ops/conv2d.h. Every dispatcher: a bad descriptor is WS_EINVAL whatever the device;
 * then the CPU (fp32 NCHW) runs the reference, a CUDA exec with a context the twin; any
 * other device or precision is WS_ENOTSUP. */
#include "ops/conv2d.h"
#include "ws_config.h"

#include "core/error.h"

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

ws_status ws_conv2d_plan(const ws_exec *ex, const ws_conv2d_desc *d, ws_error *err) {
    if (!ex || !desc_ok(d)) return wsi_error(err, WS_EINVAL, "ws_conv2d_plan: bad descriptor");
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: return ws_conv2d_plan_cuda(ex, d, err);
#endif
    default:
        return wsi_error(err, WS_ENOTSUP, "conv2d: %s %s is not supported by this build", ws_device_name(ex->device),
                         ws_dtype_name(ex->precision));
    }
}

const char *ws_conv2d_plan_apis(const ws_exec *ex, const ws_conv2d_desc *d) {
    if (!ex || !desc_ok(d)) return NULL;
#if WS_HAVE_CUDA
    if (wsi_exec_run(ex) == WSI_RUN_CUDA) return ws_conv2d_plan_apis_cuda(ex, d);
#endif
    return NULL;
}

size_t ws_conv2d_workspace_bytes(const ws_exec *ex, const ws_conv2d_desc *d) {
    if (!ex || !desc_ok(d)) return 0;
    if (wsi_exec_run(ex) == WSI_RUN_CPU) return ws_conv2d_workspace_bytes_cpu(d, ex->threads);
    return 0;
}

ws_status ws_conv2d_forward(const ws_exec *ex, const ws_conv2d_desc *d, void *y, const void *x, const void *w,
                            void *workspace) {
    if (!ex || !desc_ok(d)) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: return ws_conv2d_forward_cpu(d, ex->threads, y, x, w, workspace);
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA:
        if (!y || !x || !w) return WS_EINVAL;
        ws_conv2d_forward_cuda(ex, d, y, x, w);
        return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_conv2d_backward(const ws_exec *ex, const ws_conv2d_desc *d, void *dx, float *dw, const void *dy,
                             const void *x, const void *w, void *workspace, int flags) {
    if (!ex || !desc_ok(d)) return WS_EINVAL;
    int acc = (flags & WS_ACCUMULATE) != 0;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: return ws_conv2d_backward_cpu(d, ex->threads, dx, dw, dy, x, w, workspace, acc);
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA:
        if (!dw || !dy || !x || !w) return WS_EINVAL;
        ws_conv2d_backward_cuda(ex, d, dx, dw, dy, x, w, acc);
        return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
