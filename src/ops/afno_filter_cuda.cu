/* src/ops/afno_filter_cuda.cu - the AFNO spectral filter (FourCastNet's AFNO2D) on the GPU:
 * cuFFT for the transforms, cuBLAS strided-batched products for the block-diagonal MLP.
 * defines: wsi_afno_filter_plan_open_cuda, wsi_afno_filter_plan_close_cuda,
 *          ws_afno_filter_workspace_bytes_cuda, ws_afno_filter_forward_cuda,
 *          ws_afno_filter_backward_cuda
 * reference: src/ops/afno_filter_cpu.c (FFTW), followed step for step; contract and the
 * exact definition: src/ops/afno_filter.h
 *
 * Shapes: x, y [N, H, W, C] channels last; one sample's spectrum [H, W2, C] complex,
 * W2 = W/2 + 1; K kept modes per sample, M = N*K rows of the saved X [M, 2C], O1 [M, 2CF],
 * O2 [M, 2C] (Re, Im interleaved per channel, as the reference).
 *
 * Transforms, channel-major. The activations are [N, H, W, C] (channels last); cuFFT runs
 * fastest on its basic layout, each (H, W) plane contiguous. So every transform goes through
 * [N, C, H, W]: a tiled transpose (shared-memory tiles, both sides coalesced) writes the
 * planes, one R2C (or C2R) plan runs all N*C planes in one call, and the spectrum
 * [N, C, H, W/2+1] is read and written by transposing gather/scatter kernels that go straight
 * to and from the kept modes' [K, C] rows. The first version ran the transforms in place of
 * the layout (batch C, stride C, distance 1, one call per sample); on an H200 at full size
 * (90 x 180 tokens x 768, 2 samples) its cuFFT kernels took 32.4 of the 92 ms of a bf16
 * training step (Nsight Compute, 2026-12-01: tools/gpu/ncu-afno-step.sh), about 3x what
 * PyTorch's cuFFT calls take on the same tensors; the transposes cost one extra pass over the
 * input of each forward transform (the inverse's transpose is fused with the skip add).
 * Plans: one for the planned N (all N*C planes) and one for a single sample (C planes), used
 * per sample when a call has another N (a partial evaluation batch); both share one work area
 * allocated at plan open through the context (it counts in ws_cuda_peak_bytes; cuFFT's
 * auto-allocation is off), so nothing allocates in a step, and the calls can be captured in
 * a CUDA graph. The workspace holds the planes and the spectra of N samples.
 * The inverse of a non-Hermitian spectrum (afno_filter.h): the reference runs a complex
 * inverse along H, zeroes the imaginary parts of columns 0 and W/2, then a real inverse
 * along W; i.e. it reads Re(sum_k S[k,l] e^{+i..}) in those columns. The same numbers come
 * from a 2-D C2R of the spectrum with columns 0 and W/2 made Hermitian along H first,
 * S'[k] = (S[k] + conj S[(H-k) mod H]) / 2: the inverse along H of S' is exactly the real
 * part of the inverse of S, and the other columns are untouched. A C2R of a Hermitian
 * spectrum is well defined for every FFT library, so this does not rely on what cuFFT makes
 * of an inconsistent one. The symmetrisation is fused into the kernel that builds the
 * spectrum from the kept modes (zeros elsewhere), so it costs no pass of its own.
 * MLP. As the reference: each complex block product is a real product of the interleaved
 * rows with the expanded [2BS, 2BSF] matrix E (afno_filter_cpu.c), here one
 * cublasGemmStridedBatchedEx over the NB blocks (block b: columns 2b*BS.. of the rows, E_b
 * at stride 4*BS*BSF), with CUBLAS_COMPUTE_32F_PEDANTIC, or on TF32 tensor cores (fp32
 * buffers, fp32 accumulation) where the descriptor asks (mlp_tf32: the model's bf16 and tf32
 * runs; afno_filter.h says why).
 * Bias gradients are column sums without atomics (ops/colsum.cuh); weight gradients come
 * from one product each (beta 0 into scratch), folded into dw (+=) by a kernel.
 * Deterministic: cuFFT and cuBLAS are for a fixed plan and GPU, the kernels have no atomics. */
#include "ops/colsum.cuh"

#include <cufft.h>

extern "C" {
#include "ops/afno_filter.h"
}

#include <math.h>

/* plans[ONE]: C planes (one sample); plans[ALL]: n*C planes (the planned N), made when n > 1 */
enum { ONE, ALL };

