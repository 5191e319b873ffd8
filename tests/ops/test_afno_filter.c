/* tests/ops/test_afno_filter.c - the AFNO spectral filter (src/ops/afno_filter_cpu.c on
 * FFTW, dispatch in src/ops/afno_filter.c) against a direct transcription of FourCastNet's
 * AFNO2D.forward in double, with the DFTs written out as sums (no FFT library):
 *   X = sum_nm x e^{-i theta} / sqrt(HW) on the kept modes, the complex MLP as einsum does
 *   it, softshrink, y = Re(sum_kl c_l S e^{+i theta}) / sqrt(HW) + x  (c_l as in the
 *   contract: PyTorch's irfft2 of a non-Hermitian spectrum).
 * Gradients: central differences of that double reference with a step of 1e-6, compared
 * with the op's backward, for x and every weight: this proves the Hermitian-symmetry
 * factor c_l (dS = c_l rfft2(dy)) and its inverse in rfft2's adjoint on shapes whose kept
 * columns contain column 0 and the Nyquist column (W even), no Nyquist column (W odd), a
 * partial hard-thresholding band, a single row, and no kept mode at all. In double the
 * step is far from every ReLU and softshrink kink (a step of 1e-2 on the fp32 op, as
 * WS_GRADCHECK takes, crosses them), and the truncation (h^2) and rounding (1e-16/h) errors
 * are ~1e-10, so what remains is the op's fp32 error. Also: = and += contracts, thread
 * counts, workspace bounds, the descriptor and statuses. Skips (77) without FFTW. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/afno_filter.h"

#include <complex.h>

typedef struct {
    int n, h, w, c, blocks, factor;
    double fraction;
    float lambda;
} shape;

static const shape SHAPES[] = {
    {2, 8, 6, 8, 2, 1, 1.0, 0.05f},   /* W even: columns 0..3 kept, 3 = W/2 the Nyquist column */
    {1, 5, 7, 6, 3, 2, 1.0, 0.05f},   /* H and W odd, hidden factor 2, the column cut (3 of 4) */
    {3, 6, 8, 4, 1, 1, 0.5, 0.02f},   /* hard thresholding: rows 2..5, columns 0..1 */
    {2, 1, 9, 2, 1, 1, 1.0, 0.0f},    /* one token row: only mode (0, 0); lambda 0 */
    {1, 4, 4, 4, 2, 1, 0.0, 0.05f},   /* nothing kept: y = x */
};
enum { N_SHAPES = sizeof SHAPES / sizeof *SHAPES };

static ws_exec cpu(int threads) { return ws_exec_cpu(threads); }

typedef struct {
    shape s;
    ws_afno_filter_desc d;
    int threads;
    size_t nx, nw1, nb1, nw2, nb2;
    float *x, *w1, *b1, *w2, *b2, *y, *dy, *dx, *dw1, *db1, *dw2, *db2, *saved;
    void *ws;
    ws_afno_filter_plan *plan;
} problem;

