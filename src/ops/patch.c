/* src/ops/patch.c - patchify/unpatchify's backend choice.
 * defines: ws_patchify, ws_unpatchify
 * backends: src/ops/patch_cpu.c (reference), src/ops/patch_cuda.cu; contract:
 * src/ops/patch.h. A bad descriptor (non-positive sizes, H or W not a multiple of P), an
 * unknown order or NULL buffers are WS_EINVAL whatever the device; the CPU (fp32) runs the
 * reference, a CUDA exec (fp32 or tf32) the twin; anything else is WS_ENOTSUP. */
#include "ops/patch.h"
#include "ws_config.h"

static int desc_ok(const ws_patch_desc *d, ws_patch_order order) {
    return d && d->n >= 1 && d->c >= 1 && d->p >= 1 && d->h >= d->p && d->w >= d->p && d->h % d->p == 0 &&
           d->w % d->p == 0 && (order == WS_PATCH_CRS || order == WS_PATCH_RSC);
}

ws_status ws_patchify(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *patches,
                      const float *image) {
    if (!ex || !desc_ok(d, order) || !patches || !image) return WS_EINVAL;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU: ws_patchify_cpu(d, order, ex->threads, patches, image); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_patchify_cuda(ex, d, order, patches, image); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_unpatchify(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *image,
                        const float *patches) {
    if (!ex || !desc_ok(d, order) || !patches || !image) return WS_EINVAL;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU: ws_unpatchify_cpu(d, order, ex->threads, image, patches); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_unpatchify_cuda(ex, d, order, image, patches); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