struct wsi_afno_cufft_plan {
    ws_cuda_ctx *ctx;
    int n, h, w, c;
    cufftHandle r2c[2], c2r[2];
    int have_r2c[2], have_c2r[2];
    void *work;          /* cuFFT's work area, shared by all plans (one runs at a time) */
    size_t work_bytes;
};

/* cuFFT has no error strings (style.md 3): the names of its codes. */
static const char *cufft_string(cufftResult r) {
    switch (r) {
    case CUFFT_SUCCESS: return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN (not a valid plan handle)";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED (out of GPU memory)";
    case CUFFT_INVALID_TYPE: return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE (bad pointer or parameter)";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR (driver or library failure)";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED (a kernel failed to launch)";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED (the library failed to initialise)";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE (unsupported transform size)";
    case CUFFT_UNALIGNED_DATA: return "CUFFT_UNALIGNED_DATA";
    case CUFFT_INVALID_DEVICE: return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE: return "CUFFT_NO_WORKSPACE (no work area set)";
    case CUFFT_NOT_IMPLEMENTED: return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED: return "CUFFT_NOT_SUPPORTED";
    default: return "unknown cuFFT status";
    }
}

static void check_cufft(cufftResult r, const char *expr, const char *file, int line) {
    if (r != CUFFT_SUCCESS) wsi_fatal(file, line, "%s: %s (%d)", expr, cufft_string(r), (int)r);
}
#define CHECK_CUFFT(call) check_cufft((call), #call, __FILE__, __LINE__)

static int w2_of(int w) { return w / 2 + 1; }

/* ------------------------------------------------------------------ plans */

static ws_status plan_failed(wsi_afno_cufft_plan *p, cufftResult r, const char *what, ws_error *err) {
    ws_status st = wsi_error(err, WS_ELIBRARY, "afno filter: %s for %dx%d tokens x %d channels: %s", what, p->h, p->w,
                             p->c, cufft_string(r));
    wsi_afno_filter_plan_close_cuda(p);
    return st;
}

extern "C" ws_status wsi_afno_filter_plan_open_cuda(wsi_afno_cufft_plan **out, const ws_exec *ex,
                                                    const ws_afno_filter_desc *d, ws_error *err) {
    *out = NULL;
    wsi_afno_cufft_plan *p = (wsi_afno_cufft_plan *)calloc(1, sizeof *p);
    if (!p) return wsi_error(err, WS_ENOMEM, "afno filter: out of memory for a plan");
    p->ctx = ex->cuda;
    p->h = d->h, p->w = d->w, p->c = d->c;
    if (d->w < 2) {
        free(p);
        return wsi_error(err, WS_ENOTSUP, "afno filter: a token grid %d column wide has no CUDA plan (W >= 2)",
                         d->w);
    }
    p->n = d->n;
    /* planes [H, W] (real) and [H, W2] (complex), contiguous; a grid one row high is the 1-D
     * transform along W (no size-1 dimension for cuFFT) */
    int n2[2] = {d->h, d->w};
    const int rank = d->h == 1 ? 1 : 2, skip = 2 - rank;
    const int real_plane = d->h * d->w, spec_plane = d->h * w2_of(d->w);
    size_t need = 0;
    cufftResult r;
    for (int k = ONE; k <= ALL; k++) {
        if (k == ALL && d->n == 1) break;
        const int batch = (k == ONE ? 1 : d->n) * d->c;
        size_t ws_r2c = 0, ws_c2r = 0;
        if ((r = cufftCreate(&p->r2c[k])) != CUFFT_SUCCESS) return plan_failed(p, r, "cufftCreate", err);
        p->have_r2c[k] = 1;
        if ((r = cufftCreate(&p->c2r[k])) != CUFFT_SUCCESS) return plan_failed(p, r, "cufftCreate", err);
        p->have_c2r[k] = 1;
        if ((r = cufftSetAutoAllocation(p->r2c[k], 0)) != CUFFT_SUCCESS ||
            (r = cufftSetAutoAllocation(p->c2r[k], 0)) != CUFFT_SUCCESS)
            return plan_failed(p, r, "cufftSetAutoAllocation", err);
        /* NULL embeds: the basic layout, planes packed one after another */
        if ((r = cufftMakePlanMany(p->r2c[k], rank, n2 + skip, NULL, 1, real_plane, NULL, 1, spec_plane, CUFFT_R2C,
                                   batch, &ws_r2c)) != CUFFT_SUCCESS)
            return plan_failed(p, r, "cufftMakePlanMany (R2C)", err);
        if ((r = cufftMakePlanMany(p->c2r[k], rank, n2 + skip, NULL, 1, spec_plane, NULL, 1, real_plane, CUFFT_C2R,
                                   batch, &ws_c2r)) != CUFFT_SUCCESS)
            return plan_failed(p, r, "cufftMakePlanMany (C2R)", err);
        if (ws_r2c > need) need = ws_r2c;
        if (ws_c2r > need) need = ws_c2r;
    }
    p->work_bytes = need;
    if (p->work_bytes) {
        ws_status st = wsi_cuda_malloc(p->ctx, &p->work, p->work_bytes, "afno filter FFT work area", err);
        if (st != WS_OK) {
            p->work_bytes = 0;
            wsi_afno_filter_plan_close_cuda(p);
            return st;
        }
    }
    for (int k = ONE; k <= ALL; k++) {
        if (!p->have_r2c[k]) continue;
        if (p->work && ((r = cufftSetWorkArea(p->r2c[k], p->work)) != CUFFT_SUCCESS ||
                        (r = cufftSetWorkArea(p->c2r[k], p->work)) != CUFFT_SUCCESS))
            return plan_failed(p, r, "cufftSetWorkArea", err);
        if ((r = cufftSetStream(p->r2c[k], p->ctx->stream)) != CUFFT_SUCCESS ||
            (r = cufftSetStream(p->c2r[k], p->ctx->stream)) != CUFFT_SUCCESS)
            return plan_failed(p, r, "cufftSetStream", err);
    }
    *out = p;
    return WS_OK;
}