static problem make(ws_rng *rng, shape s, int threads) {
    problem p = {.s = s, .threads = threads};
    p.d = ws_afno_filter_desc_make(s.n, s.h, s.w, s.c, s.blocks, s.factor, s.fraction, s.lambda);
    int bs = s.c / s.blocks, bsf = bs * s.factor;
    p.nx = (size_t)s.n * s.h * s.w * s.c;
    p.nw1 = (size_t)2 * s.blocks * bs * bsf, p.nb1 = (size_t)2 * s.blocks * bsf;
    p.nw2 = p.nw1, p.nb2 = (size_t)2 * s.blocks * bs;
    p.x = ws_test_floats(p.nx), p.y = ws_test_floats(p.nx), p.dy = ws_test_floats(p.nx), p.dx = ws_test_floats(p.nx);
    p.w1 = ws_test_floats(p.nw1), p.b1 = ws_test_floats(p.nb1), p.w2 = ws_test_floats(p.nw2), p.b2 = ws_test_floats(p.nb2);
    p.dw1 = ws_test_floats(p.nw1), p.db1 = ws_test_floats(p.nb1), p.dw2 = ws_test_floats(p.nw2), p.db2 = ws_test_floats(p.nb2);
    p.saved = ws_test_floats(ws_afno_filter_saved_floats(&p.d));
    ws_test_fill_normal(rng, p.x, p.nx, 0.0, 1.0);
    /* weights of unit gain, so that the spectral path is as large as the skip */
    ws_test_fill_normal(rng, p.w1, p.nw1, 0.0, 1.0 / sqrt(bs));
    ws_test_fill_normal(rng, p.b1, p.nb1, 0.0, 0.3);
    ws_test_fill_normal(rng, p.w2, p.nw2, 0.0, 1.0 / sqrt(bsf));
    ws_test_fill_normal(rng, p.b2, p.nb2, 0.0, 0.3);
    ws_test_fill_normal(rng, p.dy, p.nx, 0.0, 1.0);
    ws_test_poison(p.y, p.nx * sizeof(float)), ws_test_poison(p.dx, p.nx * sizeof(float));
    ws_test_fill(p.dw1, p.nw1, 0.5f), ws_test_fill(p.db1, p.nb1, 0.5f);
    ws_test_fill(p.dw2, p.nw2, 0.5f), ws_test_fill(p.db2, p.nb2, 0.5f);
    ws_exec ex = cpu(threads);
    ws_error err = {0};
    WS_TEST_OK(ws_afno_filter_plan_open(&p.plan, &ex, &p.d, &err));
    p.ws = malloc(ws_afno_filter_workspace_bytes(&ex, &p.d));
    assert_non_null(p.ws);
    return p;
}

static void release(problem *p) {
    free(p->x), free(p->y), free(p->dy), free(p->dx), free(p->w1), free(p->b1), free(p->w2), free(p->b2);
    free(p->dw1), free(p->db1), free(p->dw2), free(p->db2), free(p->saved), free(p->ws);
    ws_afno_filter_plan_close(p->plan);
}

/* ------------------------------------------------------------------ the double reference */

typedef struct {
    const double *x, *w1, *b1, *w2, *b2; /* the same layouts as the op's */
} ref_args;

static double softshrink(double v, double l) { return v > l ? v - l : v < -l ? v + l : 0.0; }
static double relu(double v) { return v > 0 ? v : 0; }

