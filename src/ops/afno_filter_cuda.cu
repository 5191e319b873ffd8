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
 * Transforms. One plan pair per (H, W, C), for one sample: a 2-D R2C and a 2-D C2R over
 * (H, W) with batch = C, stride C and distance 1 (cufftMakePlanMany's advanced layout), run
 * once per sample. Why not one plan over all N*C transforms: the [N, H, W, C] layout has two
 * batch strides (1 between channels, H*W*C between samples) and cuFFT takes one; the other
 * way, transposing to [N, C, H, W] and back around every transform, costs two extra passes
 * over the activations each way. Per-sample execution needs neither, each execution is
 * C = 768 transforms of 90 x 180 at full size (plenty to fill the GPU), the plan is valid for
 * every N (no re-plan, no maximum), and the spectrum scratch is one sample's (about 50 MB at
 * full size), not N's. The plan owns cuFFT's work area (allocated at plan open through the
 * context, so it counts in ws_cuda_peak_bytes; cuFFT's auto-allocation is off), so nothing
 * allocates in a step, and the calls can be captured in a CUDA graph.
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
 * at stride 4*BS*BSF), with CUBLAS_COMPUTE_32F_PEDANTIC: the spectral part stays fp32 in
 * every run precision, as FourCastNet's does, and tf32 runs compute it exactly as fp32.
 * Bias gradients are column sums without atomics (ops/colsum.cuh); weight gradients come
 * from one product each (beta 0 into scratch), folded into dw (+=) by a kernel.
 * Deterministic: cuFFT and cuBLAS are for a fixed plan and GPU, the kernels have no atomics. */
#include "ops/colsum.cuh"

#include <cufft.h>

extern "C" {
#include "ops/afno_filter.h"
}

#include <math.h>

struct wsi_afno_cufft_plan {
    ws_cuda_ctx *ctx;
    int h, w, c;
    cufftHandle r2c, c2r;
    int have_r2c, have_c2r;
    void *work;          /* cuFFT's work area, shared by both plans (one runs at a time) */
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
    /* a grid one row high is the 1-D transform along W (no size-1 dimension for cuFFT) */
    int n2[2] = {d->h, d->w}, real_embed[2] = {d->h, d->w}, spec_embed[2] = {d->h, w2_of(d->w)};
    const int rank = d->h == 1 ? 1 : 2, skip = 2 - rank;
    size_t ws_r2c = 0, ws_c2r = 0;
    cufftResult r;
    if ((r = cufftCreate(&p->r2c)) != CUFFT_SUCCESS) return plan_failed(p, r, "cufftCreate", err);
    p->have_r2c = 1;
    if ((r = cufftCreate(&p->c2r)) != CUFFT_SUCCESS) return plan_failed(p, r, "cufftCreate", err);
    p->have_c2r = 1;
    if ((r = cufftSetAutoAllocation(p->r2c, 0)) != CUFFT_SUCCESS ||
        (r = cufftSetAutoAllocation(p->c2r, 0)) != CUFFT_SUCCESS)
        return plan_failed(p, r, "cufftSetAutoAllocation", err);
    if ((r = cufftMakePlanMany(p->r2c, rank, n2 + skip, real_embed + skip, d->c, 1, spec_embed + skip, d->c, 1,
                               CUFFT_R2C, d->c, &ws_r2c)) != CUFFT_SUCCESS)
        return plan_failed(p, r, "cufftMakePlanMany (R2C)", err);
    if ((r = cufftMakePlanMany(p->c2r, rank, n2 + skip, spec_embed + skip, d->c, 1, real_embed + skip, d->c, 1,
                               CUFFT_C2R, d->c, &ws_c2r)) != CUFFT_SUCCESS)
        return plan_failed(p, r, "cufftMakePlanMany (C2R)", err);
    p->work_bytes = ws_r2c > ws_c2r ? ws_r2c : ws_c2r;
    if (p->work_bytes) {
        ws_status st = wsi_cuda_malloc(p->ctx, &p->work, p->work_bytes, "afno filter FFT work area", err);
        if (st != WS_OK) {
            p->work_bytes = 0;
            wsi_afno_filter_plan_close_cuda(p);
            return st;
        }
        if ((r = cufftSetWorkArea(p->r2c, p->work)) != CUFFT_SUCCESS ||
            (r = cufftSetWorkArea(p->c2r, p->work)) != CUFFT_SUCCESS)
            return plan_failed(p, r, "cufftSetWorkArea", err);
    }
    if ((r = cufftSetStream(p->r2c, p->ctx->stream)) != CUFFT_SUCCESS ||
        (r = cufftSetStream(p->c2r, p->ctx->stream)) != CUFFT_SUCCESS)
        return plan_failed(p, r, "cufftSetStream", err);
    *out = p;
    return WS_OK;
}