extern "C" void wsi_afno_filter_plan_close_cuda(wsi_afno_cufft_plan *p) {
    if (!p) return;
    /* work queued on the stream may still use the plans and their work area */
    if (p->ctx) cudaStreamSynchronize(p->ctx->stream);
    for (int k = ONE; k <= ALL; k++) {
        if (p->have_r2c[k]) cufftDestroy(p->r2c[k]);
        if (p->have_c2r[k]) cufftDestroy(p->c2r[k]);
    }
    if (p->work) wsi_cuda_free(p->ctx, p->work, p->work_bytes);
    free(p);
}

/* ------------------------------------------------------------------ workspace */

enum { ALIGN_FLOATS = 64 }; /* 256 B between sections, as cudaMalloc aligns */

static size_t round_up(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

typedef struct {
    float *planes;    /* [N, C, H, W] real: the transforms' input (R2C) or output (C2R) */
    float *spec;      /* [N, C, H, W2] complex: their spectra */
    float *e1, *e2;   /* expanded weights NB x [2BS, 2BSF], NB x [2BSF, 2BS] */
    float *de1, *de2; /* their gradients (backward) */
    float *do2, *do1; /* [M, 2C] (later dX), [M, 2CF] (backward) */
} sections;

typedef struct {
    size_t planes, spec, e, do2, do1; /* floats per section, rounded */
} section_sizes;

static section_sizes sizes_of(const ws_afno_filter_desc *d) {
    const size_t C = (size_t)d->c, BS = C / d->blocks, BSF = BS * d->hidden_factor;
    const size_t M = (size_t)d->n * ws_afno_filter_kept(d);
    const size_t NC = (size_t)d->n * C;
    section_sizes s = {round_up(NC * d->h * d->w), round_up(2 * NC * d->h * w2_of(d->w)),
                       round_up((size_t)d->blocks * 4 * BS * BSF), round_up(M * 2 * C),
                       round_up(M * 2 * C * d->hidden_factor)};
    return s;
}

static sections carve(const ws_afno_filter_desc *d, void *workspace) {
    section_sizes z = sizes_of(d);
    const uintptr_t align = ALIGN_FLOATS * sizeof(float);
    float *f = (float *)(((uintptr_t)workspace + align - 1) & ~(align - 1));
    sections s;
    s.planes = f, f += z.planes;
    s.spec = f, f += z.spec;
    s.e1 = f, f += z.e;
    s.e2 = f, f += z.e;
    s.de1 = f, f += z.e;
    s.de2 = f, f += z.e;
    s.do2 = f, f += z.do2;
    s.do1 = f;
    return s;
}

extern "C" size_t ws_afno_filter_workspace_bytes_cuda(const ws_afno_filter_desc *d) {
    section_sizes z = sizes_of(d);
    return (z.planes + z.spec + 4 * z.e + z.do2 + z.do1 + ALIGN_FLOATS) * sizeof(float); /* + one unit: the start is rounded up */
}

/* ------------------------------------------------------------------ kernels */

struct kept_region {
    int h, w2, c, row0, row1, cols, w_even;
};

static kept_region region_of(const ws_afno_filter_desc *d) {
    kept_region g = {d->h, w2_of(d->w), d->c, d->row0, d->row1, d->cols, d->w % 2 == 0};
    return g;
}

/* weight of column l in irfft2: 1 for l = 0 and the Nyquist column W/2 (W even), else 2 */
__device__ __forceinline__ float column_weight(const kept_region &g, int l) {
    return (l == 0 || (g.w_even && l == g.w2 - 1)) ? 1.0f : 2.0f;
}

/* Tiles of the transposing kernels: TILE x TILE elements, TILE x TILE_ROWS threads; the
 * shared row is one longer than the tile so that reading a column hits every bank once. */
enum { TILE = 32, TILE_ROWS = 8 };

static dim3 tile_threads() { return dim3(TILE, TILE_ROWS); }
static unsigned tiles(size_t n) { return (unsigned)((n + TILE - 1) / TILE); }
/* grid.z covers `slabs` (slab loops stride by gridDim.z beyond the hardware's 65,535) */
static unsigned slab_grid(size_t slabs) { return (unsigned)(slabs < 65535 ? slabs : 65535); }

/* planes [N][C][P] (=) x [N][P][C], P = H*W tokens per sample */
__global__ void tokens_to_planes(float *__restrict__ planes, const float *__restrict__ x, int P, int C, int n) {
    __shared__ float tile[TILE][TILE + 1];
    const int c0 = blockIdx.x * TILE, p0 = blockIdx.y * TILE;
    for (int i = blockIdx.z; i < n; i += gridDim.z) {
        const float *src = x + (size_t)i * P * C;
        float *dst = planes + (size_t)i * P * C;
        for (int j = threadIdx.y; j < TILE; j += TILE_ROWS) {
            const int pp = p0 + j, cc = c0 + threadIdx.x;
            if (pp < P && cc < C) tile[j][threadIdx.x] = src[(size_t)pp * C + cc];
        }
        __syncthreads();
        for (int j = threadIdx.y; j < TILE; j += TILE_ROWS) {
            const int cc = c0 + j, pp = p0 + threadIdx.x;
            if (pp < P && cc < C) dst[(size_t)cc * P + pp] = tile[threadIdx.x][j];
        }
        __syncthreads();
    }
}

/* y [N][P][C] (=) scale x planes [N][C][P] + skip [N][P][C] */
__global__ void planes_to_tokens(float *__restrict__ y, const float *__restrict__ planes, const float *__restrict__ skip,
                                 float scale, int P, int C, int n) {
    __shared__ float tile[TILE][TILE + 1];
    const int p0 = blockIdx.x * TILE, c0 = blockIdx.y * TILE;
    for (int i = blockIdx.z; i < n; i += gridDim.z) {
        const float *src = planes + (size_t)i * P * C;
        for (int j = threadIdx.y; j < TILE; j += TILE_ROWS) {
            const int cc = c0 + j, pp = p0 + threadIdx.x;
            if (pp < P && cc < C) tile[j][threadIdx.x] = src[(size_t)cc * P + pp];
        }
        __syncthreads();
        for (int j = threadIdx.y; j < TILE; j += TILE_ROWS) {
            const int pp = p0 + j, cc = c0 + threadIdx.x;
            if (pp < P && cc < C) {
                const size_t e = ((size_t)i * P + pp) * C + cc;
                y[e] = scale * tile[threadIdx.x][j] + skip[e];
            }
        }
        __syncthreads();
    }
}

/* kept [N][K][C] (=) scale x the kept modes of spec [N][C][H][W2] (x c_l where weighted);
 * where mask (the saved O2, laid out as kept) is given, 0 wherever softshrink did not pass
 * its input. One slab per (sample, kept row): a [C, cols] tile of the spectrum read along
 * l, written along the channels. */
__global__ void gather_modes(float2 *__restrict__ kept, const float2 *__restrict__ spec, kept_region g, float scale,
                             int weighted, const float2 *__restrict__ mask, float lambda, int n) {
    __shared__ float2 tile[TILE][TILE + 1];
    const int rows = g.row1 - g.row0, l0 = blockIdx.x * TILE, c0 = blockIdx.y * TILE;
    const size_t K = (size_t)rows * g.cols;
    for (int z = blockIdx.z; z < n * rows; z += gridDim.z) {
        const int i = z / rows, kr = z % rows, k = g.row0 + kr;
        for (int j = threadIdx.y; j < TILE; j += TILE_ROWS) {
            const int cc = c0 + j, l = l0 + threadIdx.x;
            if (cc < g.c && l < g.cols)
                tile[j][threadIdx.x] = spec[(((size_t)i * g.c + cc) * g.h + k) * g.w2 + l];
        }
        __syncthreads();
        for (int j = threadIdx.y; j < TILE; j += TILE_ROWS) {
            const int l = l0 + j, cc = c0 + threadIdx.x;
            if (cc < g.c && l < g.cols) {
                const size_t e = ((size_t)i * K + (size_t)kr * g.cols + l) * g.c + cc;
                const float sc = weighted ? scale * column_weight(g, l) : scale;
                float2 v = tile[threadIdx.x][j];
                v.x *= sc, v.y *= sc;
                if (mask) {
                    const float2 o = mask[e];
                    if (!(fabsf(o.x) > lambda)) v.x = 0.0f;
                    if (!(fabsf(o.y) > lambda)) v.y = 0.0f;
                }
                kept[e] = v;
            }
        }
        __syncthreads();
    }
}

__device__ __forceinline__ float softshrink(float v, float lambda) {
    return v > lambda ? v - lambda : v < -lambda ? v + lambda : 0.0f;
}

/* The value the reference scatters at (k, l, ch): softshrink(kept) (forward) or kept / c_l
 * (backward), 0 outside the kept modes. */
__device__ __forceinline__ float2 scattered(const float2 *kept, const kept_region &g, int k, int l, int ch,
                                            int unweight, float lambda) {
    if (k < g.row0 || k >= g.row1 || l >= g.cols) return make_float2(0.0f, 0.0f);
    float2 v = kept[((size_t)(k - g.row0) * g.cols + l) * g.c + ch];
    if (unweight) {
        float inv = 1.0f / column_weight(g, l);
        return make_float2(inv * v.x, inv * v.y);
    }
    return make_float2(softshrink(v.x, lambda), softshrink(v.y, lambda));
}

/* spec [N][C][H][W2] (=) the scattered spectrum, every element written (no memset), with
 * columns 0 and W/2 made Hermitian along H (see the top of the file). One slab per (sample,
 * row k): read from kept along the channels, written along l. */
__global__ void build_spectrum(float2 *__restrict__ spec, const float2 *__restrict__ kept, kept_region g, int unweight,
                               float lambda, int n) {
    __shared__ float2 tile[TILE][TILE + 1];
    const int c0 = blockIdx.x * TILE, l0 = blockIdx.y * TILE;
    const size_t KC = (size_t)(g.row1 - g.row0) * g.cols * g.c;
    for (int z = blockIdx.z; z < n * g.h; z += gridDim.z) {
        const int i = z / g.h, k = z % g.h;
        const float2 *ki = kept + (size_t)i * KC;
        for (int j = threadIdx.y; j < TILE; j += TILE_ROWS) {
            const int l = l0 + j, cc = c0 + threadIdx.x;
            if (cc < g.c && l < g.w2) {
                float2 v = scattered(ki, g, k, l, cc, unweight, lambda);
                if (l == 0 || (g.w_even && l == g.w2 - 1)) {
                    const float2 u = scattered(ki, g, (g.h - k) % g.h, l, cc, unweight, lambda);
                    v = make_float2(0.5f * (v.x + u.x), 0.5f * (v.y - u.y));
                }
                tile[j][threadIdx.x] = v;
            }
        }
        __syncthreads();
        for (int j = threadIdx.y; j < TILE; j += TILE_ROWS) {
            const int cc = c0 + j, l = l0 + threadIdx.x;
            if (cc < g.c && l < g.w2) spec[(((size_t)i * g.c + cc) * g.h + k) * g.w2 + l] = tile[threadIdx.x][j];
        }
        __syncthreads();
    }
}

/* E [NB][2IN][2OUT] from w [2, NB, IN, OUT] (index 0 Re, 1 Im), as expand() in the reference */
__global__ void expand_weights(float *__restrict__ e, const float *__restrict__ w, int nb, int in, int out) {
    const size_t blk = (size_t)in * out, total = (size_t)nb * blk;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total; t += (size_t)gridDim.x * blockDim.x) {
        const size_t b = t / blk, io = t % blk;
        const int i = (int)(io / out), o = (int)(io % out);
        const float a = w[b * blk + io], im = w[(nb + b) * blk + io];
        float *eb = e + 4 * b * blk;
        const size_t ld = 2 * (size_t)out;
        eb[(2 * i) * ld + 2 * o] = a;
        eb[(2 * i) * ld + 2 * o + 1] = im;
        eb[(2 * i + 1) * ld + 2 * o] = -im;
        eb[(2 * i + 1) * ld + 2 * o + 1] = a;
    }
}