/* y [N, H, W, C] = AFNO2D(x) in double */
static void reference(const shape *s, const ws_afno_filter_desc *d, ref_args a, double *y) {
    const int H = s->h, W = s->w, C = s->c, NB = s->blocks, BS = C / NB, BSF = BS * s->factor, W2 = W / 2 + 1;
    const double norm = 1.0 / sqrt((double)H * W), two_pi = 2.0 * M_PI;
    double complex *X = malloc((size_t)H * W2 * C * sizeof *X), *S = malloc((size_t)H * W2 * C * sizeof *S);
    double complex *o1 = malloc((size_t)BSF * sizeof *o1);
    for (int i = 0; i < s->n; i++) {
        const double *xi = a.x + (size_t)i * H * W * C;
        double *yi = y + (size_t)i * H * W * C;
        for (size_t e = 0; e < (size_t)H * W2 * C; e++) S[e] = 0;
        for (int k = d->row0; k < d->row1; k++)
            for (int l = 0; l < d->cols; l++)
                for (int c = 0; c < C; c++) {
                    double complex sum = 0;
                    for (int r = 0; r < H; r++)
                        for (int m = 0; m < W; m++)
                            sum += xi[((size_t)r * W + m) * C + c] * cexp(-I * two_pi * ((double)k * r / H + (double)l * m / W));
                    X[((size_t)k * W2 + l) * C + c] = norm * sum;
                }
        for (int k = d->row0; k < d->row1; k++)
            for (int l = 0; l < d->cols; l++)
                for (int b = 0; b < NB; b++) {
                    const double complex *z = X + ((size_t)k * W2 + l) * C + b * BS;
                    for (int o = 0; o < BSF; o++) {
                        /* einsum '...bi,bio->...bo' on Re and Im as AFNO2D writes it */
                        double re = a.b1[(size_t)b * BSF + o], im = a.b1[((size_t)NB + b) * BSF + o];
                        for (int j = 0; j < BS; j++) {
                            double wr = a.w1[((size_t)b * BS + j) * BSF + o], wi = a.w1[(((size_t)NB + b) * BS + j) * BSF + o];
                            re += creal(z[j]) * wr - cimag(z[j]) * wi;
                            im += cimag(z[j]) * wr + creal(z[j]) * wi;
                        }
                        o1[o] = relu(re) + I * relu(im);
                    }
                    for (int o = 0; o < BS; o++) {
                        double re = a.b2[(size_t)b * BS + o], im = a.b2[((size_t)NB + b) * BS + o];
                        for (int j = 0; j < BSF; j++) {
                            double wr = a.w2[((size_t)b * BSF + j) * BS + o], wi = a.w2[(((size_t)NB + b) * BSF + j) * BS + o];
                            re += creal(o1[j]) * wr - cimag(o1[j]) * wi;
                            im += cimag(o1[j]) * wr + creal(o1[j]) * wi;
                        }
                        S[((size_t)k * W2 + l) * C + b * BS + o] = softshrink(re, s->lambda) + I * softshrink(im, s->lambda);
                    }
                }
        for (int r = 0; r < H; r++)
            for (int m = 0; m < W; m++)
                for (int c = 0; c < C; c++) {
                    double sum = 0;
                    for (int k = d->row0; k < d->row1; k++)
                        for (int l = 0; l < d->cols; l++) {
                            double cl = (l == 0 || (W % 2 == 0 && l == W / 2)) ? 1.0 : 2.0;
                            sum += cl * creal(S[((size_t)k * W2 + l) * C + c] *
                                              cexp(I * two_pi * ((double)k * r / H + (double)l * m / W)));
                        }
                    size_t e = ((size_t)r * W + m) * C + c;
                    yi[e] = norm * sum + xi[e];
                }
    }
    free(X), free(S), free(o1);
}

typedef struct {
    problem *p;
    double *x, *w1, *b1, *w2, *b2, *y, *r;
} ref_state;

static ref_state ref_make(problem *p) {
    ref_state rs = {.p = p};
    rs.x = malloc(p->nx * sizeof(double)), rs.y = malloc(p->nx * sizeof(double)), rs.r = malloc(p->nx * sizeof(double));
    rs.w1 = malloc(p->nw1 * sizeof(double)), rs.b1 = malloc(p->nb1 * sizeof(double));
    rs.w2 = malloc(p->nw2 * sizeof(double)), rs.b2 = malloc(p->nb2 * sizeof(double));
    for (size_t i = 0; i < p->nx; i++) rs.x[i] = p->x[i], rs.r[i] = p->dy[i];
    for (size_t i = 0; i < p->nw1; i++) rs.w1[i] = p->w1[i], rs.w2[i] = p->w2[i];
    for (size_t i = 0; i < p->nb1; i++) rs.b1[i] = p->b1[i];
    for (size_t i = 0; i < p->nb2; i++) rs.b2[i] = p->b2[i];
    return rs;
}

static void ref_free(ref_state *rs) { free(rs->x), free(rs->y), free(rs->r), free(rs->w1), free(rs->b1), free(rs->w2), free(rs->b2); }

static double ref_loss(ref_state *rs) {
    reference(&rs->p->s, &rs->p->d, (ref_args){rs->x, rs->w1, rs->b1, rs->w2, rs->b2}, rs->y);
    double L = 0;
    for (size_t i = 0; i < rs->p->nx; i++) L += rs->r[i] * rs->y[i];
    return L;
}

/* Central differences of the reference's L = sum(r * y) with respect to v[0..n) (moved
 * in place, restored), into g; onto `base` (the op's += start value). */
