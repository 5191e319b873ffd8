/* src/ops/afno_filter_cpu.c - reference AFNO spectral filter (FourCastNet's AFNO2D) on FFTW.
 * defines: wsi_afno_filter_plan_open_cpu, wsi_afno_filter_plan_close_cpu,
 *          ws_afno_filter_workspace_bytes_cpu,
 *          ws_afno_filter_forward_cpu, ws_afno_filter_backward_cpu
 * twin: src/ops/afno_filter_cuda.cu (cuFFT); contract and the exact definition:
 * src/ops/afno_filter.h
 *
 * Shapes: x, y [N, H, W, C] channels last; per sample the spectrum is [H, W2, C] complex,
 * W2 = W/2 + 1; K kept modes per sample (rows row0..row1-1, columns 0..cols-1).
 * Steps (forward), per sample on the thread's own spectrum buffer:
 *   1. r2c over (H, W) of every channel (one FFTW plan, C transforms of stride C), scaled
 *      by 1/sqrt(HW) and gathered into the saved X [N*K, 2C] (Re, Im interleaved);
 *   2. for the whole batch at once, per block b, the complex products as real ones
 *      through ws_gemm_cpu: a complex row z [BS] times W [BS, BSF] is the real row
 *      [zr0, zi0, zr1, zi1, ...] times the expanded [2BS, 2BSF] matrix E with
 *      E[2i][2o] = E[2i+1][2o+1] = Re W[i][o], E[2i][2o+1] = Im W[i][o],
 *      E[2i+1][2o] = -Im W[i][o] (one product of M = N*K rows per block and layer);
 *   3. softshrink of O2 scattered into a zeroed spectrum; the inverse as two plans whose
 *      meaning is unambiguous for a non-Hermitian spectrum: an in-place complex inverse
 *      DFT along H, then the imaginary parts of columns 0 and W/2 (W even) set to 0 (the
 *      real part is what PyTorch's irfft2 reads there), then a 1-D c2r along W; scaled by
 *      1/sqrt(HW), plus x. FFTW's c2r ignores those imaginary parts by itself (leaving
 *      the zeroing out changes no test result), but for a non-Hermitian input that is
 *      behaviour no FFT library documents, cuFFT included: the zeroing makes it ours.
 * Backward runs the adjoints: r2c of dy gathered with c_l = 2 (1 at l = 0, W/2) and the
 * softshrink mask, the products' transposes (dE = A^T dO folded back into dw: Re dW =
 * dE[2i][2o] + dE[2i+1][2o+1], Im dW = dE[2i][2o+1] - dE[2i+1][2o]), the ReLU mask, and
 * the inverse path on dX / c_l, plus dy.
 *
 * Determinism: FFTW_ESTIMATE picks the same algorithm on every run (FFTW_MEASURE times
 * candidates and may not); per-sample work is identical whatever thread runs it; the
 * bias gradients are column sums in double in row order; the weight gradients come from
 * one product each. So results are bitwise reproducible for a given thread count and BLAS.
 * FFTW plans are made with FFTW_UNALIGNED, so that any sample of any caller's buffer may
 * be transformed with the new-array execute functions (which are thread-safe); that costs
 * FFTW some SIMD, but the FFTs took 2% of a CPU training step of a 32 x 64, embed 64,
 * depth 4 AFNO (perf, 2026-12-01). Planning is not thread-safe in FFTW: one mutex. */
#include "ops/afno_filter.h"
#include "core/error.h"
#include "ops/gemm.h"
#include "ws_config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if WS_HAVE_FFTW
#include <fftw3.h>
#include <pthread.h>

enum { ALIGN_FLOATS = 16 }; /* 64 B between workspace sections */

struct wsi_afno_fftw_plan {
    int h, w, c;
    fftwf_plan r2c;   /* one sample [H, W, C] -> spectrum [H, W2, C] */
    fftwf_plan c2c_h; /* spectrum in place: inverse complex DFT along H */
    fftwf_plan c2r_w; /* spectrum [H, W2, C] -> one sample [H, W, C]: real inverse along W */
};

static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

static int w2_of(int w) { return w / 2 + 1; }