extern "C" void wsi_afno_filter_plan_close_cuda(wsi_afno_cufft_plan *p) {
    if (!p) return;
    /* work queued on the stream may still use the plans and their work area */
    if (p->ctx) cudaStreamSynchronize(p->ctx->stream);
    if (p->have_r2c) cufftDestroy(p->r2c);
    if (p->have_c2r) cufftDestroy(p->c2r);
    if (p->work) wsi_cuda_free(p->ctx, p->work, p->work_bytes);
    free(p);
}

/* ------------------------------------------------------------------ workspace */

enum { ALIGN_FLOATS = 64 }; /* 256 B between sections, as cudaMalloc aligns */

static size_t round_up(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

typedef struct {
    float *spec;      /* one sample's spectrum [H, W2, C] complex */
    float *e1, *e2;   /* expanded weights NB x [2BS, 2BSF], NB x [2BSF, 2BS] */
    float *de1, *de2; /* their gradients (backward) */
    float *do2, *do1; /* [M, 2C] (later dX), [M, 2CF] (backward) */
} sections;

typedef struct {
    size_t spec, e, do2, do1; /* floats per section, rounded */
} section_sizes;

static section_sizes sizes_of(const ws_afno_filter_desc *d) {
    const size_t C = (size_t)d->c, BS = C / d->blocks, BSF = BS * d->hidden_factor;
    const size_t M = (size_t)d->n * ws_afno_filter_kept(d);
    section_sizes s = {round_up(2 * (size_t)d->h * w2_of(d->w) * C), round_up((size_t)d->blocks * 4 * BS * BSF),
                       round_up(M * 2 * C), round_up(M * 2 * C * d->hidden_factor)};
    return s;
}

static sections carve(const ws_afno_filter_desc *d, void *workspace) {
    section_sizes z = sizes_of(d);
    const uintptr_t align = ALIGN_FLOATS * sizeof(float);
    float *f = (float *)(((uintptr_t)workspace + align - 1) & ~(align - 1));
    sections s;
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
    return (z.spec + 4 * z.e + z.do2 + z.do1 + ALIGN_FLOATS) * sizeof(float); /* + one unit: the start is rounded up */
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

/* kept [K, 2C] (=) scale x the kept modes of spec (x c_l where weighted); where mask (the
 * saved O2 of this sample) is given, 0 wherever softshrink did not pass its input */
__global__ void gather_modes(float2 *__restrict__ kept, const float2 *__restrict__ spec, kept_region g, float scale,
                             int weighted, const float2 *__restrict__ mask, float lambda) {
    const size_t total = (size_t)(g.row1 - g.row0) * g.cols * g.c;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)(e % g.c);
        const size_t m = e / g.c;
        const int k = g.row0 + (int)(m / g.cols), l = (int)(m % g.cols);
        const float s = weighted ? scale * column_weight(g, l) : scale;
        float2 v = spec[((size_t)k * g.w2 + l) * g.c + ch];
        v.x *= s, v.y *= s;
        if (mask) {
            float2 o = mask[e];
            if (!(fabsf(o.x) > lambda)) v.x = 0.0f;
            if (!(fabsf(o.y) > lambda)) v.y = 0.0f;
        }
        kept[e] = v;
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

/* spec (=) the scattered spectrum of one sample, every element written (no memset), with
 * columns 0 and W/2 made Hermitian along H (see the top of the file). */
__global__ void build_spectrum(float2 *__restrict__ spec, const float2 *__restrict__ kept, kept_region g, int unweight,
                               float lambda) {
    const size_t total = (size_t)g.h * g.w2 * g.c;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)(e % g.c);
        const size_t kl = e / g.c;
        const int k = (int)(kl / g.w2), l = (int)(kl % g.w2);
        float2 v = scattered(kept, g, k, l, ch, unweight, lambda);
        if (l == 0 || (g.w_even && l == g.w2 - 1)) {
            float2 u = scattered(kept, g, (g.h - k) % g.h, l, ch, unweight, lambda);
            v = make_float2(0.5f * (v.x + u.x), 0.5f * (v.y - u.y));
        }
        spec[e] = v;
    }
}