static void ref_gradient(ref_state *rs, double *v, size_t n, double base, double *g) {
    for (size_t i = 0; i < n; i++) {
        double v0 = v[i], h = 1e-6 * (fabs(v0) > 1 ? fabs(v0) : 1);
        v[i] = v0 + h;
        double lp = ref_loss(rs);
        v[i] = v0 - h;
        double lm = ref_loss(rs);
        v[i] = v0;
        g[i] = base + (lp - lm) / (2 * h);
    }
}

/* |got - want| <= 2e-4 * max|want| + 1e-4 * |want|: fp32 FFTs and products over the
 * tensor's scale (measured worst below 1e-5 of it); a wrong formula (c_l left out, a
 * transposed block) is off by O(1) of the scale. */
static void close_to_scale(const float *got, const double *want, size_t n, double base, const char *what) {
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i] - base));
    ws_test_close_(got, want, NULL, n, (ws_tol){1e-4, 2e-4 * (scale > 0 ? scale : 1)}, what, __FILE__, __LINE__);
}

/* ------------------------------------------------------------------ tests */

static void test_afno_filter_descriptor(void **state) {
    (void)state;
    /* FourCastNet's full size: 90 x 180 tokens; kept 46 of 46 rows... of 90: all rows, and
     * 46 of the 91 columns */
    ws_afno_filter_desc d = ws_afno_filter_desc_make(1, 90, 180, 768, 8, 1, 1.0, 0.01f);
    assert_int_equal(d.kept_modes, 46);
    assert_int_equal(d.row0, 0);
    assert_int_equal(d.row1, 90);
    assert_int_equal(d.cols, 46);
    assert_int_equal(ws_afno_filter_kept(&d), 90 * 46);
    d = ws_afno_filter_desc_make(1, 6, 8, 4, 1, 1, 0.5, 0.0f); /* TM 4, KM 2: rows [2, 6) */
    assert_int_equal(d.row0, 2);
    assert_int_equal(d.row1, 6);
    assert_int_equal(d.cols, 2);
    d = ws_afno_filter_desc_make(1, 8, 8, 4, 1, 1, 0.3, 0.0f); /* int(5 * 0.3) = 1: rows [4, 6) */
    assert_int_equal(d.kept_modes, 1);
    assert_int_equal(d.row0, 4);
    assert_int_equal(d.row1, 6);
    /* rejected: fraction above 1, blocks not dividing C, negative lambda */
    ws_afno_filter_desc bad[3] = {ws_afno_filter_desc_make(1, 8, 8, 4, 1, 1, 1.5, 0.0f),
                                  ws_afno_filter_desc_make(1, 8, 8, 6, 4, 1, 1.0, 0.0f),
                                  ws_afno_filter_desc_make(1, 8, 8, 4, 1, 1, 1.0, -1.0f)};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ws_afno_filter_kept(&bad[i]), 0);
        assert_int_equal(ws_afno_filter_saved_floats(&bad[i]), 0);
    }
}

static void test_afno_filter_forward_matches_reference(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9601);
    for (int k = 0; k < N_SHAPES; k++) {
        problem p = make(&rng, SHAPES[k], 1);
        ref_state rs = ref_make(&p);
        ref_loss(&rs);
        ws_exec ex = cpu(1);
        WS_TEST_STATUS(WS_OK, ws_afno_filter_forward(&ex, p.plan, &p.d, p.y, p.saved, p.x, p.w1, p.b1, p.w2, p.b2, p.ws));
        WS_TEST_CLOSE(p.y, rs.y, p.nx, ((ws_tol){1e-4, 1e-5}));
        if (ws_afno_filter_kept(&p.d) == 0) WS_TEST_BITWISE(p.y, p.x, p.nx); /* nothing kept: y = x */
        ref_free(&rs);
        release(&p);
    }
}