ws_status wsi_afno_filter_plan_open_cpu(wsi_afno_fftw_plan **out, const ws_afno_filter_desc *d, ws_error *err) {
    *out = NULL;
    const int H = d->h, W = d->w, C = d->c, W2 = w2_of(W);
    wsi_afno_fftw_plan *p = calloc(1, sizeof *p);
    /* planning arrays only: FFTW_ESTIMATE does not touch them */
    float *real = fftwf_alloc_real((size_t)H * W * C);
    fftwf_complex *spec = fftwf_alloc_complex((size_t)H * W2 * C);
    if (!p || !real || !spec) {
        free(p), fftwf_free(real), fftwf_free(spec);
        return wsi_error(err, WS_ENOMEM, "afno filter: out of memory planning FFTs for %dx%d tokens x %d", H, W, C);
    }
    p->h = H, p->w = W, p->c = C;
    const unsigned flags = FFTW_ESTIMATE | FFTW_UNALIGNED;
    int n2[2] = {H, W}, real_embed[2] = {H, W}, spec_embed[2] = {H, W2}, nh[1] = {H};
    fftwf_iodim along_w = {.n = W, .is = C, .os = C};
    fftwf_iodim loops[2] = {{.n = H, .is = W2 * C, .os = W * C}, {.n = C, .is = 1, .os = 1}};
    pthread_mutex_lock(&planner_lock);
    p->r2c = fftwf_plan_many_dft_r2c(2, n2, C, real, real_embed, C, 1, spec, spec_embed, C, 1, flags);
    p->c2c_h = fftwf_plan_many_dft(1, nh, W2 * C, spec, NULL, W2 * C, 1, spec, NULL, W2 * C, 1, FFTW_BACKWARD, flags);
    p->c2r_w = fftwf_plan_guru_dft_c2r(1, &along_w, 2, loops, spec, real, flags);
    pthread_mutex_unlock(&planner_lock);
    fftwf_free(real);
    fftwf_free(spec);
    if (!p->r2c || !p->c2c_h || !p->c2r_w) {
        wsi_afno_filter_plan_close_cpu(p);
        return wsi_error(err, WS_ELIBRARY, "afno filter: FFTW could not plan the transforms of %dx%d tokens x %d", H,
                         W, C);
    }
    *out = p;
    return WS_OK;
}

void wsi_afno_filter_plan_close_cpu(wsi_afno_fftw_plan *p) {
    if (!p) return;
    pthread_mutex_lock(&planner_lock);
    if (p->r2c) fftwf_destroy_plan(p->r2c);
    if (p->c2c_h) fftwf_destroy_plan(p->c2c_h);
    if (p->c2r_w) fftwf_destroy_plan(p->c2r_w);
    pthread_mutex_unlock(&planner_lock);
    free(p);
}

/* ------------------------------------------------------------------ workspace */

