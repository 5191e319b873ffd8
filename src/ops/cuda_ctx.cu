/* ops/cuda_ctx.cu - the CUDA context: device, streams, handles, workspace, graphs, events.
 * defines: everything in ops/cuda_ctx.h, and wsi_check_launch, wsi_cuda_malloc,
 *          wsi_cuda_free (ops/cuda_common.cuh).
 * stub for builds without CUDA: ops/cuda_stub.c. */
#include "ops/cuda_common.cuh"

#include <cuda_profiler_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cuBLAS's recommended workspace on Hopper is 32 MiB; given explicitly so that a capture
 * never makes it allocate. */
#define CUBLAS_WS_BYTES ((size_t)32 << 20)

extern "C" int ws_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* no driver: not an error for the caller, just no GPU */
        return 0;
    }
    return n;
}

ws_status wsi_cuda_malloc(ws_cuda_ctx *c, void **out, size_t bytes, const char *what, ws_error *err) {
    *out = NULL;
    if (bytes == 0) bytes = 16;
    cudaError_t e = cudaMalloc(out, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        *out = NULL;
        return wsi_error(err, e == cudaErrorMemoryAllocation ? WS_ENOMEM : WS_ELIBRARY,
                         "cudaMalloc(%.1f MiB for %s) on GPU %d: %s; %.1f of %.1f GiB free (try a smaller "
                         "--local-batch)",
                         bytes / 1048576.0, what, c ? c->device : -1, cudaGetErrorString(e), free_b / 1073741824.0,
                         total_b / 1073741824.0);
    }
    if (c) {
        c->current_bytes += bytes;
        if (c->current_bytes > c->peak_bytes) c->peak_bytes = c->current_bytes;
    }
    return WS_OK;
}

void wsi_cuda_free(ws_cuda_ctx *c, void *p, size_t bytes) {
    if (!p) return;
    if (bytes == 0) bytes = 16;
    cudaFree(p);
    if (c && c->current_bytes >= bytes) c->current_bytes -= bytes;
}