/* dw (+=) the adjoint of expand_weights applied to de, as fold() in the reference */
__global__ void fold_weights(float *__restrict__ dw, const float *__restrict__ de, int nb, int in, int out) {
    const size_t blk = (size_t)in * out, total = (size_t)nb * blk;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total; t += (size_t)gridDim.x * blockDim.x) {
        const size_t b = t / blk, io = t % blk;
        const int i = (int)(io / out), o = (int)(io % out);
        const size_t ld = 2 * (size_t)out;
        const float *r0 = de + 4 * b * blk + (2 * i) * ld + 2 * o, *r1 = r0 + ld;
        dw[b * blk + io] += r0[0] + r1[1];
        dw[(nb + b) * blk + io] += r0[1] - r1[0];
    }
}

/* v[r][2j + a] += bias[a * width + j] for rows of 2*width floats; relu: then max(0, .) with
 * NaN passing, as F.relu */
__global__ void add_bias(float *__restrict__ v, const float *__restrict__ bias, size_t rows, int width, int relu) {
    const size_t row = 2 * (size_t)width, total = rows * row;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        const int q = (int)(e % row), j = q >> 1, a = q & 1;
        float u = v[e] + bias[(size_t)a * width + j];
        v[e] = relu && u < 0.0f ? 0.0f : u;
    }
}

