/* src/ops/patch_cuda.cu - patchify and unpatchify (index permutations) on the GPU.
 * defines: ws_patchify_cuda, ws_unpatchify_cuda
 * reference: src/ops/patch_cpu.c; contract and layouts: src/ops/patch.h
 * Shapes: image [N, C, H, W] (NCHW on every device: the contract's, not ex->layout);
 * patches [N, GH*GW, C*P*P] in the order named.
 * For one image row (n, y) the permutation maps the [C][W] plane of that row to patch
 * positions: pixel (c, x) lands at patch (y/P, x/P), inside it at (c, y%P, x%P). In
 * WS_PATCH_RSC order the channel varies fastest in the patches, in the image the column:
 * a transpose, done per 32 x 32 tile of (c, x) through shared memory (padded to 33 to
 * avoid bank conflicts), so reads and writes are both coalesced. In WS_PATCH_CRS order the
 * column is fastest on both sides (runs of P floats in the patches), so the tile is read
 * and written with the same thread mapping. One block per (image row, column tile, channel
 * tile); each element is written once: outputs are overwritten, inputs only read. */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/patch.h"
}

#define TILE 32
#define TILE_ROWS 8

typedef struct {
    int c, h, w, p, gh, gw;
} geom;

/* index in the patches of pixel (n, c, y, x) */
template <int ORDER> __device__ __forceinline__ size_t patch_index(const geom &g, int n, int c, int y, int x) {
    const int gh = y / g.p, r = y % g.p, gw = x / g.p, s = x % g.p;
    const size_t per_patch = (size_t)g.c * g.p * g.p;
    const size_t within = ORDER == WS_PATCH_CRS ? ((size_t)c * g.p + r) * g.p + s : ((size_t)r * g.p + s) * g.c + c;
    return ((size_t)n * g.gh * g.gw + (size_t)gh * g.gw + gw) * per_patch + within;
}

template <bool TO_PATCHES, int ORDER>
__global__ void patch_permute(float *__restrict__ patches, float *__restrict__ image, geom g) {
    __shared__ float tile[TILE][TILE + 1]; /* [c - c0][x - x0] */
    const int n = blockIdx.x / g.h, y = blockIdx.x % g.h;
    const int x0 = blockIdx.y * TILE, c0 = blockIdx.z * TILE, tx = threadIdx.x, ty = threadIdx.y;
    const float *img_row = image + ((size_t)n * g.c * g.h + y) * g.w; /* + c * H * W + x */
    const size_t plane = (size_t)g.h * g.w;
    /* load: image along x; patches along c (RSC) or x (CRS) */
    for (int k = ty; k < TILE; k += TILE_ROWS) {
        if (TO_PATCHES) {
            const int c = c0 + k, x = x0 + tx;
            if (c < g.c && x < g.w) tile[k][tx] = img_row[c * plane + x];
        } else if (ORDER == WS_PATCH_RSC) {
            const int c = c0 + tx, x = x0 + k;
            if (c < g.c && x < g.w) tile[tx][k] = patches[patch_index<ORDER>(g, n, c, y, x)];
        } else {
            const int c = c0 + k, x = x0 + tx;
            if (c < g.c && x < g.w) tile[k][tx] = patches[patch_index<ORDER>(g, n, c, y, x)];
        }
    }
    __syncthreads();
    for (int k = ty; k < TILE; k += TILE_ROWS) {
        if (!TO_PATCHES) {
            const int c = c0 + k, x = x0 + tx;
            if (c < g.c && x < g.w) image[((size_t)n * g.c + c) * plane + (size_t)y * g.w + x] = tile[k][tx];
        } else if (ORDER == WS_PATCH_RSC) {
            const int c = c0 + tx, x = x0 + k;
            if (c < g.c && x < g.w) patches[patch_index<ORDER>(g, n, c, y, x)] = tile[tx][k];
        } else {
            const int c = c0 + k, x = x0 + tx;
            if (c < g.c && x < g.w) patches[patch_index<ORDER>(g, n, c, y, x)] = tile[k][tx];
        }
    }
}

static void launch(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *patches, float *image,
                   bool to_patches) {
    ws_cuda_ctx *c = ex->cuda;
    geom g = {d->c, d->h, d->w, d->p, d->h / d->p, d->w / d->p};
    dim3 grid((unsigned)((size_t)d->n * d->h), (unsigned)((d->w + TILE - 1) / TILE),
              (unsigned)((d->c + TILE - 1) / TILE));
    dim3 block(TILE, TILE_ROWS);
    if (grid.y > 65535 || grid.z > 65535 || (size_t)d->n * d->h > 0x7fffffffu)
        ws_fatal("patch %dx%dx%dx%d: grid too large for one launch", d->n, d->c, d->h, d->w);
    if (to_patches && order == WS_PATCH_CRS)
        patch_permute<true, WS_PATCH_CRS><<<grid, block, 0, c->stream>>>(patches, image, g);
    else if (to_patches)
        patch_permute<true, WS_PATCH_RSC><<<grid, block, 0, c->stream>>>(patches, image, g);
    else if (order == WS_PATCH_CRS)
        patch_permute<false, WS_PATCH_CRS><<<grid, block, 0, c->stream>>>(patches, image, g);
    else
        patch_permute<false, WS_PATCH_RSC><<<grid, block, 0, c->stream>>>(patches, image, g);
    WS_CHECK_LAUNCH(c, to_patches ? "patchify" : "unpatchify");
}

extern "C" void ws_patchify_cuda(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *patches,
                                 const float *image) {
    launch(ex, d, order, patches, (float *)image, true); /* image is only read when to_patches */
}

extern "C" void ws_unpatchify_cuda(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *image,
                                   const float *patches) {
    launch(ex, d, order, (float *)patches, image, false);
}
