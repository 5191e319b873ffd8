/* ops/convert.c - tensor conversions' backend choice and the CPU (identity) side.
 * defines: ws_tensor_upload, ws_tensor_download, ws_convert_input, ws_convert_input_u8,
 *          ws_cast. CUDA twin: ops/convert_cuda.cu; contract: ops/convert.h. */
#include "ops/convert.h"
#include "core/error.h"

#include "ws_config.h"

#include <string.h>

static int shape_ok(int n, int c, int h, int w) { return n >= 1 && c >= 1 && h >= 1 && w >= 1; }
static size_t count_of(int n, int c, int h, int w) { return (size_t)n * c * h * w; }

ws_status ws_tensor_upload(const ws_exec *ex, void *dst, const float *src_nchw, int n, int c, int h, int w,
                           ws_error *err) {
    if (!ex || !dst || !src_nchw || !shape_ok(n, c, h, w)) return wsi_error(err, WS_EINVAL, "ws_tensor_upload: bad arguments");
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: memcpy(dst, src_nchw, count_of(n, c, h, w) * sizeof(float)); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: return ws_tensor_upload_cuda(ex, dst, src_nchw, n, c, h, w, err);
#endif
    default: return wsi_error(err, WS_ENOTSUP, "ws_tensor_upload: %s %s not supported", ws_device_name(ex->device), ws_dtype_name(ex->precision));
    }
}

ws_status ws_tensor_download(const ws_exec *ex, float *dst_nchw, const void *src, int n, int c, int h, int w,
                             ws_error *err) {
    if (!ex || !dst_nchw || !src || !shape_ok(n, c, h, w)) return wsi_error(err, WS_EINVAL, "ws_tensor_download: bad arguments");
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: memcpy(dst_nchw, src, count_of(n, c, h, w) * sizeof(float)); return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: return ws_tensor_download_cuda(ex, dst_nchw, src, n, c, h, w, err);
#endif
    default: return wsi_error(err, WS_ENOTSUP, "ws_tensor_download: %s %s not supported", ws_device_name(ex->device), ws_dtype_name(ex->precision));
    }
}

ws_status ws_convert_input(const ws_exec *ex, void *dst, const float *src_nchw, int n, int c, int h, int w) {
    if (!ex || !dst || !src_nchw || !shape_ok(n, c, h, w)) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU:
        if (dst != src_nchw) memcpy(dst, src_nchw, count_of(n, c, h, w) * sizeof(float));
        return WS_OK;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_convert_input_cuda(ex, dst, src_nchw, n, c, h, w); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_convert_input_u8(const ws_exec *ex, void *dst, const uint8_t *src_nhwc, int n, int c, int h, int w,
                              const float *mean, const float *std) {
    if (!ex || !dst || !src_nhwc || !mean || !std || !shape_ok(n, c, h, w) || c > 8) return WS_EINVAL;
    switch (wsi_exec_run(ex)) {
    case WSI_RUN_CPU: {
        float *y = dst;
        size_t hw = (size_t)h * w;
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (size_t p = 0; p < hw; p++)
                    y[((size_t)i * c + ch) * hw + p] =
                        ((float)src_nhwc[((size_t)i * hw + p) * c + ch] / 255.0f - mean[ch]) / std[ch];
        return WS_OK;
    }
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_convert_input_u8_cuda(ex, dst, src_nhwc, n, c, h, w, mean, std); return WS_OK;
#endif
    default: return WS_ENOTSUP;
    }
}

ws_status ws_cast(const ws_exec *ex, void *dst, ws_dtype dst_t, const void *src, ws_dtype src_t, size_t count) {
    if (!ex || (count && (!dst || !src))) return WS_EINVAL;
    if (ex->device == WS_DEVICE_CPU) {
        if (ws_act_dtype(dst_t) != WS_FP32 || ws_act_dtype(src_t) != WS_FP32) return WS_ENOTSUP;
        if (count && dst != src) memmove(dst, src, count * sizeof(float));
        return WS_OK;
    }
#if WS_HAVE_CUDA
    if (wsi_exec_run(ex) == WSI_RUN_CUDA) {
        ws_cast_cuda(ex, dst, dst_t, src, src_t, count);
        return WS_OK;
    }
#endif
    return WS_ENOTSUP;
}