/* g (=) 0 wherever the ReLU's output o is not > 0 (its gradient, from its output) */
__global__ void relu_mask(float *__restrict__ g, const float *__restrict__ o, size_t n) {
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        if (!(o[e] > 0.0f)) g[e] = 0.0f;
}

/* the bias gradient of [M, 2*width] interleaved rows: column q = 2j + a -> db[a*width + j] */
struct interleaved_rows {
    const float *g;
    int cols;
    __device__ void operator()(int r, int q, double acc[1]) const { acc[0] += g[(size_t)r * cols + q]; }
};
struct interleaved_bias_add {
    float *db;
    int width;
    __device__ void operator()(int q, int v, double s) const {
        (void)v;
        db[(size_t)(q & 1) * width + (q >> 1)] += (float)s;
    }
};

static void bias_grad(ws_cuda_ctx *c, int rows, int width, const float *g, float *db, const char *what) {
    wsi_colsum<1>(c, rows, 2 * width, interleaved_rows{g, 2 * width}, interleaved_bias_add{db, width}, what);
}

/* ------------------------------------------------------------------ the block products */

/* C_b (=) op(A_b) op(B_b), b < nb, in cuBLAS's column-major terms; fp32 without TF32, or
 * on TF32 tensor cores when tf32 (fp32 in and out, fp32 accumulation either way) */