void wsi_check_launch(const ws_cuda_ctx *c, const char *what, const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) wsi_fatal(file, line, "launch of %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    static int sync_check = -1;
    if (sync_check < 0) {
        const char *v = getenv("WATTSCALE_SYNC_CHECK");
        sync_check = v && *v == '1';
    }
    if (sync_check && !c->capturing) {
        e = cudaStreamSynchronize(c->stream);
        if (e != cudaSuccess) wsi_fatal(file, line, "%s (synchronous check): %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    }
}

static void format_uuid(const cudaUUID_t *u, char *out, size_t size) {
    const unsigned char *b = (const unsigned char *)u->bytes;
    snprintf(out, size, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

extern "C" ws_status ws_cuda_ctx_open(ws_cuda_ctx **out, int device, ws_dtype precision, int deterministic,
                                      ws_error *err) {
    *out = NULL;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        return wsi_error(err, WS_ENOTSUP, "--device cuda: no usable GPU (%s); use --device cpu",
                         e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device visible");
    }
    if (device < 0 || device >= n)
        return wsi_error(err, WS_EINVAL, "GPU %d requested, %d visible (check CUDA_VISIBLE_DEVICES and the local rank)",
                         device, n);
    /* Blocking sync: a host waiting for a step sleeps instead of spinning a core (whose
     * energy the meter would count). Fails harmlessly when the context already exists. */
    e = cudaInitDevice(device, cudaDeviceScheduleBlockingSync, 0);
    if (e != cudaSuccess) cudaGetLastError();
    if ((e = cudaSetDevice(device)) != cudaSuccess) return wsi_cuda_status(err, e, "cudaSetDevice");
    ws_cuda_ctx *c = (ws_cuda_ctx *)calloc(1, sizeof *c);
    if (!c) return wsi_error(err, WS_ENOMEM, "CUDA context: out of memory");
    c->device = device;
    c->precision = precision;
    c->deterministic = deterministic;
    ws_status st = wsi_conv_env_read(c, err);
    if (st != WS_OK) goto fail;
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess) {
        st = wsi_cuda_status(err, e, "cudaGetDeviceProperties");
        goto fail;
    }
    snprintf(c->name, sizeof c->name, "%s", prop.name);
    format_uuid(&prop.uuid, c->uuid, sizeof c->uuid);
    c->total_bytes = prop.totalGlobalMem;
    c->sm_count = prop.multiProcessorCount;
    if (prop.major < 7) {
        st = wsi_error(err, WS_ENOTSUP, "GPU %d (%s) has compute capability %d.%d; wattscale needs 7.0 or newer", device,
                       prop.name, prop.major, prop.minor);
        goto fail;
    }
    if ((precision == WS_BF16 || precision == WS_TF32) && prop.major < 8) {
        st = wsi_error(err, WS_ENOTSUP, "--precision %s needs compute capability 8.0 or newer (%s is %d.%d)",
                       ws_dtype_name(precision), prop.name, prop.major, prop.minor);
        goto fail;
    }
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaStreamCreateWithFlags(&c->copy_stream, cudaStreamNonBlocking)) != cudaSuccess) {
        st = wsi_cuda_status(err, e, "cudaStreamCreate");
        goto fail;
    }
#if WS_HAVE_CUDNN
    {
        cudnnStatus_t s = cudnnCreate(&c->cudnn);
        if (s != CUDNN_STATUS_SUCCESS) {
            st = wsi_error(err, WS_ELIBRARY, "cudnnCreate: %s (is libcudnn.so.9 installed for this driver?)",
                           cudnnGetErrorString(s));
            goto fail;
        }
        cudnnSetStream(c->cudnn, c->stream);
    }
#endif
    {
        cublasStatus_t s = cublasCreate(&c->cublas);
        if (s != CUBLAS_STATUS_SUCCESS) {
            st = wsi_error(err, WS_ELIBRARY, "cublasCreate: %s", wsi_cublas_string(s));
            goto fail;
        }
        cublasSetStream(c->cublas, c->stream);
        /* fp32 must not silently use TF32: pedantic math keeps cuBLAS on FMA kernels */
        cublasSetMathMode(c->cublas, precision == WS_FP32 ? CUBLAS_PEDANTIC_MATH
                                     : precision == WS_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                            : CUBLAS_DEFAULT_MATH);
        if ((st = wsi_cuda_malloc(c, &c->cublas_ws, CUBLAS_WS_BYTES, "cuBLAS workspace", err)) != WS_OK) goto fail;
        cublasSetWorkspace(c->cublas, c->cublas_ws, CUBLAS_WS_BYTES);
    }
    if ((st = wsi_cuda_malloc(c, &c->small, WSI_CUDA_SMALL_SCRATCH_BYTES, "op scratch", err)) != WS_OK) goto fail;
    {
        int rt = 0, drv = 0, cb = 0;
        cudaRuntimeGetVersion(&rt);
        cudaDriverGetVersion(&drv);
        cublasGetVersion(c->cublas, &cb);
        long dnn = 0;
#if WS_HAVE_CUDNN
        dnn = (long)cudnnGetVersion();
#endif
        snprintf(c->versions, sizeof c->versions, "cuda %d.%d driver %d.%d cudnn %ld cublas %d cc %d.%d", rt / 1000,
                 (rt % 1000) / 10, drv / 1000, (drv % 1000) / 10, dnn, cb, prop.major, prop.minor);
    }
    *out = c;
    return WS_OK;
fail:
    ws_cuda_ctx_close(c);
    return st;
}

extern "C" void ws_cuda_ctx_close(ws_cuda_ctx *c) {
    if (!c) return;
    cudaSetDevice(c->device);
    if (c->stream) cudaStreamSynchronize(c->stream);
    wsi_conv_plans_free(c);
    wsi_cuda_free(c, c->workspace, c->workspace_bytes);
    wsi_cuda_free(c, c->small, WSI_CUDA_SMALL_SCRATCH_BYTES);
    if (c->cublas) cublasDestroy(c->cublas);
    wsi_cuda_free(c, c->cublas_ws, CUBLAS_WS_BYTES);
#if WS_HAVE_CUDNN
    if (c->cudnn) cudnnDestroy(c->cudnn);
#endif
    if (c->copy_stream) cudaStreamDestroy(c->copy_stream);
    if (c->stream) cudaStreamDestroy(c->stream);
    cudaGetLastError();
    free(c);
}

extern "C" ws_status ws_cuda_ctx_reserve(ws_cuda_ctx *c, size_t bytes, ws_error *err) {
    if (bytes <= c->workspace_bytes) return WS_OK;
    if (c->capturing) return wsi_error(err, WS_ESTATE, "workspace growth to %zu bytes during graph capture", bytes);
    bytes = (bytes + 255) & ~(size_t)255;
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) return wsi_cuda_status(err, e, "cudaStreamSynchronize (before growing the workspace)");
    wsi_cuda_free(c, c->workspace, c->workspace_bytes);
    c->workspace = NULL;
    c->workspace_bytes = 0;
    ws_status st = wsi_cuda_malloc(c, &c->workspace, bytes, "op workspace", err);
    if (st == WS_OK) c->workspace_bytes = bytes;
    return st;
}