static void test_afno_filter_gradients_match_reference_differences(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9602);
    for (int k = 0; k < N_SHAPES; k++) {
        problem p = make(&rng, SHAPES[k], 1);
        ws_exec ex = cpu(1);
        WS_TEST_STATUS(WS_OK, ws_afno_filter_forward(&ex, p.plan, &p.d, p.y, p.saved, p.x, p.w1, p.b1, p.w2, p.b2, p.ws));
        WS_TEST_STATUS(WS_OK, ws_afno_filter_backward(&ex, p.plan, &p.d, p.dx, p.dw1, p.db1, p.dw2, p.db2, p.dy,
                                                      p.saved, p.w1, p.w2, p.ws));
        ref_state rs = ref_make(&p);
        double *g = malloc(p.nx * sizeof *g);
        ref_gradient(&rs, rs.x, p.nx, 0.0, g);
        close_to_scale(p.dx, g, p.nx, 0.0, "dx");
        ref_gradient(&rs, rs.w1, p.nw1, 0.5, g);
        close_to_scale(p.dw1, g, p.nw1, 0.5, "dw1");
        ref_gradient(&rs, rs.b1, p.nb1, 0.5, g);
        close_to_scale(p.db1, g, p.nb1, 0.5, "db1");
        ref_gradient(&rs, rs.w2, p.nw2, 0.5, g);
        close_to_scale(p.dw2, g, p.nw2, 0.5, "dw2");
        ref_gradient(&rs, rs.b2, p.nb2, 0.5, g);
        close_to_scale(p.db2, g, p.nb2, 0.5, "db2");
        free(g);
        ref_free(&rs);
        release(&p);
    }
}

/* The Hermitian-symmetry subtlety on its own: with an identity MLP (BS 1, W = 1, biases
 * +100 then -100 so that ReLU passes everything, lambda 0) the spectral path is the linear
 * map A(x) = irfft2(cut(rfft2(x))), and backward must give its transpose: dx - v = A^T(v).
 * The dot-product test <A x, v> = <x, A^T v> fails by O(1) if rfft2's gradient omits c_l
 * or irfft2's adjoint forgets to divide by it (both mutations were run: each fails this
 * test and the difference test above). */
static void test_afno_filter_adjoint_identity(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9603);
    shape s = {1, 6, 6, 2, 2, 1, 1.0, 0.0f}; /* BS 1: every block is one complex number */
    problem p = make(&rng, s, 1);
    /* O1 = Z + 100 (Re and Im), O2 = O1 - 100 = Z: the spectral path is irfft2(cut(rfft2 x)) */
    for (int b = 0; b < 2; b++) {
        p.w1[b] = 1.0f, p.w1[2 + b] = 0.0f, p.w2[b] = 1.0f, p.w2[2 + b] = 0.0f;
        p.b1[b] = 100.0f, p.b1[2 + b] = 100.0f, p.b2[b] = -100.0f, p.b2[2 + b] = -100.0f;
    }
    ws_exec ex = cpu(1);
    float *v = ws_test_floats(p.nx), *ax = ws_test_floats(p.nx);
    ws_test_fill_normal(&rng, v, p.nx, 0.0, 1.0);
    WS_TEST_STATUS(WS_OK, ws_afno_filter_forward(&ex, p.plan, &p.d, p.y, p.saved, p.x, p.w1, p.b1, p.w2, p.b2, p.ws));
    WS_TEST_STATUS(WS_OK, ws_afno_filter_backward(&ex, p.plan, &p.d, ax, p.dw1, p.db1, p.dw2, p.db2, v, p.saved,
                                                  p.w1, p.w2, p.ws));
    /* A(x) = y - x, A^T(v) = dx - v: <A x, v> = <x, A^T v> */
    double lhs = 0, rhs = 0, mag = 0;
    for (size_t i = 0; i < p.nx; i++) {
        lhs += ((double)p.y[i] - p.x[i]) * v[i];
        rhs += (double)p.x[i] * ((double)ax[i] - v[i]);
        mag += fabs(((double)p.y[i] - p.x[i]) * v[i]);
    }
    WS_TEST_NEAR(lhs, rhs, 0, 1e-4 * mag);
    /* and the projection is not trivial: its trace-like pairing is far from 0 */
    assert_true(fabs(lhs) > 1e-2 * mag);
    free(v), free(ax);
    release(&p);
}

