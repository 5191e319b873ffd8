/* src/ops/bias_add_cuda.cu - the row-broadcast add and its column-sum backward on the GPU.
 * defines: ws_bias_add_forward_cuda, ws_bias_add_backward_cuda
 * reference: src/ops/bias_add_cpu.c; contract: src/ops/bias_add.h
 * Shapes: x, y, dy [ROWS, COUNT]; b, db [COUNT]; fp32.
 * Forward: a grid-stride loop over elements (in place is safe: same index in and out), as
 * float4 where COUNT is a multiple of 4 and the buffers are aligned. Backward: one thread
 * per column adds its ROWS values in row order in double, as the reference: in the AFNO
 * ROWS is the batch (a few samples) and COUNT = tokens x embed (millions of columns), so
 * the columns alone fill the GPU, reads are coalesced across threads, and the sum needs
 * neither atomics nor scratch; the result does not depend on the launch. */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/bias_add.h"
}

__global__ void bias_add_fwd(float *y, const float *x, const float *__restrict__ b, size_t total, size_t count) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        y[i] = x[i] + b[i % count];
}

/* count4 = count / 4, total4 = total / 4: whole float4s of rows that are float4-aligned */
__global__ void bias_add_fwd4(float4 *y, const float4 *x, const float4 *__restrict__ b, size_t total4, size_t count4) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total4; i += (size_t)gridDim.x * blockDim.x) {
        float4 v = x[i], w = b[i % count4];
        v.x += w.x, v.y += w.y, v.z += w.z, v.w += w.w;
        y[i] = v;
    }
}

__global__ void bias_add_bwd(float *__restrict__ db, const float *__restrict__ dy, int rows, size_t count) {
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < count; j += (size_t)gridDim.x * blockDim.x) {
        double s = 0.0;
        for (int r = 0; r < rows; r++) s += dy[(size_t)r * count + j];
        db[j] += (float)s;
    }
}

extern "C" void ws_bias_add_forward_cuda(const ws_exec *ex, int rows, size_t count, float *y, const float *x,
                                         const float *b) {
    ws_cuda_ctx *c = ex->cuda;
    size_t total = (size_t)rows * count;
    if (count % 4 == 0 && wsi_aligned16(y) && wsi_aligned16(x) && wsi_aligned16(b)) {
        bias_add_fwd4<<<wsi_blocks(c, total / 4, 256), 256, 0, c->stream>>>((float4 *)y, (const float4 *)x,
                                                                           (const float4 *)b, total / 4, count / 4);
    } else {
        bias_add_fwd<<<wsi_blocks(c, total, 256), 256, 0, c->stream>>>(y, x, b, total, count);
    }
    WS_CHECK_LAUNCH(c, "bias_add forward");
}

extern "C" void ws_bias_add_backward_cuda(const ws_exec *ex, int rows, size_t count, float *db, const float *dy) {
    ws_cuda_ctx *c = ex->cuda;
    bias_add_bwd<<<wsi_blocks(c, count, 256), 256, 0, c->stream>>>(db, dy, rows, count);
    WS_CHECK_LAUNCH(c, "bias_add backward");
}
