/* ops/patch.h - cutting images into non-overlapping p x p patches and putting them back: the
 * AFNO's patch embedding input (a conv with kernel = stride = p is a linear layer on these
 * patches) and its head's unpatchify (einops' "b h w (p1 p2 c) -> b c (h p1) (w p2)").
 * defines: ws_patch_order, ws_patch_desc, ws_patchify, ws_unpatchify (dispatch, ops/patch.c),
 *          their _cpu references (ops/patch_cpu.c) and _cuda twins (ops/patch_cuda.cu).
 * Shapes: image [N, C, H, W] NCHW; patches [N, GH*GW, C*P*P] with GH = H/P, GW = W/P, the
 *   patch of grid cell (gh, gw) at row gh*GW + gw (row-major over the grid, as
 *   Conv2d(...).flatten(2).transpose(1, 2) orders tokens). Within a patch, pixel (c, r, s)
 *   (channel, row and column inside the patch) sits at
 *     WS_PATCH_CRS: (c*P + r)*P + s  - the layout of a conv weight [K, C, P, P], so the
 *                                      patch embedding is patches x weight^T;
 *     WS_PATCH_RSC: (r*P + s)*C + c  - the head's "(p1 p2 c_out)" layout.
 * Both calls overwrite their output and are permutations, each the inverse and the adjoint
 * (transpose) of the other: the backward of patchify is unpatchify of the gradient, and
 * back. H and W must be multiples of P. Output and input may not overlap.
 * fp32 buffers in ex's device memory, the image NCHW on every device (this contract's
 * layout, not ex->layout: a CUDA exec is NHWC for ResNet's activations); the CPU runs at
 * fp32, CUDA at fp32 or tf32 (a permutation: the same bits); bf16/fp16 are WS_ENOTSUP. */
#ifndef WS_OPS_PATCH_H
#define WS_OPS_PATCH_H

#include "ops/ops.h"

typedef enum { WS_PATCH_CRS = 0, WS_PATCH_RSC = 1 } ws_patch_order;

typedef struct {
    int n, c, h, w, p;
} ws_patch_desc;

ws_status ws_patchify(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *patches,
                      const float *image);
ws_status ws_unpatchify(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *image,
                        const float *patches);

void ws_patchify_cpu(const ws_patch_desc *d, ws_patch_order order, int threads, float *patches, const float *image);
void ws_unpatchify_cpu(const ws_patch_desc *d, ws_patch_order order, int threads, float *image,
                       const float *patches);

void ws_patchify_cuda(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *patches,
                      const float *image);
void ws_unpatchify_cuda(const ws_exec *ex, const ws_patch_desc *d, ws_patch_order order, float *image,
                        const float *patches);

#endif
