/* src/ops/patch_cpu.c - reference patchify and unpatchify (pure index permutations).
 * defines: ws_patchify_cpu, ws_unpatchify_cpu
 * twin: src/ops/patch_cuda.cu; contract and layouts: src/ops/patch.h
 * One function walks every (n, c, y, x) pixel and its patch position; the two directions
 * differ only in which side is written, so they stay each other's exact inverse. Threads
 * over (sample, channel) planes: each writes disjoint elements, every thread count gives
 * the same bits. */
#include "ops/patch.h"

static void permute(const ws_patch_desc *d, ws_patch_order order, int threads, float *patches, float *image,
                    int to_patches) {
    const int P = d->p, C = d->c, H = d->h, W = d->w, GW = W / P, GH = H / P;
    const size_t per_patch = (size_t)C * P * P, per_image = (size_t)C * H * W;
    const int planes = d->n * C;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) if (per_image * d->n >= 32768)
#else
    (void)threads;
#endif
    for (int nc = 0; nc < planes; nc++) {
        int i = nc / C, c = nc % C;
        float *img = image + (size_t)i * per_image + (size_t)c * H * W;
        float *pat = patches + (size_t)i * GH * GW * per_patch;
        for (int y = 0; y < H; y++) {
            int gh = y / P, r = y % P;
            for (int x = 0; x < W; x++) {
                int gw = x / P, s = x % P;
                size_t within = order == WS_PATCH_CRS ? ((size_t)c * P + r) * P + s : ((size_t)r * P + s) * C + c;
                float *q = pat + ((size_t)gh * GW + gw) * per_patch + within;
                if (to_patches)
                    *q = img[(size_t)y * W + x];
                else
                    img[(size_t)y * W + x] = *q;
            }
        }
    }
}

void ws_patchify_cpu(const ws_patch_desc *d, ws_patch_order order, int threads, float *patches, const float *image) {
    /* image is only read when to_patches is set */
    permute(d, order, threads, patches, (float *)image, 1);
}

void ws_unpatchify_cpu(const ws_patch_desc *d, ws_patch_order order, int threads, float *image,
                       const float *patches) {
    permute(d, order, threads, (float *)patches, image, 0);
}
