/* tests/ops/test_pool.c - max pooling and global average pooling (src/ops/pool_cpu.c,
 * dispatch in src/ops/pool.c) against direct loops: values, argmax and PyTorch's tie and
 * NaN rules, backward scatter over overlapping windows, finite differences, = contracts,
 * thread counts and statuses.
 * Shapes: x, dx [N,C,H,W]; maxpool y, dy, argmax [N,C,P,Q]; avgpool y, dy [N,C]. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/pool.h"

typedef struct {
    int n, c, h, w, r, s, stride, pad;
} shape;

/* the ResNet stem pool on odd sizes, 2x2/2 dropping the last row and column, 3x3/1 (windows
 * overlap 6 of 9), R != S, a window as large as the padded input, 1x1/2 subsampling */
static const shape SHAPES[] = {
    {2, 3, 11, 9, 3, 3, 2, 1}, {1, 2, 7, 7, 2, 2, 2, 0}, {3, 5, 6, 5, 3, 3, 1, 1},
    {2, 3, 8, 9, 3, 2, 1, 1},  {1, 1, 5, 5, 5, 5, 1, 2}, {2, 1, 9, 4, 1, 1, 2, 0},
};
enum { N_SHAPES = sizeof SHAPES / sizeof *SHAPES };

static ws_exec cpu(int threads) { return ws_exec_cpu(threads); }
static ws_maxpool_desc make(shape s) { return ws_maxpool_desc_make(s.n, s.c, s.h, s.w, s.r, s.s, s.stride, s.pad); }
static size_t x_count(const ws_maxpool_desc *d) { return (size_t)d->n * d->c * d->h * d->w; }
static size_t y_count(const ws_maxpool_desc *d) { return (size_t)d->n * d->c * d->p * d->q; }

/* The definition: the largest in-bounds value of each window, the first one (row-major)
 * among equals; padding takes no part. */
static void ref_maxpool(const ws_maxpool_desc *d, const float *x, double *y, int32_t *argmax) {
    for (int pl = 0; pl < d->n * d->c; pl++)
        for (int p = 0; p < d->p; p++)
            for (int q = 0; q < d->q; q++) {
                int best = -1;
                for (int r = 0; r < d->r; r++)
                    for (int s = 0; s < d->s; s++) {
                        int ih = p * d->stride - d->pad + r, iw = q * d->stride - d->pad + s;
                        if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
                        int i = ih * d->w + iw;
                        /* row-major order of the window is row-major order of the plane */
                        if (best < 0 || x[(size_t)pl * d->h * d->w + i] > x[(size_t)pl * d->h * d->w + best]) best = i;
                    }
                size_t o = ((size_t)pl * d->p + p) * d->q + q;
                y[o] = x[(size_t)pl * d->h * d->w + best];
                argmax[o] = best;
            }
}

static void assert_argmax_equal(const int32_t *got, const int32_t *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("argmax[%zu] = %d, want %d", i, got[i], want[i]);
}

static void test_maxpool_desc_make(void **state) {
    (void)state;
    ws_maxpool_desc d = ws_maxpool_desc_make(1, 64, 112, 112, 3, 3, 2, 1); /* ResNet: 112 -> 56 */
    assert_int_equal(d.p, 56);
    assert_int_equal(d.q, 56);
    d = ws_maxpool_desc_make(1, 1, 7, 8, 2, 2, 2, 0); /* floor mode */
    assert_int_equal(d.p, 3);
    assert_int_equal(d.q, 4);
}

static void test_maxpool_forward_matches_direct(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(5001);
    for (int si = 0; si < N_SHAPES; si++) {
        ws_maxpool_desc d = make(SHAPES[si]);
        size_t nx = x_count(&d), ny = y_count(&d);
        float *x = ws_test_floats(nx), *y = ws_test_floats(ny);
        int32_t *am = malloc(ny * sizeof *am), *am_ref = malloc(ny * sizeof *am_ref);
        double *y_ref = malloc(ny * sizeof *y_ref);
        ws_test_fill_normal(&rng, x, nx, 0.0, 1.0);
        ws_test_poison(y, ny * sizeof *y);
        ref_maxpool(&d, x, y_ref, am_ref);
        ws_exec ex = cpu(1);
        WS_TEST_STATUS(WS_OK, ws_maxpool_forward(&ex, &d, y, am, x));
        WS_TEST_CLOSE(y, y_ref, ny, ((ws_tol){0.0, 0.0})); /* a max is exact */
        assert_argmax_equal(am, am_ref, ny);
        free(x), free(y), free(am), free(am_ref), free(y_ref);
    }
}