static void gemm_blocks(ws_cuda_ctx *c, int tf32, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                        const float *a, int lda, long long sa, const float *b, int ldb, long long sb, float *cm,
                        int ldc, long long sc, int nb) {
    const float one = 1.0f, zero = 0.0f;
    WS_CHECK_CUBLAS(cublasGemmStridedBatchedEx(c->cublas, ta, tb, m, n, k, &one, a, CUDA_R_32F, lda, sa, b,
                                               CUDA_R_32F, ldb, sb, &zero, cm, CUDA_R_32F, ldc, sc, nb,
                                               tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_PEDANTIC,
                                               CUBLAS_GEMM_DEFAULT));
}

/* Row-major Y [M, 2*NB*OUT] = X [M, 2*NB*IN] x blockdiag(E_b [2IN, 2OUT]). */
static void block_products(ws_cuda_ctx *c, int tf32, int m, int nb, int in, int out, const float *x, const float *e,
                           float *y) {
    gemm_blocks(c, tf32, CUBLAS_OP_N, CUBLAS_OP_N, 2 * out, m, 2 * in, e, 2 * out, 4LL * in * out, x, 2 * nb * in,
                2LL * in, y, 2 * nb * out, 2LL * out, nb);
}

/* Its backward: dX = dY E^T (=) and dE = X^T dY (=). */
static void block_products_backward(ws_cuda_ctx *c, int tf32, int m, int nb, int in, int out, const float *x,
                                    const float *e, const float *dy, float *dx, float *de) {
    gemm_blocks(c, tf32, CUBLAS_OP_N, CUBLAS_OP_T, 2 * out, 2 * in, m, dy, 2 * nb * out, 2LL * out, x, 2 * nb * in,
                2LL * in, de, 2 * out, 4LL * in * out, nb);
    gemm_blocks(c, tf32, CUBLAS_OP_T, CUBLAS_OP_N, 2 * in, m, 2 * out, e, 2 * out, 4LL * in * out, dy, 2 * nb * out,
                2LL * out, dx, 2 * nb * in, 2LL * in, nb);
}