/* Samples are independent and the products span the batch: the same bits for any team. */
static void test_afno_filter_threads(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9604);
    problem a = make(&rng, SHAPES[2], 1), b = make(&rng, SHAPES[2], 3);
    memcpy(b.x, a.x, a.nx * sizeof(float)), memcpy(b.dy, a.dy, a.nx * sizeof(float));
    memcpy(b.w1, a.w1, a.nw1 * sizeof(float)), memcpy(b.w2, a.w2, a.nw2 * sizeof(float));
    memcpy(b.b1, a.b1, a.nb1 * sizeof(float)), memcpy(b.b2, a.b2, a.nb2 * sizeof(float));
    ws_exec e1 = cpu(1), e3 = cpu(3);
    WS_TEST_STATUS(WS_OK, ws_afno_filter_forward(&e1, a.plan, &a.d, a.y, a.saved, a.x, a.w1, a.b1, a.w2, a.b2, a.ws));
    WS_TEST_STATUS(WS_OK, ws_afno_filter_forward(&e3, b.plan, &b.d, b.y, b.saved, b.x, b.w1, b.b1, b.w2, b.b2, b.ws));
    WS_TEST_BITWISE(a.y, b.y, a.nx);
    WS_TEST_STATUS(WS_OK, ws_afno_filter_backward(&e1, a.plan, &a.d, a.dx, a.dw1, a.db1, a.dw2, a.db2, a.dy, a.saved,
                                                  a.w1, a.w2, a.ws));
    WS_TEST_STATUS(WS_OK, ws_afno_filter_backward(&e3, b.plan, &b.d, b.dx, b.dw1, b.db1, b.dw2, b.db2, b.dy, b.saved,
                                                  b.w1, b.w2, b.ws));
    WS_TEST_BITWISE(a.dx, b.dx, a.nx);
    WS_TEST_BITWISE(a.dw1, b.dw1, a.nw1);
    WS_TEST_BITWISE(a.db2, b.db2, a.nb2);
    /* a second backward adds the same gradient again (+=), dx is overwritten (=) */
    float *dw1 = ws_test_floats(a.nw1);
    memcpy(dw1, a.dw1, a.nw1 * sizeof(float));
    WS_TEST_STATUS(WS_OK, ws_afno_filter_backward(&e1, a.plan, &a.d, a.dx, a.dw1, a.db1, a.dw2, a.db2, a.dy, a.saved,
                                                  a.w1, a.w2, a.ws));
    WS_TEST_BITWISE(a.dx, b.dx, a.nx);
    for (size_t i = 0; i < a.nw1; i++) WS_TEST_NEAR(a.dw1[i] - 0.5, 2.0 * (dw1[i] - 0.5), 1e-5, 1e-6);
    free(dw1);
    release(&a), release(&b);
}

/* The op stays inside the bytes it asked for, from an unaligned start too. */
static void test_afno_filter_workspace_bounds(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9605);
    const unsigned char guard = 0xA5;
    for (int k = 0; k < N_SHAPES; k++)
        for (int threads = 1; threads <= 2; threads++) {
            problem p = make(&rng, SHAPES[k], threads);
            ws_exec ex = cpu(threads);
            size_t bytes = ws_afno_filter_workspace_bytes(&ex, &p.d);
            unsigned char *raw = malloc(bytes + 4 + 64);
            memset(raw, guard, bytes + 4 + 64);
            void *ws = raw + 4;
            WS_TEST_STATUS(WS_OK, ws_afno_filter_forward(&ex, p.plan, &p.d, p.y, p.saved, p.x, p.w1, p.b1, p.w2, p.b2, ws));
            WS_TEST_STATUS(WS_OK, ws_afno_filter_backward(&ex, p.plan, &p.d, p.dx, p.dw1, p.db1, p.dw2, p.db2, p.dy,
                                                          p.saved, p.w1, p.w2, ws));
            for (size_t i = 0; i < 4; i++) assert_int_equal(raw[i], guard);
            for (size_t i = 4 + bytes; i < bytes + 4 + 64; i++) assert_int_equal(raw[i], guard);
            WS_TEST_NO_NAN(p.y, p.nx);
            WS_TEST_NO_NAN(p.dx, p.nx);
            free(raw);
            release(&p);
        }
}

