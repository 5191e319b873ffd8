/* ops/amp.c - loss scaling's backend choice and its CPU reference (plain loops).
 * defines: ws_amp_scale, ws_amp_unscale_check. twin: ops/amp_cuda.cu; contract: ops/amp.h.
 * The CPU trains in fp32 only, but the reference is what the CUDA twin is tested against. */
#include "ops/amp.h"
#include "ws_config.h"

#include <math.h>

ws_status ws_amp_scale(const ws_exec *ex, void *x, size_t n, const float *scale) {
    if (!ex || (n && !x) || !scale) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: {
        float *v = x, s = *scale;
        for (size_t i = 0; i < n; i++) v[i] *= s;
        return WS_OK;
    }
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_amp_scale_cuda(ex, x, n, scale); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_amp_unscale_check(const ws_exec *ex, float *g, size_t n, const float *scale, int *found_inf) {
    if (!ex || (n && !g) || !scale || !found_inf) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: {
        float inv = 1.0f / *scale;
        for (size_t i = 0; i < n; i++) {
            g[i] *= inv;
            if (!isfinite(g[i])) *found_inf = 1;
        }
        return WS_OK;
    }
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_amp_unscale_check_cuda(ex, g, n, scale, found_inf); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}