/* Ties: a constant plane picks each window's first in-bounds element; NaN is chosen. */
static void test_maxpool_ties_and_nan(void **state) {
    (void)state;
    ws_maxpool_desc d = ws_maxpool_desc_make(1, 1, 5, 6, 3, 3, 2, 1);
    size_t nx = x_count(&d), ny = y_count(&d);
    float *x = ws_test_floats(nx), *y = ws_test_floats(ny);
    int32_t *am = malloc(ny * sizeof *am);
    ws_test_fill(x, nx, -2.0f);
    ws_maxpool_forward_cpu(&d, 1, y, am, x);
    for (int p = 0; p < d.p; p++)
        for (int q = 0; q < d.q; q++) {
            int h0 = p * 2 - 1 < 0 ? 0 : p * 2 - 1, w0 = q * 2 - 1 < 0 ? 0 : q * 2 - 1;
            assert_int_equal(am[p * d.q + q], h0 * d.w + w0);
            assert_true(y[p * d.q + q] == -2.0f);
        }
    x[2 * d.w + 2] = NAN; /* in the window of output (1,1): rows 1-3, columns 1-3 */
    ws_maxpool_forward_cpu(&d, 1, y, am, x);
    assert_true(isnan(y[1 * d.q + 1]));
    assert_int_equal(am[1 * d.q + 1], 2 * d.w + 2);
    assert_true(y[0] == -2.0f); /* the window of (0,0) is rows 0-1, columns 0-1 */
    /* -inf everywhere: still a real input position, never the padding */
    ws_test_fill(x, nx, -INFINITY);
    ws_maxpool_forward_cpu(&d, 1, y, am, x);
    assert_int_equal(am[0], 0);
    assert_true(y[0] == -INFINITY);
    free(x), free(y), free(am);
}

/* dx (=) over NaN: each dy added at its argmax (twice where windows overlap). */
static void test_maxpool_backward_matches_direct(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(5002);
    for (int si = 0; si < N_SHAPES; si++) {
        ws_maxpool_desc d = make(SHAPES[si]);
        size_t nx = x_count(&d), ny = y_count(&d), hw = (size_t)d.h * d.w, pq = (size_t)d.p * d.q;
        float *x = ws_test_floats(nx), *y = ws_test_floats(ny), *dy = ws_test_floats(ny), *dx = ws_test_floats(nx);
        int32_t *am = malloc(ny * sizeof *am);
        double *dx_ref = calloc(nx, sizeof *dx_ref);
        ws_test_fill_normal(&rng, x, nx, 0.0, 1.0);
        ws_test_fill_normal(&rng, dy, ny, 0.0, 1.0);
        ws_maxpool_forward_cpu(&d, 1, y, am, x);
        for (size_t pl = 0; pl < (size_t)d.n * d.c; pl++)
            for (size_t o = 0; o < pq; o++) dx_ref[pl * hw + (size_t)am[pl * pq + o]] += dy[pl * pq + o];
        ws_test_poison(dx, nx * sizeof *dx);
        ws_exec ex = cpu(1);
        WS_TEST_STATUS(WS_OK, ws_maxpool_backward(&ex, &d, dx, dy, am));
        WS_TEST_CLOSE(dx, dx_ref, nx, WS_TOL_FP32);
        free(x), free(y), free(dy), free(dx), free(am), free(dx_ref);
    }
}

typedef struct {
    ws_maxpool_desc d;
    int gn, gc, gh, gw; /* global average pooling's shape, when d is unused */
    float *x, *y, *r;
    int32_t *am;
} fd_ctx;

static double maxpool_loss(void *ctx) {
    fd_ctx *c = ctx;
    ws_maxpool_forward_cpu(&c->d, 1, c->y, c->am, c->x);
    return ws_gradcheck_dot(c->r, c->y, y_count(&c->d));
}

static double avgpool_loss(void *ctx) {
    fd_ctx *c = ctx;
    ws_avgpool_global_forward_cpu(c->gn, c->gc, c->gh, c->gw, 1, c->y, c->x);
    return ws_gradcheck_dot(c->r, c->y, (size_t)c->gn * c->gc);
}

/* Distinct values 0.1 apart, shuffled: no step (h = 1e-3 |x| <= 0.03) changes a window's
 * winner, so max pooling is linear around each point. */