static size_t round_up(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

static int chunk_count(const ws_afno_filter_desc *d, int threads) {
    int t = wsi_omp_threads(threads);
    return t < d->n ? t : d->n;
}

/* Sections of the workspace (floats), in this order. */
typedef struct {
    float *spec;           /* chunks x [H, W2, C] complex */
    float *e1, *e2;        /* expanded weights, NB x [2BS, 2BSF] and NB x [2BSF, 2BS] */
    float *de1, *de2;      /* their gradients (backward) */
    float *do2, *do1;      /* [M, 2C] (later dX) and [M, 2CF] (backward) */
    size_t spec_floats;    /* one chunk's spectrum */
} sections;

static sections carve(const ws_afno_filter_desc *d, int chunks, void *workspace) {
    const size_t C = (size_t)d->c, BS = C / d->blocks, BSF = BS * d->hidden_factor, M = (size_t)d->n * ws_afno_filter_kept(d);
    const size_t e_floats = round_up((size_t)d->blocks * 4 * BS * BSF);
    sections s;
    s.spec_floats = round_up(2 * (size_t)d->h * w2_of(d->w) * C);
    const uintptr_t align = ALIGN_FLOATS * sizeof(float);
    float *f = (float *)(((uintptr_t)workspace + align - 1) & ~(align - 1));
    s.spec = f, f += chunks * s.spec_floats;
    s.e1 = f, f += e_floats;
    s.e2 = f, f += e_floats;
    s.de1 = f, f += e_floats;
    s.de2 = f, f += e_floats;
    s.do2 = f, f += round_up(M * 2 * C);
    s.do1 = f;
    return s;
}

size_t ws_afno_filter_workspace_bytes_cpu(const ws_afno_filter_desc *d, int threads) {
    const size_t C = (size_t)d->c, BS = C / d->blocks, BSF = BS * d->hidden_factor, M = (size_t)d->n * ws_afno_filter_kept(d);
    size_t floats = (size_t)chunk_count(d, threads) * round_up(2 * (size_t)d->h * w2_of(d->w) * C) +
                    4 * round_up((size_t)d->blocks * 4 * BS * BSF) + round_up(M * 2 * C) + round_up(M * 2 * C * d->hidden_factor);
    return (floats + ALIGN_FLOATS) * sizeof(float); /* + one unit: the start is rounded up */
}

/* ------------------------------------------------------------------ the complex MLP as real products */

/* E [2IN, 2OUT] from the complex weight block w (Re at re, Im at im, both [IN, OUT]). */
static void expand(int in, int out, const float *re, const float *im, float *e) {
    const int ld = 2 * out;
    for (int i = 0; i < in; i++)
        for (int o = 0; o < out; o++) {
            float a = re[(size_t)i * out + o], b = im[(size_t)i * out + o];
            e[(size_t)(2 * i) * ld + 2 * o] = a;
            e[(size_t)(2 * i) * ld + 2 * o + 1] = b;
            e[(size_t)(2 * i + 1) * ld + 2 * o] = -b;
            e[(size_t)(2 * i + 1) * ld + 2 * o + 1] = a;
        }
}

/* dW (+=) from dE [2IN, 2OUT]: the adjoint of expand. */
static void fold(int in, int out, const float *de, float *dre, float *dim) {
    const int ld = 2 * out;
    for (int i = 0; i < in; i++)
        for (int o = 0; o < out; o++) {
            const float *r0 = de + (size_t)(2 * i) * ld + 2 * o, *r1 = r0 + ld;
            dre[(size_t)i * out + o] += r0[0] + r1[1];
            dim[(size_t)i * out + o] += r0[1] - r1[0];
        }
}

/* Every block's expanded matrix for a weight [2, NB, IN, OUT]. */
static void expand_all(int nb, int in, int out, const float *w, float *e) {
    const size_t blk = (size_t)in * out;
    for (int b = 0; b < nb; b++) expand(in, out, w + b * blk, w + (nb + b) * blk, e + 4 * b * blk);
}

static void fold_all(int nb, int in, int out, const float *de, float *dw) {
    const size_t blk = (size_t)in * out;
    for (int b = 0; b < nb; b++) fold(in, out, de + 4 * b * blk, dw + b * blk, dw + (nb + b) * blk);
}

/* Y [M, 2*NB*OUT] = X [M, 2*NB*IN] x blockdiag(E): one product per block. beta 0. */
static void block_products(int m, int nb, int in, int out, const float *x, const float *e, float *y) {
    for (int b = 0; b < nb; b++)
        ws_gemm_cpu(0, 0, m, 2 * out, 2 * in, 1.0f, x + 2 * (size_t)b * in, 2 * nb * in, e + 4 * (size_t)b * in * out,
                    2 * out, 0.0f, y + 2 * (size_t)b * out, 2 * nb * out);
}

/* The backward of block_products: dX = dY E^T (=), dE = X^T dY (=). */
static void block_products_backward(int m, int nb, int in, int out, const float *x, const float *e, const float *dy,
                                    float *dx, float *de) {
    for (int b = 0; b < nb; b++) {
        const float *xb = x + 2 * (size_t)b * in, *dyb = dy + 2 * (size_t)b * out, *eb = e + 4 * (size_t)b * in * out;
        ws_gemm_cpu(1, 0, 2 * in, 2 * out, m, 1.0f, xb, 2 * nb * in, dyb, 2 * nb * out, 0.0f,
                    de + 4 * (size_t)b * in * out, 2 * out);
        ws_gemm_cpu(0, 1, m, 2 * in, 2 * out, 1.0f, dyb, 2 * nb * out, eb, 2 * out, 0.0f, dx + 2 * (size_t)b * in,
                    2 * nb * in);
    }
}

/* db[a*width + j] += sum over rows of g[r][2j + a] (Re a = 0, Im a = 1), in double, rows in order. */
static void bias_grad(int rows, int width, const float *g, float *db) {
    for (int j = 0; j < width; j++)
        for (int a = 0; a < 2; a++) {
            double s = 0.0;
            for (int r = 0; r < rows; r++) s += g[(size_t)r * 2 * width + 2 * j + a];
            db[(size_t)a * width + j] += (float)s;
        }
}

static float softshrink(float v, float lambda) { return v > lambda ? v - lambda : v < -lambda ? v + lambda : 0.0f; }

/* ------------------------------------------------------------------ per-sample spectra */

/* spec = rfft2(x) (unnormalised); returns nothing, FFTW cannot fail once planned. */
static void forward_fft(const wsi_afno_fftw_plan *p, const float *x, float *spec) {
    fftwf_execute_dft_r2c(p->r2c, (float *)x, (fftwf_complex *)spec);
}

/* out = irfft2(spec) as the contract defines it (unnormalised); spec is destroyed. */
static void inverse_fft(const wsi_afno_fftw_plan *p, float *spec, float *out) {
    const int H = p->h, W = p->w, C = p->c, W2 = w2_of(W);
    fftwf_execute_dft(p->c2c_h, (fftwf_complex *)spec, (fftwf_complex *)spec);
    for (int r = 0; r < H; r++) {
        float *row = spec + 2 * (size_t)r * W2 * C;
        for (int c = 0; c < C; c++) {
            row[2 * c + 1] = 0.0f;                                               /* column 0 */
            if (W % 2 == 0) row[2 * ((size_t)(W2 - 1) * C + c) + 1] = 0.0f;       /* column W/2 */
        }
    }
    fftwf_execute_dft_c2r(p->c2r_w, (fftwf_complex *)spec, out);
}

/* weight of column l in irfft2: 1 for l = 0 and the Nyquist column W/2 (W even), else 2 */
static float column_weight(int l, int w) { return (l == 0 || (w % 2 == 0 && l == w / 2)) ? 1.0f : 2.0f; }

/* kept [K, 2C] (=) the kept modes of one sample's spectrum [H, W2, C], times scale (and
 * times c_l where weighted: the adjoint of irfft2) */
static void gather(const ws_afno_filter_desc *d, const float *spec, float *kept, float scale, int weighted) {
    const int C = d->c, W2 = w2_of(d->w);
    size_t m = 0;
    for (int k = d->row0; k < d->row1; k++)
        for (int l = 0; l < d->cols; l++, m++) {
            float s = weighted ? scale * column_weight(l, d->w) : scale;
            const float *src = spec + 2 * ((size_t)k * W2 + l) * C;
            float *dst = kept + 2 * m * C;
            for (int j = 0; j < 2 * C; j++) dst[j] = s * src[j];
        }
}

/* spec (=) 0 except on the kept modes: softshrink(kept) (forward), or kept / c_l (backward:
 * the adjoint of rfft2 is irfft2 of dX / c_l) */
typedef enum { SCATTER_SOFTSHRINK, SCATTER_UNWEIGHT } scatter_kind;

static void scatter(const ws_afno_filter_desc *d, float *spec, const float *kept, scatter_kind kind) {
    const int C = d->c, W2 = w2_of(d->w);
    memset(spec, 0, 2 * (size_t)d->h * W2 * C * sizeof *spec);
    size_t m = 0;
    for (int k = d->row0; k < d->row1; k++)
        for (int l = 0; l < d->cols; l++, m++) {
            float *dst = spec + 2 * ((size_t)k * W2 + l) * C;
            const float *src = kept + 2 * m * C;
            if (kind == SCATTER_SOFTSHRINK) {
                for (int j = 0; j < 2 * C; j++) dst[j] = softshrink(src[j], d->lambda);
            } else {
                float inv = 1.0f / column_weight(l, d->w);
                for (int j = 0; j < 2 * C; j++) dst[j] = inv * src[j];
            }
        }
}

/* The per-sample halves, each with the batch cut into `chunks` contiguous runs, one per
 * thread, each thread on its own spectrum buffer. */

/* kept_i (=) = gather(rfft2(src_i)) x scale (x c_l where weighted); where mask is given
 * (the saved O2), zero wherever softshrink did not pass its input (|O2| <= lambda). */
static void to_spectrum(const wsi_afno_fftw_plan *p, const ws_afno_filter_desc *d, int chunks, const sections *s,
                        const float *src, float *kept, float scale, int weighted, const float *mask) {
    const size_t LC = (size_t)d->h * d->w * d->c, KC2 = ws_afno_filter_kept(d) * 2 * d->c;
#ifdef _OPENMP
#pragma omp parallel for num_threads(chunks) schedule(static) if (chunks > 1)
#endif
    for (int t = 0; t < chunks; t++) {
        float *spec = s->spec + t * s->spec_floats;
        for (int i = (int)((long long)d->n * t / chunks); i < (int)((long long)d->n * (t + 1) / chunks); i++) {
            float *ki = kept + i * KC2;
            forward_fft(p, src + i * LC, spec);
            gather(d, spec, ki, scale, weighted);
            if (mask)
                for (size_t e = 0; e < KC2; e++)
                    if (!(fabsf(mask[i * KC2 + e]) > d->lambda)) ki[e] = 0.0f;
        }
    }
}

/* dst_i (=) = scale x irfft2(scatter(kept_i)) + skip_i */
static void from_spectrum(const wsi_afno_fftw_plan *p, const ws_afno_filter_desc *d, int chunks, const sections *s,
                          const float *kept, scatter_kind kind, float scale, const float *skip, float *dst) {
    const size_t LC = (size_t)d->h * d->w * d->c, KC2 = ws_afno_filter_kept(d) * 2 * d->c;
#ifdef _OPENMP
#pragma omp parallel for num_threads(chunks) schedule(static) if (chunks > 1)
#endif
    for (int t = 0; t < chunks; t++) {
        float *spec = s->spec + t * s->spec_floats;
        for (int i = (int)((long long)d->n * t / chunks); i < (int)((long long)d->n * (t + 1) / chunks); i++) {
            float *di = dst + i * LC;
            const float *si = skip + i * LC;
            scatter(d, spec, kept + i * KC2, kind);
            inverse_fft(p, spec, di);
            for (size_t e = 0; e < LC; e++) di[e] = scale * di[e] + si[e];
        }
    }
}

/* ------------------------------------------------------------------ forward and backward */

void ws_afno_filter_forward_cpu(const wsi_afno_fftw_plan *p, const ws_afno_filter_desc *d, int threads, float *y,
                                float *saved, const float *x, const float *w1, const float *b1, const float *w2,
                                const float *b2, void *workspace) {
    const int C = d->c, NB = d->blocks, BS = C / NB, BSF = BS * d->hidden_factor, CF = C * d->hidden_factor;
    const size_t M = (size_t)d->n * ws_afno_filter_kept(d);
    const float scale = (float)(1.0 / sqrt((double)d->h * d->w));
    const int chunks = chunk_count(d, threads);
    sections s = carve(d, chunks, workspace);
    float *xs = saved, *o1 = saved + M * 2 * C, *o2 = o1 + M * 2 * CF;

    to_spectrum(p, d, chunks, &s, x, xs, scale, 0, NULL);
    if (M > 0) {
        expand_all(NB, BS, BSF, w1, s.e1);
        expand_all(NB, BSF, BS, w2, s.e2);
        block_products((int)M, NB, BS, BSF, xs, s.e1, o1);
        for (size_t r = 0; r < M; r++)
            for (int j = 0; j < CF; j++)
                for (int a = 0; a < 2; a++) {
                    float *v = o1 + r * 2 * CF + 2 * j + a;
                    float u = *v + b1[(size_t)a * CF + j];
                    *v = u < 0.0f ? 0.0f : u; /* NaN propagates, as F.relu */
                }
        block_products((int)M, NB, BSF, BS, o1, s.e2, o2);
        for (size_t r = 0; r < M; r++)
            for (int j = 0; j < C; j++)
                for (int a = 0; a < 2; a++) o2[r * 2 * C + 2 * j + a] += b2[(size_t)a * C + j];
    }
    from_spectrum(p, d, chunks, &s, o2, SCATTER_SOFTSHRINK, scale, x, y);
}

void ws_afno_filter_backward_cpu(const wsi_afno_fftw_plan *p, const ws_afno_filter_desc *d, int threads,
                                 float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dy,
                                 const float *saved, const float *w1, const float *w2, void *workspace) {
    const int C = d->c, NB = d->blocks, BS = C / NB, BSF = BS * d->hidden_factor, CF = C * d->hidden_factor;
    const size_t M = (size_t)d->n * ws_afno_filter_kept(d);
    const float scale = (float)(1.0 / sqrt((double)d->h * d->w));
    const int chunks = chunk_count(d, threads);
    sections s = carve(d, chunks, workspace);
    const float *xs = saved, *o1 = saved + M * 2 * C, *o2 = o1 + M * 2 * CF;

    /* dO2 = c_l rfft2(dy) / sqrt(HW) on the kept modes, where softshrink passed its input */
    to_spectrum(p, d, chunks, &s, dy, s.do2, scale, 1, o2);
    if (M > 0) {
        expand_all(NB, BS, BSF, w1, s.e1);
        expand_all(NB, BSF, BS, w2, s.e2);
        bias_grad((int)M, C, s.do2, db2);
        block_products_backward((int)M, NB, BSF, BS, o1, s.e2, s.do2, s.do1, s.de2);
        fold_all(NB, BSF, BS, s.de2, dw2);
        for (size_t e = 0; e < M * 2 * CF; e++)
            if (!(o1[e] > 0.0f)) s.do1[e] = 0.0f; /* ReLU's gradient, from its output */
        bias_grad((int)M, CF, s.do1, db1);
        /* dX lands in do2, which is spent */
        block_products_backward((int)M, NB, BS, BSF, xs, s.e1, s.do1, s.do2, s.de1);
        fold_all(NB, BS, BSF, s.de1, dw1);
    }
    /* dx = irfft2(dX / c_l) / sqrt(HW) + dy (with nothing kept, the spectrum is all 0) */
    from_spectrum(p, d, chunks, &s, s.do2, SCATTER_UNWEIGHT, scale, dy, dx);
}

#else /* no FFTW in this build */

struct wsi_afno_fftw_plan {
    int unused;
};

ws_status wsi_afno_filter_plan_open_cpu(wsi_afno_fftw_plan **out, const ws_afno_filter_desc *d, ws_error *err) {
    (void)d;
    *out = NULL;
    return wsi_error(err, WS_ENOTSUP,
                     "afno filter: this build has no FFTW (install libfftw3-dev, e.g. scripts/install-deps.sh, "
                     "and reconfigure with -DWS_WITH_FFTW=ON)");
}

void wsi_afno_filter_plan_close_cpu(wsi_afno_fftw_plan *p) { free(p); }
size_t ws_afno_filter_workspace_bytes_cpu(const ws_afno_filter_desc *d, int threads) {
    (void)d, (void)threads;
    return 0;
}
/* unreachable: no plan can exist without FFTW, and the dispatcher requires one */
void ws_afno_filter_forward_cpu(const wsi_afno_fftw_plan *p, const ws_afno_filter_desc *d, int threads, float *y,
                                float *saved, const float *x, const float *w1, const float *b1, const float *w2,
                                const float *b2, void *workspace) {
    (void)p, (void)d, (void)threads, (void)y, (void)saved, (void)x, (void)w1, (void)b1, (void)w2, (void)b2;
    (void)workspace;
    ws_fatal("afno filter: no FFTW in this build");
}
void ws_afno_filter_backward_cpu(const wsi_afno_fftw_plan *p, const ws_afno_filter_desc *d, int threads,
                                 float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dy,
                                 const float *saved, const float *w1, const float *w2, void *workspace) {
    (void)p, (void)d, (void)threads, (void)dx, (void)dw1, (void)db1, (void)dw2, (void)db2, (void)dy, (void)saved;
    (void)w1, (void)w2, (void)workspace;
    ws_fatal("afno filter: no FFTW in this build");
}

#endif
