/* data/synthetic_device.cu - synthetic samples on the GPU (contract: data/synthetic_device.h).
 * defines: ws_synthetic_fill_device. One thread per output element, NHWC order (coalesced
 * writes); each thread draws its own Philox block (4 x 32 bits -> 2 Box-Muller pairs, one
 * value used), so no state is carried between elements or launches. */
#include "ops/cuda_common.cuh"

#include <curand_philox4x32_x.h>

extern "C" {
#include "data/synthetic_device.h"
}

/* murmur3's finaliser: a cheap well-mixed hash for the pattern bits */
__device__ __forceinline__ uint32_t mix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

template <typename T>
__global__ void synth(T *__restrict__ x, const int64_t *__restrict__ idx, const int32_t *__restrict__ labels, int n,
                      int c, int h, int w, uint64_t seed, int split, float signal, int nhwc) {
    size_t total = (size_t)n * c * h * w, chw = (size_t)c * h * w, hw = (size_t)h * w;
    const uint2 key = make_uint2((uint32_t)seed, (uint32_t)(seed >> 32) ^ (uint32_t)split * 0x9e3779b9u);
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        size_t i = o / chw, rem = o % chw, e; /* e: the CHW element */
        if (nhwc) {
            size_t ch = rem % c, pix = rem / c;
            e = ch * hw + pix;
        } else {
            e = rem;
        }
        uint64_t sample = (uint64_t)idx[i];
        uint4 ctr = make_uint4((uint32_t)e, (uint32_t)(e >> 32), (uint32_t)sample, (uint32_t)(sample >> 32));
        uint4 r = curand_Philox4x32_10(ctr, key);
        /* Box-Muller on two 32-bit uniforms in (0, 1] */
        float u1 = ((float)r.x + 1.0f) * 2.3283064e-10f, u2 = (float)r.y * 2.3283064e-10f;
        float z = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
        int32_t label = labels[i];
        uint32_t bit = mix32((uint32_t)e ^ mix32((uint32_t)label * 0x27d4eb2du ^ (uint32_t)seed ^ 0x7061747u));
        z += (bit & 1u) ? signal : -signal;
        x[o] = wsi_from_f<T>(z);
    }
}

extern "C" ws_status ws_synthetic_fill_device(const ws_exec *ex, void *x, const int64_t *indices,
                                              const int32_t *labels, int n, int c, int h, int w, uint64_t seed,
                                              int split, float signal) {
    if (!ex || !x || !indices || !labels || n < 1 || c < 1 || h < 1 || w < 1) return WS_EINVAL;
    if (wsi_exec_run(ex) != WSI_RUN_CUDA) return WS_ENOTSUP;
    ws_cuda_ctx *ctx = ex->cuda;
    size_t total = (size_t)n * c * h * w;
    int nhwc = ex->layout == WS_NHWC;
    WS_DISPATCH_ACT(ex->precision, T,
                    synth<T><<<wsi_blocks(ctx, total, 256), 256, 0, ctx->stream>>>((T *)x, indices, labels, n, c, h, w,
                                                                                  seed, split, signal, nhwc));
    WS_CHECK_LAUNCH(ctx, "synthetic samples");
    return WS_OK;
}
