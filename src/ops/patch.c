/* src/ops/patch.c - patchify/unpatchify's backend choice.
 * defines: ws_patchify, ws_unpatchify
 * backends: src/ops/patch_cpu.c (reference), src/ops/patch_cuda.cu (to come); contract:
 * src/ops/patch.h. A bad descriptor (non-positive sizes, H or W not a multiple of P), an
 * unknown order or NULL buffers are WS_EINVAL whatever the device; the CPU (fp32 only) runs
 * the reference; any other device or precision is WS_ENOTSUP for now. */
#include "ops/patch.h"

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

static int desc_ok(const ws_patch_desc *d, ws_patch_order order) {
    return d && d->n >= 1 && d->c >= 1 && d->p >= 1 && d->h >= d->p && d->w >= d->p && d->h % d->p == 0 &&
           d->w % d->p == 0 && (order == WS_PATCH_CRS || order == WS_PATCH_RSC);
}

/* TODO(cuda issue): under WS_HAVE_CUDA, the CUDA device runs the _cuda twins below. */

ws_status ws_patchify(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *patches,
                      const float *image) {
    if (!ex || !desc_ok(d, order) || !patches || !image) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_patchify_cpu(d, order, ex->threads, patches, image);
    return WS_OK;
}

ws_status ws_unpatchify(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *image,
                        const float *patches) {
    if (!ex || !desc_ok(d, order) || !patches || !image) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    ws_unpatchify_cpu(d, order, ex->threads, image, patches);
    return WS_OK;
}
