/* ops/mem.c - device memory of an exec: the CPU implementation and the CUDA dispatch.
 * defines: everything in ops/mem.h. The CUDA side is ops/mem_cuda.cu (wsi_mem_*_cuda). */
#include "ops/mem.h"
#include "core/error.h"
#include "ops/cuda_ctx.h"
#include "ws_config.h"

#include <stdlib.h>
#include <string.h>

#if WS_HAVE_CUDA
ws_status wsi_mem_alloc_cuda(ws_cuda_ctx *c, size_t bytes, const char *what, void **out, ws_error *err);
void wsi_mem_free_cuda(ws_cuda_ctx *c, void *p, size_t bytes);
void wsi_mem_zero_cuda(ws_cuda_ctx *c, void *p, size_t bytes);
void wsi_mem_copy_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes);
void wsi_mem_upload_async_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes);
void wsi_mem_upload_async_copy_stream_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes);
void wsi_mem_download_async_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes);
ws_status wsi_mem_upload_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes, ws_error *err);
ws_status wsi_mem_download_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes, ws_error *err);
ws_status wsi_mem_host_alloc_cuda(size_t bytes, const char *what, void **out, ws_error *err);
void wsi_mem_host_free_cuda(void *p);
#define ON_CUDA(ex) ((ex)->device == WS_DEVICE_CUDA && (ex)->cuda)
#else
#define ON_CUDA(ex) 0
#endif

ws_status ws_mem_alloc(const ws_exec *ex, size_t bytes, const char *what, void **out, ws_error *err) {
    *out = NULL;
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) return wsi_mem_alloc_cuda(ex->cuda, bytes, what, out, err);
#endif
    if (ex->device != WS_DEVICE_CPU) return wsi_error(err, WS_ENOTSUP, "%s: no memory on device %s in this build", what, ws_device_name(ex->device));
    size_t rounded = (bytes + 63) / 64 * 64;
    *out = aligned_alloc(64, rounded ? rounded : 64);
    if (!*out) return wsi_error(err, WS_ENOMEM, "out of host memory for %s (%.1f MiB)", what, bytes / 1048576.0);
    return WS_OK;
}

void ws_mem_free(const ws_exec *ex, void *p, size_t bytes) {
    if (!p) return;
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) {
        wsi_mem_free_cuda(ex->cuda, p, bytes);
        return;
    }
#endif
    (void)ex, (void)bytes;
    free(p);
}

void ws_mem_zero(const ws_exec *ex, void *p, size_t bytes) {
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) {
        wsi_mem_zero_cuda(ex->cuda, p, bytes);
        return;
    }
#endif
    (void)ex;
    if (bytes) memset(p, 0, bytes);
}

void ws_mem_copy(const ws_exec *ex, void *dst, const void *src, size_t bytes) {
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) {
        wsi_mem_copy_cuda(ex->cuda, dst, src, bytes);
        return;
    }
#endif
    (void)ex;
    if (bytes && dst != src) memmove(dst, src, bytes);
}

void ws_mem_upload_async(const ws_exec *ex, void *dst, const void *src_host, size_t bytes) {
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) {
        wsi_mem_upload_async_cuda(ex->cuda, dst, src_host, bytes);
        return;
    }
#endif
    (void)ex;
    if (bytes && dst != src_host) memmove(dst, src_host, bytes);
}

void ws_mem_upload_async_copy_stream(const ws_exec *ex, void *dst, const void *src_host, size_t bytes) {
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) {
        wsi_mem_upload_async_copy_stream_cuda(ex->cuda, dst, src_host, bytes);
        return;
    }
#endif
    ws_mem_upload_async(ex, dst, src_host, bytes);
}

void ws_mem_download_async(const ws_exec *ex, void *dst_host, const void *src, size_t bytes) {
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) {
        wsi_mem_download_async_cuda(ex->cuda, dst_host, src, bytes);
        return;
    }
#endif
    (void)ex;
    if (bytes && dst_host != src) memmove(dst_host, src, bytes);
}

ws_status ws_mem_upload(const ws_exec *ex, void *dst, const void *src_host, size_t bytes, ws_error *err) {
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) return wsi_mem_upload_cuda(ex->cuda, dst, src_host, bytes, err);
#endif
    (void)ex, (void)err;
    if (bytes && dst != src_host) memmove(dst, src_host, bytes);
    return WS_OK;
}

ws_status ws_mem_download(const ws_exec *ex, void *dst_host, const void *src, size_t bytes, ws_error *err) {
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) return wsi_mem_download_cuda(ex->cuda, dst_host, src, bytes, err);
#endif
    (void)ex, (void)err;
    if (bytes && dst_host != src) memmove(dst_host, src, bytes);
    return WS_OK;
}

ws_status ws_mem_host_alloc(const ws_exec *ex, size_t bytes, const char *what, void **out, ws_error *err) {
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) return wsi_mem_host_alloc_cuda(bytes, what, out, err);
#endif
    ws_exec cpu = ws_exec_cpu(0);
    (void)ex;
    return ws_mem_alloc(&cpu, bytes, what, out, err);
}

void ws_mem_host_free(const ws_exec *ex, void *p) {
    if (!p) return;
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) {
        wsi_mem_host_free_cuda(p);
        return;
    }
#endif
    (void)ex;
    free(p);
}

ws_status ws_exec_sync(const ws_exec *ex, ws_error *err) {
#if WS_HAVE_CUDA
    if (ON_CUDA(ex)) return ws_cuda_sync(ex->cuda, err);
#endif
    (void)ex, (void)err;
    return WS_OK;
}