static void test_maxpool_gradients_match_finite_differences(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(5003);
    for (int si = 0; si < N_SHAPES; si++) {
        fd_ctx c = {.d = make(SHAPES[si])};
        size_t nx = x_count(&c.d), ny = y_count(&c.d);
        c.x = ws_test_floats(nx), c.y = ws_test_floats(ny), c.r = ws_test_floats(ny);
        c.am = malloc(ny * sizeof *c.am);
        float *dx = ws_test_floats(nx);
        for (size_t i = 0; i < nx; i++) c.x[i] = 0.1f * (float)((double)i - nx / 2.0);
        for (size_t i = nx - 1; i > 0; i--) {
            size_t j = (size_t)ws_rng_below(&rng, i + 1);
            float t = c.x[i];
            c.x[i] = c.x[j], c.x[j] = t;
        }
        ws_test_fill_normal(&rng, c.r, ny, 0.0, 1.0);
        ws_maxpool_forward_cpu(&c.d, 1, c.y, c.am, c.x);
        ws_maxpool_backward_cpu(&c.d, 1, dx, c.r, c.am);
        ws_gradcheck_opts o = ws_gradcheck_opts_default();
        o.h_rel = 1e-3;
        WS_GRADCHECK(c.x, nx, dx, maxpool_loss, &c, &o);
        free(c.x), free(c.y), free(c.r), free(c.am), free(dx);
    }
}

static void test_avgpool_global(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(5004);
    static const int shapes[][4] = {{2, 3, 7, 7}, {1, 5, 1, 1}, {3, 2, 4, 9}};
    for (int si = 0; si < 3; si++) {
        int n = shapes[si][0], c = shapes[si][1], h = shapes[si][2], w = shapes[si][3];
        size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c, hw = (size_t)h * w;
        fd_ctx fc = {.gn = n, .gc = c, .gh = h, .gw = w};
        fc.x = ws_test_floats(nx), fc.y = ws_test_floats(ny), fc.r = ws_test_floats(ny);
        float *dx = ws_test_floats(nx);
        double *y_ref = malloc(ny * sizeof *y_ref), *dx_ref = malloc(nx * sizeof *dx_ref);
        ws_test_fill_normal(&rng, fc.x, nx, 0.5, 1.0);
        ws_test_fill_normal(&rng, fc.r, ny, 0.0, 1.0);
        for (size_t pl = 0; pl < ny; pl++) {
            double s = 0.0;
            for (size_t i = 0; i < hw; i++) s += fc.x[pl * hw + i];
            y_ref[pl] = s / (double)hw;
            for (size_t i = 0; i < hw; i++) dx_ref[pl * hw + i] = fc.r[pl] / (double)hw;
        }
        ws_exec ex = cpu(1);
        ws_test_poison(fc.y, ny * sizeof *fc.y), ws_test_poison(dx, nx * sizeof *dx);
        WS_TEST_STATUS(WS_OK, ws_avgpool_global_forward(&ex, n, c, h, w, fc.y, fc.x));
        WS_TEST_CLOSE(fc.y, y_ref, ny, WS_TOL_FP32);
        WS_TEST_STATUS(WS_OK, ws_avgpool_global_backward(&ex, n, c, h, w, dx, fc.r));
        WS_TEST_CLOSE(dx, dx_ref, nx, WS_TOL_FP32);
        WS_GRADCHECK(fc.x, nx, dx, avgpool_loss, &fc, NULL);
        free(fc.x), free(fc.y), free(fc.r), free(dx), free(y_ref), free(dx_ref);
    }
}

/* One plane per iteration: 1, 2 and the default thread count give the same bits. */
static void test_pool_threads(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(5005);
    ws_maxpool_desc d = ws_maxpool_desc_make(3, 7, 13, 11, 3, 3, 2, 1);
    size_t nx = x_count(&d), ny = y_count(&d);
    float *x = ws_test_floats(nx), *dy = ws_test_floats(ny);
    float *y1 = ws_test_floats(ny), *y2 = ws_test_floats(ny), *dx1 = ws_test_floats(nx), *dx2 = ws_test_floats(nx);
    int32_t *am1 = malloc(ny * sizeof *am1), *am2 = malloc(ny * sizeof *am2);
    ws_test_fill_normal(&rng, x, nx, 0.0, 1.0);
    ws_test_fill_normal(&rng, dy, ny, 0.0, 1.0);
    for (int t = 0; t <= 2; t += 2) {
        ws_maxpool_forward_cpu(&d, 1, y1, am1, x);
        ws_maxpool_forward_cpu(&d, t, y2, am2, x);
        WS_TEST_BITWISE(y1, y2, ny);
        WS_TEST_BITWISE(am1, am2, ny);
        ws_maxpool_backward_cpu(&d, 1, dx1, dy, am1);
        ws_maxpool_backward_cpu(&d, t, dx2, dy, am2);
        WS_TEST_BITWISE(dx1, dx2, nx);
        ws_avgpool_global_forward_cpu(d.n, d.c, d.h, d.w, 1, y1, x);
        ws_avgpool_global_forward_cpu(d.n, d.c, d.h, d.w, t, y2, x);
        WS_TEST_BITWISE(y1, y2, (size_t)d.n * d.c);
        ws_avgpool_global_backward_cpu(d.n, d.c, d.h, d.w, 1, dx1, dy);
        ws_avgpool_global_backward_cpu(d.n, d.c, d.h, d.w, t, dx2, dy);
        WS_TEST_BITWISE(dx1, dx2, nx);
    }
    free(x), free(dy), free(y1), free(y2), free(dx1), free(dx2), free(am1), free(am2);
}