extern "C" size_t ws_cuda_ctx_workspace_bytes(const ws_cuda_ctx *c) { return c ? c->workspace_bytes : 0; }

extern "C" ws_exec ws_cuda_exec(ws_cuda_ctx *c) {
    ws_exec e;
    e.device = WS_DEVICE_CUDA;
    e.precision = c->precision;
    e.threads = 0;
    e.cuda = c;
    e.layout = WS_NHWC;
    return e;
}

extern "C" const char *ws_cuda_device_name(const ws_cuda_ctx *c) { return c->name; }
extern "C" const char *ws_cuda_device_uuid(const ws_cuda_ctx *c) { return c->uuid; }
extern "C" int ws_cuda_device_index(const ws_cuda_ctx *c) { return c->device; }
extern "C" size_t ws_cuda_total_bytes(const ws_cuda_ctx *c) { return c->total_bytes; }
extern "C" const char *ws_cuda_versions(const ws_cuda_ctx *c) { return c->versions; }
extern "C" size_t ws_cuda_peak_bytes(const ws_cuda_ctx *c) { return c->peak_bytes; }
extern "C" size_t ws_cuda_current_bytes(const ws_cuda_ctx *c) { return c->current_bytes; }
extern "C" void *ws_cuda_stream(const ws_cuda_ctx *c) { return (void *)c->stream; }
extern "C" void *ws_cuda_copy_stream(const ws_cuda_ctx *c) { return (void *)c->copy_stream; }

extern "C" ws_status ws_cuda_sync(ws_cuda_ctx *c, ws_error *err) {
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e != cudaSuccess) return wsi_cuda_status(err, e, "GPU work (an earlier kernel failed; WATTSCALE_SYNC_CHECK=1 names it)");
    return WS_OK;
}

/* A profiler call that fails (no profiler attached is not a failure) only costs the range:
 * warn, never fail the run. */
extern "C" void ws_cuda_profiler_start(ws_cuda_ctx *c) {
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess) e = cudaProfilerStart();
    if (e != cudaSuccess) ws_log(WS_LOG_WARN, "cudaProfilerStart: %s", cudaGetErrorString(e));
}

extern "C" void ws_cuda_profiler_stop(ws_cuda_ctx *c) {
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess) e = cudaProfilerStop();
    if (e != cudaSuccess) ws_log(WS_LOG_WARN, "cudaProfilerStop: %s", cudaGetErrorString(e));
}

/* ---- graphs ---- */

struct ws_cuda_graph {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
};

extern "C" ws_status ws_cuda_graph_begin(ws_cuda_ctx *c, ws_error *err) {
    if (c->capturing) return wsi_error(err, WS_ESTATE, "a CUDA graph capture is already running");
    /* thread-local: the meter and loader threads may call CUDA meanwhile */
    cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) return wsi_cuda_status(err, e, "cudaStreamBeginCapture");
    c->capturing = 1;
    return WS_OK;
}

