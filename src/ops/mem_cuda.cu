/* ops/mem_cuda.cu - device memory of a CUDA exec (the CUDA half of ops/mem.h).
 * defines: wsi_mem_*_cuda, called by ops/mem.c only. */
#include "ops/cuda_common.cuh"

extern "C" ws_status wsi_mem_alloc_cuda(ws_cuda_ctx *c, size_t bytes, const char *what, void **out, ws_error *err) {
    cudaSetDevice(c->device);
    return wsi_cuda_malloc(c, out, bytes, what, err);
}

extern "C" void wsi_mem_free_cuda(ws_cuda_ctx *c, void *p, size_t bytes) { wsi_cuda_free(c, p, bytes); }

extern "C" void wsi_mem_zero_cuda(ws_cuda_ctx *c, void *p, size_t bytes) {
    if (bytes) WS_CHECK_CUDA(cudaMemsetAsync(p, 0, bytes, c->stream));
}

extern "C" void wsi_mem_copy_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes) {
    if (bytes && dst != src) WS_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
}

extern "C" void wsi_mem_upload_async_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes) {
    if (bytes) WS_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
}

extern "C" void wsi_mem_upload_async_copy_stream_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes) {
    if (bytes) WS_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->copy_stream));
}

extern "C" void wsi_mem_download_async_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes) {
    if (bytes) WS_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
}

extern "C" ws_status wsi_mem_upload_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes, ws_error *err) {
    if (!bytes) return WS_OK;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) return wsi_cuda_status(err, e, "upload to the GPU (cudaMemcpy)");
    return WS_OK;
}

extern "C" ws_status wsi_mem_download_cuda(ws_cuda_ctx *c, void *dst, const void *src, size_t bytes, ws_error *err) {
    if (!bytes) return WS_OK;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) return wsi_cuda_status(err, e, "download from the GPU (cudaMemcpy)");
    return WS_OK;
}

extern "C" ws_status wsi_mem_host_alloc_cuda(size_t bytes, const char *what, void **out, ws_error *err) {
    *out = NULL;
    cudaError_t e = cudaMallocHost(out, bytes ? bytes : 16);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *out = NULL;
        return wsi_error(err, WS_ENOMEM, "cudaMallocHost(%.1f MiB for %s): %s", bytes / 1048576.0, what,
                         cudaGetErrorString(e));
    }
    return WS_OK;
}

extern "C" void wsi_mem_host_free_cuda(void *p) {
    if (p) cudaFreeHost(p);
}