static void test_pool_dispatch(void **state) {
    (void)state;
    ws_maxpool_desc good = ws_maxpool_desc_make(2, 3, 9, 9, 3, 3, 2, 1);
    size_t nx = x_count(&good), ny = y_count(&good);
    float *x = ws_test_floats(nx), *y = ws_test_floats(ny), *dx = ws_test_floats(nx);
    int32_t *am = calloc(ny, sizeof *am);
    ws_test_fill(x, nx, 1.0f);
    ws_exec ex = cpu(1), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW}, tf32 = {WS_DEVICE_CPU, WS_TF32, 1, NULL, WS_NCHW};
    WS_TEST_STATUS(WS_OK, ws_maxpool_forward(&ex, &good, y, am, x));
    WS_TEST_STATUS(WS_ENOTSUP, ws_maxpool_forward(&gpu, &good, y, am, x));
    WS_TEST_STATUS(WS_ENOTSUP, ws_maxpool_backward(&gpu, &good, dx, y, am));
    WS_TEST_STATUS(WS_ENOTSUP, ws_maxpool_forward(&tf32, &good, y, am, x));
    WS_TEST_STATUS(WS_ENOTSUP, ws_avgpool_global_forward(&gpu, 2, 3, 9, 9, y, x));
    WS_TEST_STATUS(WS_ENOTSUP, ws_avgpool_global_backward(&gpu, 2, 3, 9, 9, dx, y));

    ws_maxpool_desc bad[7];
    for (int i = 0; i < 7; i++) bad[i] = good;
    bad[0].pad = 2;                                          /* > r/2: windows of padding only */
    bad[1].stride = 0;
    bad[2].r = 0;
    bad[3].q += 1;                                           /* q not from desc_make */
    bad[4] = ws_maxpool_desc_make(1, 1, 2, 2, 3, 3, 1, 0);    /* window does not fit: p = 0 */
    bad[5].c = 0;
    bad[6].pad = -1;
    for (int i = 0; i < 7; i++) {
        WS_TEST_STATUS(WS_EINVAL, ws_maxpool_forward(&ex, &bad[i], y, am, x));
        WS_TEST_STATUS(WS_EINVAL, ws_maxpool_backward(&ex, &bad[i], dx, y, am));
        WS_TEST_STATUS(WS_EINVAL, ws_maxpool_forward(&gpu, &bad[i], y, am, x));
    }
    WS_TEST_STATUS(WS_EINVAL, ws_maxpool_forward(&ex, &good, y, NULL, x));
    WS_TEST_STATUS(WS_EINVAL, ws_maxpool_forward(NULL, &good, y, am, x));
    WS_TEST_STATUS(WS_EINVAL, ws_avgpool_global_forward(&ex, 2, 0, 9, 9, y, x));
    WS_TEST_STATUS(WS_EINVAL, ws_avgpool_global_backward(&ex, 2, 3, -1, 9, dx, y));
    WS_TEST_STATUS(WS_EINVAL, ws_avgpool_global_forward(&gpu, 0, 3, 9, 9, y, x));
    free(x), free(y), free(dx), free(am);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool_desc_make),
        cmocka_unit_test(test_maxpool_forward_matches_direct),
        cmocka_unit_test(test_maxpool_ties_and_nan),
        cmocka_unit_test(test_maxpool_backward_matches_direct),
        cmocka_unit_test(test_maxpool_gradients_match_finite_differences),
        cmocka_unit_test(test_avgpool_global),
        cmocka_unit_test(test_pool_threads),
        cmocka_unit_test(test_pool_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