extern "C" ws_status ws_cuda_graph_end(ws_cuda_ctx *c, ws_cuda_graph **out, ws_error *err) {
    *out = NULL;
    if (!c->capturing) return wsi_error(err, WS_ESTATE, "no CUDA graph capture to end");
    c->capturing = 0;
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    if (e != cudaSuccess || !g) {
        cudaGetLastError();
        if (g) cudaGraphDestroy(g);
        return wsi_error(err, WS_ENOTSUP, "CUDA graph capture failed: %s", cudaGetErrorString(e));
    }
    ws_cuda_graph *wg = (ws_cuda_graph *)calloc(1, sizeof *wg);
    if (!wg) {
        cudaGraphDestroy(g);
        return wsi_error(err, WS_ENOMEM, "CUDA graph: out of memory");
    }
    wg->graph = g;
    e = cudaGraphInstantiate(&wg->exec, g, 0);
    if (e != cudaSuccess) {
        cudaGetLastError();
        cudaGraphDestroy(g);
        free(wg);
        return wsi_error(err, WS_ENOTSUP, "cudaGraphInstantiate: %s", cudaGetErrorString(e));
    }
    e = cudaGraphUpload(wg->exec, c->stream);
    if (e != cudaSuccess) cudaGetLastError(); /* an optimisation only */
    *out = wg;
    return WS_OK;
}

extern "C" ws_status ws_cuda_graph_launch(ws_cuda_ctx *c, ws_cuda_graph *g, ws_error *err) {
    cudaError_t e = cudaGraphLaunch(g->exec, c->stream);
    if (e != cudaSuccess) return wsi_cuda_status(err, e, "cudaGraphLaunch");
    return WS_OK;
}

extern "C" void ws_cuda_graph_free(ws_cuda_graph *g) {
    if (!g) return;
    if (g->exec) cudaGraphExecDestroy(g->exec);
    if (g->graph) cudaGraphDestroy(g->graph);
    free(g);
}

extern "C" int ws_cuda_capturing(const ws_cuda_ctx *c) { return c && c->capturing; }

/* ---- events ---- */

struct ws_cuda_event {
    cudaEvent_t e;
};

extern "C" ws_status ws_cuda_event_create(ws_cuda_event **out, ws_error *err) {
    *out = (ws_cuda_event *)calloc(1, sizeof **out);
    if (!*out) return wsi_error(err, WS_ENOMEM, "CUDA event: out of memory");
    cudaError_t e = cudaEventCreateWithFlags(&(*out)->e, cudaEventBlockingSync);
    if (e != cudaSuccess) {
        free(*out);
        *out = NULL;
        return wsi_cuda_status(err, e, "cudaEventCreate");
    }
    return WS_OK;
}

extern "C" void ws_cuda_event_free(ws_cuda_event *e) {
    if (!e) return;
    cudaEventDestroy(e->e);
    free(e);
}

extern "C" void ws_cuda_event_record(ws_cuda_ctx *c, ws_cuda_event *e) { WS_CHECK_CUDA(cudaEventRecord(e->e, c->stream)); }
extern "C" void ws_cuda_event_record_copy(ws_cuda_ctx *c, ws_cuda_event *e) {
    WS_CHECK_CUDA(cudaEventRecord(e->e, c->copy_stream));
}
extern "C" void ws_cuda_wait_event(ws_cuda_ctx *c, ws_cuda_event *e) { WS_CHECK_CUDA(cudaStreamWaitEvent(c->stream, e->e, 0)); }
extern "C" void ws_cuda_copy_wait_event(ws_cuda_ctx *c, ws_cuda_event *e) {
    WS_CHECK_CUDA(cudaStreamWaitEvent(c->copy_stream, e->e, 0));
}
extern "C" int ws_cuda_event_done(ws_cuda_event *e) {
    cudaError_t r = cudaEventQuery(e->e);
    if (r == cudaErrorNotReady) return 0;
    WS_CHECK_CUDA(r); /* any other answer is an earlier kernel's failure: fatal, as in a step */
    return 1;
}
extern "C" void ws_cuda_event_sync(ws_cuda_event *e) { WS_CHECK_CUDA(cudaEventSynchronize(e->e)); }
extern "C" double ws_cuda_event_elapsed_s(ws_cuda_event *from, ws_cuda_event *to) {
    float ms = 0;
    cudaError_t e = cudaEventElapsedTime(&ms, from->e, to->e);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return ms / 1000.0;
}