static void expand_all(ws_cuda_ctx *c, int nb, int in, int out, const float *w, float *e) {
    const size_t n = (size_t)nb * in * out;
    expand_weights<<<wsi_blocks(c, n, 256), 256, 0, c->stream>>>(e, w, nb, in, out);
    WS_CHECK_LAUNCH(c, "afno filter expand weights");
}

static void fold_all(ws_cuda_ctx *c, int nb, int in, int out, const float *de, float *dw) {
    const size_t n = (size_t)nb * in * out;
    fold_weights<<<wsi_blocks(c, n, 256), 256, 0, c->stream>>>(dw, de, nb, in, out);
    WS_CHECK_LAUNCH(c, "afno filter fold weight gradient");
}

/* ------------------------------------------------------------------ per-sample spectra */

/* The transforms of all n samples: one call when n is the planned N, else one per sample. */
static void run_r2c(const wsi_afno_cufft_plan *p, int n, float *planes, float *spec) {
    if (n == p->n && p->have_r2c[ALL]) {
        CHECK_CUFFT(cufftExecR2C(p->r2c[ALL], (cufftReal *)planes, (cufftComplex *)spec));
        return;
    }
    const size_t real = (size_t)p->c * p->h * p->w, cplx = (size_t)p->c * p->h * w2_of(p->w);
    for (int i = 0; i < n; i++)
        CHECK_CUFFT(cufftExecR2C(p->r2c[ONE], (cufftReal *)(planes + i * real), (cufftComplex *)spec + i * cplx));
}

static void run_c2r(const wsi_afno_cufft_plan *p, int n, float *spec, float *planes) {
    if (n == p->n && p->have_c2r[ALL]) {
        CHECK_CUFFT(cufftExecC2R(p->c2r[ALL], (cufftComplex *)spec, (cufftReal *)planes));
        return;
    }
    const size_t real = (size_t)p->c * p->h * p->w, cplx = (size_t)p->c * p->h * w2_of(p->w);
    for (int i = 0; i < n; i++)
        CHECK_CUFFT(cufftExecC2R(p->c2r[ONE], (cufftComplex *)spec + i * cplx, (cufftReal *)(planes + i * real)));
}

/* kept (=) gather(rfft2(src)) x scale (x c_l where weighted), masked by the saved O2 where
 * mask is given, all samples */
static void to_spectrum(ws_cuda_ctx *c, const wsi_afno_cufft_plan *p, const ws_afno_filter_desc *d,
                        const sections *s, const float *src, float *kept, float scale, int weighted,
                        const float *mask) {
    const int P = d->h * d->w;
    const kept_region g = region_of(d);
    tokens_to_planes<<<dim3(tiles(d->c), tiles(P), slab_grid(d->n)), tile_threads(), 0, c->stream>>>(s->planes, src, P,
                                                                                                    d->c, d->n);
    WS_CHECK_LAUNCH(c, "afno filter tokens to planes");
    run_r2c(p, d->n, s->planes, s->spec);
    gather_modes<<<dim3(tiles(g.cols), tiles(d->c), slab_grid((size_t)d->n * (g.row1 - g.row0))), tile_threads(), 0,
                   c->stream>>>((float2 *)kept, (const float2 *)s->spec, g, scale, weighted, (const float2 *)mask,
                                d->lambda, d->n);
    WS_CHECK_LAUNCH(c, "afno filter gather modes");
}

/* dst (=) scale x irfft2(scatter(kept)) + skip, all samples */
static void from_spectrum(ws_cuda_ctx *c, const wsi_afno_cufft_plan *p, const ws_afno_filter_desc *d,
                          const sections *s, const float *kept, int unweight, float scale, const float *skip,
                          float *dst) {
    const int P = d->h * d->w;
    const kept_region g = region_of(d);
    build_spectrum<<<dim3(tiles(d->c), tiles(g.w2), slab_grid((size_t)d->n * d->h)), tile_threads(), 0, c->stream>>>(
        (float2 *)s->spec, (const float2 *)kept, g, unweight, d->lambda, d->n);
    WS_CHECK_LAUNCH(c, "afno filter build spectrum");
    run_c2r(p, d->n, s->spec, s->planes);
    planes_to_tokens<<<dim3(tiles(P), tiles(d->c), slab_grid(d->n)), tile_threads(), 0, c->stream>>>(
        dst, s->planes, skip, scale, P, d->c, d->n);
    WS_CHECK_LAUNCH(c, "afno filter planes to tokens");
}

/* ------------------------------------------------------------------ forward and backward */