static void test_afno_filter_dispatch(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9606);
    problem p = make(&rng, SHAPES[0], 1), q = make(&rng, SHAPES[1], 1);
    ws_exec ex = cpu(1), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW}, half = {WS_DEVICE_CPU, WS_BF16, 1, NULL, WS_NCHW};
    ws_error err = {0};
    ws_afno_filter_plan *none = NULL;
    assert_int_equal(ws_afno_filter_plan_open(&none, &gpu, &p.d, &err), WS_ENOTSUP);
    assert_null(none);
    ws_afno_filter_desc bad = p.d;
    bad.cols += 1; /* not from desc_make */
    assert_int_equal(ws_afno_filter_plan_open(&none, &ex, &bad, &err), WS_EINVAL);
    WS_TEST_STATUS(WS_EINVAL, ws_afno_filter_forward(&ex, p.plan, &bad, p.y, p.saved, p.x, p.w1, p.b1, p.w2, p.b2, p.ws));
    /* a plan for other sizes */
    WS_TEST_STATUS(WS_EINVAL, ws_afno_filter_forward(&ex, q.plan, &p.d, p.y, p.saved, p.x, p.w1, p.b1, p.w2, p.b2, p.ws));
    WS_TEST_STATUS(WS_EINVAL, ws_afno_filter_forward(&ex, NULL, &p.d, p.y, p.saved, p.x, p.w1, p.b1, p.w2, p.b2, p.ws));
    WS_TEST_STATUS(WS_ENOTSUP, ws_afno_filter_forward(&gpu, p.plan, &p.d, p.y, p.saved, p.x, p.w1, p.b1, p.w2, p.b2, p.ws));
    WS_TEST_STATUS(WS_ENOTSUP, ws_afno_filter_forward(&half, p.plan, &p.d, p.y, p.saved, p.x, p.w1, p.b1, p.w2, p.b2, p.ws));
    WS_TEST_STATUS(WS_EINVAL, ws_afno_filter_forward(&ex, p.plan, &p.d, p.y, NULL, p.x, p.w1, p.b1, p.w2, p.b2, p.ws));
    WS_TEST_STATUS(WS_EINVAL, ws_afno_filter_backward(&ex, p.plan, &p.d, p.dx, p.dw1, NULL, p.dw2, p.db2, p.dy,
                                                      p.saved, p.w1, p.w2, p.ws));
    assert_int_equal(ws_afno_filter_workspace_bytes(&gpu, &p.d), 0);
    ws_afno_filter_plan_close(NULL);
    release(&p), release(&q);
}

int main(void) {
    ws_afno_filter_desc d = ws_afno_filter_desc_make(1, 4, 4, 2, 1, 1, 1.0, 0.0f);
    ws_exec ex = cpu(1);
    ws_afno_filter_plan *plan = NULL;
    ws_error err = {0};
    if (ws_afno_filter_plan_open(&plan, &ex, &d, &err) == WS_ENOTSUP) {
        fprintf(stderr, "test_afno_filter: skipped: %s\n", err.msg);
        return 77;
    }
    ws_afno_filter_plan_close(plan);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_afno_filter_descriptor),
        cmocka_unit_test(test_afno_filter_forward_matches_reference),
        cmocka_unit_test(test_afno_filter_gradients_match_reference_differences),
        cmocka_unit_test(test_afno_filter_adjoint_identity),
        cmocka_unit_test(test_afno_filter_threads),
        cmocka_unit_test(test_afno_filter_workspace_bounds),
        cmocka_unit_test(test_afno_filter_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
