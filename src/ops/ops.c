/* ops/ops.c - names and sizes of the shared op types (ops/ops.h). */
#include "ops/ops.h"
#include "ws_config.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

const char *ws_dtype_name(ws_dtype t) {
    switch (t) {
    case WS_FP32: return "fp32";
    case WS_TF32: return "tf32";
    case WS_BF16: return "bf16";
    case WS_FP16: return "fp16";
    default: return "unknown";
    }
}

int ws_dtype_parse(const char *s, ws_dtype *out) {
    static const ws_dtype all[] = {WS_FP32, WS_TF32, WS_BF16, WS_FP16};
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(s, ws_dtype_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    return -1;
}

size_t ws_dtype_size(ws_dtype t) { return (t == WS_BF16 || t == WS_FP16) ? 2 : 4; }

const char *ws_device_name(ws_device d) { return d == WS_DEVICE_CUDA ? "cuda" : "cpu"; }

int wsi_omp_threads(int threads) {
    if (threads > 0) return threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

wsi_backend wsi_exec_run(const ws_exec *ex) {
    if (!ex) return WSI_RUN_NONE;
    if (ex->device == WS_DEVICE_CPU) return ex->precision == WS_FP32 && ex->layout == WS_NCHW ? WSI_RUN_CPU : WSI_RUN_NONE;
#if WS_HAVE_CUDA
    if (ex->device == WS_DEVICE_CUDA && ex->cuda && ex->layout == WS_NHWC) return WSI_RUN_CUDA;
#endif
    return WSI_RUN_NONE;
}

wsi_backend wsi_exec_run_f32(const ws_exec *ex) {
    if (!ex) return WSI_RUN_NONE;
    if (ex->device == WS_DEVICE_CPU) return ex->precision == WS_FP32 ? WSI_RUN_CPU : WSI_RUN_NONE;
    return ws_act_dtype(ex->precision) == WS_FP32 ? wsi_exec_run(ex) : WSI_RUN_NONE;
}