extern "C" void ws_afno_filter_forward_cuda(const ws_exec *ex, const wsi_afno_cufft_plan *p,
                                            const ws_afno_filter_desc *d, float *y, float *saved, const float *x,
                                            const float *w1, const float *b1, const float *w2, const float *b2,
                                            void *workspace) {
    ws_cuda_ctx *c = ex->cuda;
    const int C = d->c, NB = d->blocks, BS = C / NB, BSF = BS * d->hidden_factor, CF = C * d->hidden_factor;
    const size_t M = (size_t)d->n * ws_afno_filter_kept(d), LC = (size_t)d->h * d->w * C;
    if (M == 0) { /* nothing kept: irfft2 of a zero spectrum is 0, y = x exactly */
        WS_CHECK_CUDA(cudaMemcpyAsync(y, x, (size_t)d->n * LC * sizeof(float), cudaMemcpyDeviceToDevice, c->stream));
        return;
    }
    const float scale = (float)(1.0 / sqrt((double)d->h * d->w));
    sections s = carve(d, workspace);
    float *xs = saved, *o1 = saved + M * 2 * C, *o2 = o1 + M * 2 * CF;

    to_spectrum(c, p, d, &s, x, xs, scale, 0, NULL);
    expand_all(c, NB, BS, BSF, w1, s.e1);
    expand_all(c, NB, BSF, BS, w2, s.e2);
    block_products(c, d->mlp_tf32, (int)M, NB, BS, BSF, xs, s.e1, o1);
    add_bias<<<wsi_blocks(c, M * 2 * CF, 256), 256, 0, c->stream>>>(o1, b1, M, CF, 1);
    WS_CHECK_LAUNCH(c, "afno filter bias+relu");
    block_products(c, d->mlp_tf32, (int)M, NB, BSF, BS, o1, s.e2, o2);
    add_bias<<<wsi_blocks(c, M * 2 * C, 256), 256, 0, c->stream>>>(o2, b2, M, C, 0);
    WS_CHECK_LAUNCH(c, "afno filter bias");
    from_spectrum(c, p, d, &s, o2, 0, scale, x, y);
}

extern "C" void ws_afno_filter_backward_cuda(const ws_exec *ex, const wsi_afno_cufft_plan *p,
                                             const ws_afno_filter_desc *d, float *dx, float *dw1, float *db1,
                                             float *dw2, float *db2, const float *dy, const float *saved,
                                             const float *w1, const float *w2, void *workspace) {
    ws_cuda_ctx *c = ex->cuda;
    const int C = d->c, NB = d->blocks, BS = C / NB, BSF = BS * d->hidden_factor, CF = C * d->hidden_factor;
    const size_t M = (size_t)d->n * ws_afno_filter_kept(d), LC = (size_t)d->h * d->w * C;
    if (M == 0) { /* the spectral path contributes nothing: dx = dy, the parameter gradients unchanged */
        WS_CHECK_CUDA(cudaMemcpyAsync(dx, dy, (size_t)d->n * LC * sizeof(float), cudaMemcpyDeviceToDevice, c->stream));
        return;
    }
    const float scale = (float)(1.0 / sqrt((double)d->h * d->w));
    sections s = carve(d, workspace);
    const float *xs = saved, *o1 = saved + M * 2 * C, *o2 = o1 + M * 2 * CF;

    /* dO2 = c_l rfft2(dy) / sqrt(HW) on the kept modes, where softshrink passed its input */
    to_spectrum(c, p, d, &s, dy, s.do2, scale, 1, o2);
    expand_all(c, NB, BS, BSF, w1, s.e1);
    expand_all(c, NB, BSF, BS, w2, s.e2);
    bias_grad(c, (int)M, C, s.do2, db2, "afno filter db2");
    block_products_backward(c, d->mlp_tf32, (int)M, NB, BSF, BS, o1, s.e2, s.do2, s.do1, s.de2);
    fold_all(c, NB, BSF, BS, s.de2, dw2);
    relu_mask<<<wsi_blocks(c, M * 2 * CF, 256), 256, 0, c->stream>>>(s.do1, o1, M * 2 * CF);
    WS_CHECK_LAUNCH(c, "afno filter relu gradient");
    bias_grad(c, (int)M, CF, s.do1, db1, "afno filter db1");
    /* dX lands in do2, which is spent */
    block_products_backward(c, d->mlp_tf32, (int)M, NB, BS, BSF, xs, s.e1, s.do1, s.do2, s.de1);
    fold_all(c, NB, BS, BSF, s.de1, dw1);
    /* dx = irfft2(dX / c_l) / sqrt(HW) + dy */
    from_spectrum(c, p, d, &s, s.do2, 1, scale, dy, dx);
}