/* y (=) scale * y + skip, n floats */
__global__ void scale_add(float *__restrict__ y, const float *__restrict__ skip, float scale, size_t n) {
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        y[e] = scale * y[e] + skip[e];
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

/* C_b (=) op(A_b) op(B_b), b < nb, in cuBLAS's column-major terms; fp32 without TF32 */
static void gemm_blocks(ws_cuda_ctx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *a,
                        int lda, long long sa, const float *b, int ldb, long long sb, float *cm, int ldc, long long sc,
                        int nb) {
    const float one = 1.0f, zero = 0.0f;
    WS_CHECK_CUBLAS(cublasGemmStridedBatchedEx(c->cublas, ta, tb, m, n, k, &one, a, CUDA_R_32F, lda, sa, b,
                                               CUDA_R_32F, ldb, sb, &zero, cm, CUDA_R_32F, ldc, sc, nb,
                                               CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
}

/* Row-major Y [M, 2*NB*OUT] = X [M, 2*NB*IN] x blockdiag(E_b [2IN, 2OUT]). */
static void block_products(ws_cuda_ctx *c, int m, int nb, int in, int out, const float *x, const float *e, float *y) {
    gemm_blocks(c, CUBLAS_OP_N, CUBLAS_OP_N, 2 * out, m, 2 * in, e, 2 * out, 4LL * in * out, x, 2 * nb * in, 2LL * in,
                y, 2 * nb * out, 2LL * out, nb);
}

/* Its backward: dX = dY E^T (=) and dE = X^T dY (=). */
static void block_products_backward(ws_cuda_ctx *c, int m, int nb, int in, int out, const float *x, const float *e,
                                    const float *dy, float *dx, float *de) {
    gemm_blocks(c, CUBLAS_OP_N, CUBLAS_OP_T, 2 * out, 2 * in, m, dy, 2 * nb * out, 2LL * out, x, 2 * nb * in, 2LL * in,
                de, 2 * out, 4LL * in * out, nb);
    gemm_blocks(c, CUBLAS_OP_T, CUBLAS_OP_N, 2 * in, m, 2 * out, e, 2 * out, 4LL * in * out, dy, 2 * nb * out,
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

/* kept_i (=) gather(rfft2(src_i)) x scale (x c_l where weighted), masked by the saved O2
 * where mask is given; every sample through the one spectrum buffer */
static void to_spectrum(ws_cuda_ctx *c, const wsi_afno_cufft_plan *p, const ws_afno_filter_desc *d,
                        const sections *s, const float *src, float *kept, float scale, int weighted,
                        const float *mask) {
    const size_t LC = (size_t)d->h * d->w * d->c, KC2 = ws_afno_filter_kept(d) * 2 * d->c;
    const kept_region g = region_of(d);
    for (int i = 0; i < d->n; i++) {
        CHECK_CUFFT(cufftExecR2C(p->r2c, (cufftReal *)(src + i * LC), (cufftComplex *)s->spec));
        gather_modes<<<wsi_blocks(c, KC2 / 2, 256), 256, 0, c->stream>>>(
            (float2 *)(kept + i * KC2), (const float2 *)s->spec, g, scale, weighted,
            mask ? (const float2 *)(mask + i * KC2) : NULL, d->lambda);
        WS_CHECK_LAUNCH(c, "afno filter gather modes");
    }
}

/* dst (=) scale x irfft2(scatter(kept)) + skip, all samples */
static void from_spectrum(ws_cuda_ctx *c, const wsi_afno_cufft_plan *p, const ws_afno_filter_desc *d,
                          const sections *s, const float *kept, int unweight, float scale, const float *skip,
                          float *dst) {
    const size_t LC = (size_t)d->h * d->w * d->c, KC2 = ws_afno_filter_kept(d) * 2 * d->c;
    const size_t spec_complex = (size_t)d->h * w2_of(d->w) * d->c;
    const kept_region g = region_of(d);
    for (int i = 0; i < d->n; i++) {
        build_spectrum<<<wsi_blocks(c, spec_complex, 256), 256, 0, c->stream>>>(
            (float2 *)s->spec, (const float2 *)(kept + i * KC2), g, unweight, d->lambda);
        WS_CHECK_LAUNCH(c, "afno filter build spectrum");
        CHECK_CUFFT(cufftExecC2R(p->c2r, (cufftComplex *)s->spec, (cufftReal *)(dst + i * LC)));
    }
    const size_t n = (size_t)d->n * LC;
    scale_add<<<wsi_blocks(c, n, 256), 256, 0, c->stream>>>(dst, skip, scale, n);
    WS_CHECK_LAUNCH(c, "afno filter skip");
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
    block_products(c, (int)M, NB, BS, BSF, xs, s.e1, o1);
    add_bias<<<wsi_blocks(c, M * 2 * CF, 256), 256, 0, c->stream>>>(o1, b1, M, CF, 1);
    WS_CHECK_LAUNCH(c, "afno filter bias+relu");
    block_products(c, (int)M, NB, BSF, BS, o1, s.e2, o2);
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
    block_products_backward(c, (int)M, NB, BSF, BS, o1, s.e2, s.do2, s.do1, s.de2);
    fold_all(c, NB, BSF, BS, s.de2, dw2);
    relu_mask<<<wsi_blocks(c, M * 2 * CF, 256), 256, 0, c->stream>>>(s.do1, o1, M * 2 * CF);
    WS_CHECK_LAUNCH(c, "afno filter relu gradient");
    bias_grad(c, (int)M, CF, s.do1, db1, "afno filter db1");
    /* dX lands in do2, which is spent */
    block_products_backward(c, (int)M, NB, BS, BSF, xs, s.e1, s.do1, s.do2, s.de1);
    fold_all(c, NB, BS, BSF, s.de1, dw1);
    /* dx = irfft2(dX / c_l) / sqrt(HW) + dy */
    from_spectrum(c, p, d, &s, s.do2, 1, scale, dy, dx);
}
