/* ops/colsum.cuh - deterministic column sums of a [ROWS, COLS] quantity on the GPU, without
 * atomics (internal; .cu only): the parameter gradients of layer norm (dgamma, dbeta) and
 * of the AFNO filter's biases.
 * defines: wsi_colsum (host launcher), its two kernels and WSI_COLSUM_ROWS.
 *
 * Two passes. Pass 1: a grid of (column tiles of 32) x (row chunks); block (32,
 * WSI_COLSUM_ROWS), thread (tx, ty) adds rows ty, ty + WSI_COLSUM_ROWS, ... of its chunk
 * for column tile*32 + tx (coalesced: a warp reads 32 neighbouring columns of one row),
 * the block folds its WSI_COLSUM_ROWS partial sums in ty order and writes one partial per
 * chunk and column to the context's small scratch. Pass 2: one thread per column adds the
 * chunks' partials in chunk order and hands the total to the caller's functor (which adds
 * it, +=, to the fp32 gradient). The partition depends only on ROWS, COLS and the GPU's SM
 * count, so results are bitwise reproducible on a GPU. Sums are in double, as the CPU
 * references', so the twins differ only by the order of additions.
 *
 * F: __device__ void operator()(int r, int j, double acc[NV]) adds row r's NV values of
 *    column j to acc. G: __device__ void operator()(int j, int v, double sum).
 * The small scratch (WSI_CUDA_SMALL_SCRATCH_BYTES) bounds COLS to 2^22 / NV; callers with
 * more columns (bias_add's [N, L*E]) sum another way. */
#ifndef WS_OPS_COLSUM_CUH
#define WS_OPS_COLSUM_CUH

#include "ops/cuda_common.cuh"

#define WSI_COLSUM_ROWS 8

template <int NV, typename F>
__global__ void wsi_colsum_partials(double *__restrict__ part, int rows, int cols, int rows_per_chunk, F f) {
    __shared__ double sh[NV][WSI_COLSUM_ROWS][32];
    const int tx = threadIdx.x, ty = threadIdx.y, j = blockIdx.x * 32 + tx;
    const int r0 = blockIdx.y * rows_per_chunk, r1 = min(rows, r0 + rows_per_chunk);
    double acc[NV];
    for (int v = 0; v < NV; v++) acc[v] = 0.0;
    if (j < cols)
        for (int r = r0 + ty; r < r1; r += WSI_COLSUM_ROWS) f(r, j, acc);
    for (int v = 0; v < NV; v++) sh[v][ty][tx] = acc[v];
    __syncthreads();
    if (ty == 0 && j < cols)
        for (int v = 0; v < NV; v++) {
            double s = 0.0;
            for (int y = 0; y < WSI_COLSUM_ROWS; y++) s += sh[v][y][tx];
            part[((size_t)blockIdx.y * NV + v) * cols + j] = s;
        }
}

template <int NV, typename G>
__global__ void wsi_colsum_finish(const double *__restrict__ part, int chunks, int cols, G g) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    for (int v = 0; v < NV; v++) {
        double s = 0.0;
        for (int k = 0; k < chunks; k++) s += part[((size_t)k * NV + v) * cols + j];
        g(j, v, s);
    }
}

/* Enqueues both passes on the compute stream. About 8 blocks per SM in pass 1, at least 64
 * rows per chunk, as many chunks as the small scratch holds. */
template <int NV, typename F, typename G>
static void wsi_colsum(ws_cuda_ctx *c, int rows, int cols, F f, G g, const char *what) {
    if (rows < 1 || cols < 1) return;
    const long tiles = (cols + 31) / 32, sms = c->sm_count > 0 ? c->sm_count : 132;
    const long by_scratch = (long)(WSI_CUDA_SMALL_SCRATCH_BYTES / ((size_t)NV * cols * sizeof(double)));
    if (by_scratch < 1) ws_fatal("%s: %d columns exceed the column-sum scratch", what, cols);
    long chunks = (sms * 8 + tiles - 1) / tiles, by_rows = (rows + 63) / 64;
    if (chunks > by_rows) chunks = by_rows;
    if (chunks > by_scratch) chunks = by_scratch;
    if (chunks > 65535) chunks = 65535;
    if (chunks < 1) chunks = 1;
    const int per_chunk = (int)((rows + chunks - 1) / chunks);
    const int used = (rows + per_chunk - 1) / per_chunk;
    double *part = (double *)c->small;
    wsi_colsum_partials<NV, F><<<dim3((unsigned)tiles, (unsigned)used), dim3(32, WSI_COLSUM_ROWS), 0, c->stream>>>(
        part, rows, cols, per_chunk, f);
    WS_CHECK_LAUNCH(c, what);
    wsi_colsum_finish<NV, G><<<(unsigned)((cols + 255) / 256), 256, 0, c->stream>>>(part, used, cols, g);
    WS_CHECK_LAUNCH(c, what);
}

#endif
