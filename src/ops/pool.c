/* src/ops/pool.c - the pooling descriptor and the pooling ops' backend choice.
 * defines: ws_maxpool_desc_make, ws_maxpool_forward, ws_maxpool_backward,
 *          ws_avgpool_global_forward, ws_avgpool_global_backward
 * backends: src/ops/pool_cpu.c (reference), src/ops/pool_cuda.cu; contract: src/ops/pool.h.
 * A bad descriptor is WS_EINVAL whatever the device; the CPU (fp32 NCHW) runs the
 * reference, a CUDA exec the twin; anything else is WS_ENOTSUP. */
#include "ops/pool.h"

#include "ws_config.h"

#include <limits.h>

ws_maxpool_desc ws_maxpool_desc_make(int n, int c, int h, int w, int r, int s, int stride, int pad) {
    ws_maxpool_desc d = {.n = n, .c = c, .h = h, .w = w, .r = r, .s = s, .stride = stride, .pad = pad};
    /* 0 (rejected later) where the window does not fit; floor mode (ceil_mode=False) */
    long long span_h = (long long)h + 2LL * pad - r, span_w = (long long)w + 2LL * pad - s;
    d.p = (stride > 0 && span_h >= 0 && span_h / stride + 1 <= INT_MAX) ? (int)(span_h / stride + 1) : 0;
    d.q = (stride > 0 && span_w >= 0 && span_w / stride + 1 <= INT_MAX) ? (int)(span_w / stride + 1) : 0;
    return d;
}

/* pad <= r/2 (PyTorch's own limit) keeps every window partly inside the input, so each
 * output has a real argmax; planes and plane sizes must fit the kernels' int indices. */
static int maxpool_desc_ok(const ws_maxpool_desc *d) {
    if (!d || d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->r < 1 || d->s < 1 || d->stride < 1 || d->pad < 0 ||
        d->pad > d->r / 2 || d->pad > d->s / 2)
        return 0;
    ws_maxpool_desc m = ws_maxpool_desc_make(d->n, d->c, d->h, d->w, d->r, d->s, d->stride, d->pad);
    return d->p >= 1 && d->q >= 1 && d->p == m.p && d->q == m.q && (size_t)d->n * d->c <= INT_MAX &&
           (size_t)d->h * d->w <= INT32_MAX;
}

static int avgpool_ok(int n, int c, int h, int w) {
    return n >= 1 && c >= 1 && h >= 1 && w >= 1 && (size_t)n * c <= INT_MAX;
}

ws_status ws_maxpool_forward(const ws_exec *ex, const ws_maxpool_desc *d, void *y, int32_t *argmax, const void *x) {
    if (!ex || !maxpool_desc_ok(d) || !y || !argmax || !x) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: ws_maxpool_forward_cpu(d, ex->threads, y, argmax, x); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_maxpool_forward_cuda(ex, d, y, argmax, x); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_maxpool_backward(const ws_exec *ex, const ws_maxpool_desc *d, void *dx, const void *dy,
                              const int32_t *argmax) {
    if (!ex || !maxpool_desc_ok(d) || !dx || !dy || !argmax) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: ws_maxpool_backward_cpu(d, ex->threads, dx, dy, argmax); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_maxpool_backward_cuda(ex, d, dx, dy, argmax); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_avgpool_global_forward(const ws_exec *ex, int n, int c, int h, int w, void *y, const void *x) {
    if (!ex || !avgpool_ok(n, c, h, w) || !y || !x) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: ws_avgpool_global_forward_cpu(n, c, h, w, ex->threads, y, x); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_avgpool_global_forward_cuda(ex, n, c, h, w, y, x); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_avgpool_global_backward(const ws_exec *ex, int n, int c, int h, int w, void *dx, const void *dy) {
    if (!ex || !avgpool_ok(n, c, h, w) || !dx || !dy) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: ws_avgpool_global_backward_cpu(n, c, h, w, ex->threads, dx, dy); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_avgpool_global_backward_cuda(ex, n, c, h, w, dx, dy); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
