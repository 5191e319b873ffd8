/* tests/ops/test_conv2d.c - the CPU convolution (src/ops/conv2d_cpu.c) and its dispatch
 * (src/ops/conv2d.c): forward, dx and dw against direct loops in double on awkward shapes,
 * finite-difference gradients, = versus += contracts, thread counts, workspace bounds,
 * and the dispatcher's statuses.
 * Shapes: x [N,C,H,W], w [K,C,R,S], y [N,K,P,Q]. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/conv2d.h"

typedef struct {
    int n, c, h, w, k, r, s, stride, pad;
} shape;

/* batch 1, odd sizes, channels not multiples of 4, 1x1 (direct and strided), 7x7/2 pad 3,
 * R != S, stride 3 leaving input rows unused, pad 3 > R/2 (outputs that see only zeros) */
static const shape SHAPES[] = {
    {1, 3, 7, 9, 5, 3, 3, 1, 1}, {2, 5, 11, 10, 6, 7, 7, 2, 3}, {3, 6, 8, 7, 7, 1, 1, 2, 0},
    {2, 3, 5, 5, 2, 1, 1, 1, 0}, {2, 2, 6, 9, 3, 3, 2, 2, 0},   {1, 1, 3, 3, 1, 3, 3, 1, 0},
    {2, 3, 10, 7, 5, 3, 3, 3, 1}, {1, 2, 4, 5, 3, 3, 3, 1, 3},
};
enum { N_SHAPES = sizeof SHAPES / sizeof *SHAPES };

static ws_conv2d_desc make(shape s) { return ws_conv2d_desc_make(s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.stride, s.pad); }
static size_t x_count(const ws_conv2d_desc *d) { return (size_t)d->n * d->c * d->h * d->w; }
static size_t w_count(const ws_conv2d_desc *d) { return (size_t)d->k * d->c * d->r * d->s; }
static size_t y_count(const ws_conv2d_desc *d) { return (size_t)d->n * d->k * d->p * d->q; }
static ws_exec cpu(int threads) { return ws_exec_cpu(threads); }

/* flat NCHW / KCRS / NKPQ indices */
static size_t xi_of(const ws_conv2d_desc *d, int n, int c, int ih, int iw) {
    return (((size_t)n * d->c + c) * d->h + ih) * d->w + iw;
}
static size_t wi_of(const ws_conv2d_desc *d, int k, int c, int r, int s) {
    return (((size_t)k * d->c + c) * d->r + r) * d->s + s;
}
static size_t yi_of(const ws_conv2d_desc *d, int n, int k, int p, int q) {
    return (((size_t)n * d->k + k) * d->p + p) * d->q + q;
}

/* The 7-loop definition, in double; mag: sum of |terms| per output. */
static void ref_forward(const ws_conv2d_desc *d, const float *x, const float *w, double *y, double *mag) {
    for (int n = 0; n < d->n; n++)
        for (int k = 0; k < d->k; k++)
            for (int p = 0; p < d->p; p++)
                for (int q = 0; q < d->q; q++) {
                    double s = 0.0, m = 0.0;
                    for (int c = 0; c < d->c; c++)
                        for (int r = 0; r < d->r; r++)
                            for (int t = 0; t < d->s; t++) {
                                int ih = p * d->stride - d->pad + r, iw = q * d->stride - d->pad + t;
                                if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
                                double term = (double)x[xi_of(d, n, c, ih, iw)] * w[wi_of(d, k, c, r, t)];
                                s += term;
                                m += fabs(term);
                            }
                    y[yi_of(d, n, k, p, q)] = s;
                    mag[yi_of(d, n, k, p, q)] = m;
                }
}

/* dx = sum over outputs of dy * w (scattered), dw = dw0 + sum of dy * x; in double. */
static void ref_backward(const ws_conv2d_desc *d, const float *dy, const float *x, const float *w, float dw0,
                         double *dx, double *dx_mag, double *dw, double *dw_mag) {
    for (size_t i = 0; i < x_count(d); i++) dx[i] = dx_mag[i] = 0.0;
    for (size_t i = 0; i < w_count(d); i++) dw[i] = dw0, dw_mag[i] = fabs(dw0);
    for (int n = 0; n < d->n; n++)
        for (int k = 0; k < d->k; k++)
            for (int p = 0; p < d->p; p++)
                for (int q = 0; q < d->q; q++) {
                    double g = dy[yi_of(d, n, k, p, q)];
                    for (int c = 0; c < d->c; c++)
                        for (int r = 0; r < d->r; r++)
                            for (int t = 0; t < d->s; t++) {
                                int ih = p * d->stride - d->pad + r, iw = q * d->stride - d->pad + t;
                                if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
                                size_t xi = xi_of(d, n, c, ih, iw), wi = wi_of(d, k, c, r, t);
                                dx[xi] += g * w[wi];
                                dx_mag[xi] += fabs(g * w[wi]);
                                dw[wi] += g * x[xi];
                                dw_mag[wi] += fabs(g * x[xi]);
                            }
                }
}

/* One problem with all its buffers; outputs poisoned. */
typedef struct {
    ws_conv2d_desc d;
    int threads;
    float *x, *w, *y, *dy, *dx, *dw;
    void *ws;
} problem;

static problem problem_make(ws_rng *rng, shape s, int threads) {
    problem pb = {.d = make(s), .threads = threads};
    const ws_conv2d_desc *d = &pb.d;
    pb.x = ws_test_floats(x_count(d));
    pb.w = ws_test_floats(w_count(d));
    pb.y = ws_test_floats(y_count(d));
    pb.dy = ws_test_floats(y_count(d));
    pb.dx = ws_test_floats(x_count(d));
    pb.dw = ws_test_floats(w_count(d));
    pb.ws = malloc(ws_conv2d_workspace_bytes_cpu(d, threads));
    assert_non_null(pb.ws);
    ws_test_fill_normal(rng, pb.x, x_count(d), 0.0, 1.0);
    ws_test_fill_normal(rng, pb.w, w_count(d), 0.0, 1.0);
    ws_test_fill_normal(rng, pb.dy, y_count(d), 0.0, 1.0);
    ws_test_poison(pb.y, y_count(d) * sizeof(float));
    ws_test_poison(pb.dx, x_count(d) * sizeof(float));
    return pb;
}

static void problem_free(problem *pb) {
    free(pb->x), free(pb->w), free(pb->y), free(pb->dy), free(pb->dx), free(pb->dw), free(pb->ws);
}

static void test_conv2d_desc_make(void **state) {
    (void)state;
    ws_conv2d_desc d = ws_conv2d_desc_make(2, 3, 224, 224, 64, 7, 7, 2, 3); /* ResNet stem */
    assert_int_equal(d.p, 112);
    assert_int_equal(d.q, 112);
    d = ws_conv2d_desc_make(1, 1, 10, 7, 1, 3, 3, 3, 1); /* floor((10+2-3)/3)+1, floor((7+2-3)/3)+1 */
    assert_int_equal(d.p, 4);
    assert_int_equal(d.q, 3);
    d = ws_conv2d_desc_make(1, 1, 2, 2, 1, 5, 5, 2, 1); /* filter larger than the padded input */
    assert_int_equal(d.p, 0);
    assert_int_equal(d.q, 0);
}

static void test_conv2d_forward_matches_direct(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(2001);
    for (int i = 0; i < N_SHAPES; i++) {
        problem pb = problem_make(&rng, SHAPES[i], 1);
        double *ref = malloc(y_count(&pb.d) * sizeof *ref), *mag = malloc(y_count(&pb.d) * sizeof *mag);
        ref_forward(&pb.d, pb.x, pb.w, ref, mag);
        WS_TEST_STATUS(WS_OK, ws_conv2d_forward_cpu(&pb.d, pb.threads, pb.y, pb.x, pb.w, pb.ws));
        WS_TEST_CLOSE_MAG(pb.y, ref, mag, y_count(&pb.d), WS_TOL_FP32);
        free(ref), free(mag);
        problem_free(&pb);
    }
}

/* dx (=) over NaN poison; dw (+=) onto 0.5; and dx NULL leaves dw's sum unchanged. */
static void test_conv2d_backward_matches_direct(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(2002);
    for (int i = 0; i < N_SHAPES; i++) {
        problem pb = problem_make(&rng, SHAPES[i], 1);
        const ws_conv2d_desc *d = &pb.d;
        size_t nx = x_count(d), nw = w_count(d);
        double *dx = malloc(nx * sizeof *dx), *dx_mag = malloc(nx * sizeof *dx_mag);
        double *dw = malloc(nw * sizeof *dw), *dw_mag = malloc(nw * sizeof *dw_mag);
        ref_backward(d, pb.dy, pb.x, pb.w, 0.5f, dx, dx_mag, dw, dw_mag);
        ws_test_fill(pb.dw, nw, 0.5f);
        WS_TEST_STATUS(WS_OK, ws_conv2d_backward_cpu(d, pb.threads, pb.dx, pb.dw, pb.dy, pb.x, pb.w, pb.ws, 0));
        WS_TEST_CLOSE_MAG(pb.dx, dx, dx_mag, nx, WS_TOL_FP32);
        WS_TEST_CLOSE_MAG(pb.dw, dw, dw_mag, nw, WS_TOL_FP32);

        float *dw_again = ws_test_floats(nw);
        ws_test_fill(dw_again, nw, 0.5f);
        WS_TEST_STATUS(WS_OK, ws_conv2d_backward_cpu(d, pb.threads, NULL, dw_again, pb.dy, pb.x, pb.w, pb.ws, 0));
        WS_TEST_BITWISE(dw_again, pb.dw, nw);
        free(dx), free(dx_mag), free(dw), free(dw_mag), free(dw_again);
        problem_free(&pb);
    }
}

static double loss_of_forward(void *ctx) {
    problem *pb = ctx;
    ws_status st = ws_conv2d_forward_cpu(&pb->d, pb->threads, pb->y, pb->x, pb->w, pb->ws);
    if (st != WS_OK) fail_msg("forward: %s", ws_status_name(st));
    return ws_gradcheck_dot(pb->dy, pb->y, y_count(&pb->d)); /* r = dy */
}

static void test_conv2d_gradients_match_finite_differences(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(2003);
    for (int i = 0; i < N_SHAPES; i++) {
        /* the thousands of forwards run on one thread: under a loaded machine (ctest -j)
         * each OpenMP team start can wait for a descheduled thread; backward runs on two */
        problem pb = problem_make(&rng, SHAPES[i], 2);
        ws_test_fill(pb.dw, w_count(&pb.d), 0.0f);
        WS_TEST_STATUS(WS_OK, ws_conv2d_backward_cpu(&pb.d, 2, pb.dx, pb.dw, pb.dy, pb.x, pb.w, pb.ws, 0));
        pb.threads = 1; /* the workspace for 2 covers 1 */
        WS_GRADCHECK(pb.x, x_count(&pb.d), pb.dx, loss_of_forward, &pb, NULL);
        WS_GRADCHECK(pb.w, w_count(&pb.d), pb.dw, loss_of_forward, &pb, NULL);
        problem_free(&pb);
    }
}

/* y and dx are per image: the same bits for any thread count. dw's partial sums depend on
 * the chunking: equal within 1e-6 (of the terms' magnitude) across counts, bitwise for a
 * repeated count. */
static void test_conv2d_threads(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(2004);
    static const shape more[] = {{5, 3, 9, 8, 4, 3, 3, 1, 1}, {4, 6, 8, 7, 7, 1, 1, 1, 0}};
    for (int i = 0; i < N_SHAPES + 2; i++) {
        shape s = i < N_SHAPES ? SHAPES[i] : more[i - N_SHAPES];
        problem a = problem_make(&rng, s, 1), b = problem_make(&rng, s, 2);
        const ws_conv2d_desc *d = &a.d;
        size_t nx = x_count(d), nw = w_count(d), ny = y_count(d);
        memcpy(b.x, a.x, nx * sizeof(float)), memcpy(b.w, a.w, nw * sizeof(float));
        memcpy(b.dy, a.dy, ny * sizeof(float));
        ws_test_fill(a.dw, nw, 0.0f), ws_test_fill(b.dw, nw, 0.0f);
        WS_TEST_STATUS(WS_OK, ws_conv2d_forward_cpu(d, 1, a.y, a.x, a.w, a.ws));
        WS_TEST_STATUS(WS_OK, ws_conv2d_forward_cpu(d, 2, b.y, b.x, b.w, b.ws));
        WS_TEST_BITWISE(a.y, b.y, ny);
        WS_TEST_STATUS(WS_OK, ws_conv2d_backward_cpu(d, 1, a.dx, a.dw, a.dy, a.x, a.w, a.ws, 0));
        WS_TEST_STATUS(WS_OK, ws_conv2d_backward_cpu(d, 2, b.dx, b.dw, b.dy, b.x, b.w, b.ws, 0));
        WS_TEST_BITWISE(a.dx, b.dx, nx);
        /* 1e-6 of the magnitude of the summed terms: a cancelling sum may differ by more
         * relative to its own small value (measured 3.8e-6 absolute on 0.31, blocked gemm) */
        double *dx_ref = malloc(nx * sizeof(double)), *dx_mag = malloc(nx * sizeof(double));
        double *dw_one = malloc(nw * sizeof(double)), *dw_mag = malloc(nw * sizeof(double));
        ref_backward(d, a.dy, a.x, a.w, 0.0f, dx_ref, dx_mag, dw_one, dw_mag);
        for (size_t e = 0; e < nw; e++) dw_one[e] = a.dw[e];
        WS_TEST_CLOSE_MAG(b.dw, dw_one, dw_mag, nw, ((ws_tol){1e-6, 1e-6}));
        free(dx_ref), free(dx_mag), free(dw_one), free(dw_mag);

        float *dw2 = ws_test_floats(nw);
        ws_test_fill(dw2, nw, 0.0f);
        WS_TEST_STATUS(WS_OK, ws_conv2d_backward_cpu(d, 2, b.dx, dw2, b.dy, b.x, b.w, b.ws, 0));
        WS_TEST_BITWISE(dw2, b.dw, nw);
        free(dw2);
        problem_free(&a), problem_free(&b);
    }
    /* threads 0 (the OpenMP default) and more threads than images */
    for (int t = 0; t <= 8; t += 8) {
        problem pb = problem_make(&rng, SHAPES[1], t);
        double *ref = malloc(y_count(&pb.d) * sizeof *ref), *mag = malloc(y_count(&pb.d) * sizeof *mag);
        ref_forward(&pb.d, pb.x, pb.w, ref, mag);
        WS_TEST_STATUS(WS_OK, ws_conv2d_forward_cpu(&pb.d, t, pb.y, pb.x, pb.w, pb.ws));
        WS_TEST_CLOSE_MAG(pb.y, ref, mag, y_count(&pb.d), WS_TOL_FP32);
        ws_test_fill(pb.dw, w_count(&pb.d), 0.0f);
        WS_TEST_STATUS(WS_OK, ws_conv2d_backward_cpu(&pb.d, t, pb.dx, pb.dw, pb.dy, pb.x, pb.w, pb.ws, 0));
        WS_TEST_NO_NAN(pb.dx, x_count(&pb.d));
        free(ref), free(mag);
        problem_free(&pb);
    }
}

/* The op stays inside the bytes it asked for, from an unaligned start too, and asks for
 * no fewer bytes for a larger batch (the model sizes once, for its largest batch). */
static void test_conv2d_workspace_bounds(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(2005);
    const unsigned char guard = 0xA5;
    for (int i = 0; i < N_SHAPES; i++) {
        for (int threads = 1; threads <= 3; threads++) {
            problem pb = problem_make(&rng, SHAPES[i], threads);
            size_t bytes = ws_conv2d_workspace_bytes_cpu(&pb.d, threads);
            unsigned char *raw = malloc(bytes + 4 + 64);
            memset(raw, guard, bytes + 4 + 64);
            void *ws = raw + 4; /* float-aligned, not 64-byte aligned */
            ws_test_fill(pb.dw, w_count(&pb.d), 0.0f);
            WS_TEST_STATUS(WS_OK, ws_conv2d_forward_cpu(&pb.d, threads, pb.y, pb.x, pb.w, ws));
            WS_TEST_STATUS(WS_OK, ws_conv2d_backward_cpu(&pb.d, threads, pb.dx, pb.dw, pb.dy, pb.x, pb.w, ws, 0));
            for (size_t b = 0; b < 4; b++) assert_int_equal(raw[b], guard);
            for (size_t b = 4 + bytes; b < bytes + 4 + 64; b++) assert_int_equal(raw[b], guard);
            free(raw);
            problem_free(&pb);
        }
        ws_conv2d_desc d1 = make(SHAPES[i]), d8 = d1;
        d1.n = 1, d8.n = 8;
        for (int threads = 1; threads <= 4; threads++)
            assert_true(ws_conv2d_workspace_bytes_cpu(&d1, threads) <= ws_conv2d_workspace_bytes_cpu(&d8, threads));
    }
}

static void test_conv2d_dispatch(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(2006);
    problem pb = problem_make(&rng, SHAPES[0], 1);
    ws_exec ex = cpu(1);
    const ws_conv2d_desc good = pb.d;
    float *y2 = ws_test_floats(y_count(&good));

    /* the CPU path is the reference */
    assert_int_equal(ws_conv2d_workspace_bytes(&ex, &good), ws_conv2d_workspace_bytes_cpu(&good, 1));
    WS_TEST_STATUS(WS_OK, ws_conv2d_forward(&ex, &good, pb.y, pb.x, pb.w, pb.ws));
    WS_TEST_STATUS(WS_OK, ws_conv2d_forward_cpu(&good, 1, y2, pb.x, pb.w, pb.ws));
    WS_TEST_BITWISE(pb.y, y2, y_count(&good));
    ws_test_fill(pb.dw, w_count(&good), 0.0f);
    WS_TEST_STATUS(WS_OK, ws_conv2d_backward(&ex, &good, pb.dx, pb.dw, pb.dy, pb.x, pb.w, pb.ws, 0));

    /* no CUDA backend in this build, and the CPU runs fp32 only */
    ws_exec gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW}, half = {WS_DEVICE_CPU, WS_FP16, 1, NULL, WS_NCHW};
    WS_TEST_STATUS(WS_ENOTSUP, ws_conv2d_forward(&gpu, &good, pb.y, pb.x, pb.w, pb.ws));
    WS_TEST_STATUS(WS_ENOTSUP, ws_conv2d_backward(&gpu, &good, pb.dx, pb.dw, pb.dy, pb.x, pb.w, pb.ws, 0));
    WS_TEST_STATUS(WS_ENOTSUP, ws_conv2d_forward(&half, &good, pb.y, pb.x, pb.w, pb.ws));
    assert_int_equal(ws_conv2d_workspace_bytes(&gpu, &good), 0);

    /* bad descriptors, whatever the device */
    ws_conv2d_desc bad[9];
    for (int i = 0; i < 9; i++) bad[i] = good;
    bad[0].stride = 0;
    bad[1].pad = -1;
    bad[2].k = 0;
    bad[3].n = 0;
    bad[4].c = -2;
    bad[5].p += 1;                                          /* p not from desc_make */
    bad[6] = ws_conv2d_desc_make(1, 1, 2, 2, 1, 5, 5, 1, 0); /* filter does not fit: p = 0 */
    bad[7].r = 0;
    bad[8] = good, bad[8].h = 20;                            /* h changed, p left stale */
    for (int i = 0; i < 9; i++) {
        WS_TEST_STATUS(WS_EINVAL, ws_conv2d_forward(&ex, &bad[i], pb.y, pb.x, pb.w, pb.ws));
        WS_TEST_STATUS(WS_EINVAL, ws_conv2d_backward(&ex, &bad[i], pb.dx, pb.dw, pb.dy, pb.x, pb.w, pb.ws, 0));
        WS_TEST_STATUS(WS_EINVAL, ws_conv2d_forward(&gpu, &bad[i], pb.y, pb.x, pb.w, pb.ws));
        WS_TEST_STATUS(WS_EINVAL, ws_conv2d_forward_cpu(&bad[i], 1, pb.y, pb.x, pb.w, pb.ws));
        assert_int_equal(ws_conv2d_workspace_bytes(&ex, &bad[i]), 0);
    }
    WS_TEST_STATUS(WS_EINVAL, ws_conv2d_forward(NULL, &good, pb.y, pb.x, pb.w, pb.ws));
    WS_TEST_STATUS(WS_EINVAL, ws_conv2d_forward(&ex, NULL, pb.y, pb.x, pb.w, pb.ws));
    WS_TEST_STATUS(WS_EINVAL, ws_conv2d_forward(&ex, &good, pb.y, pb.x, pb.w, NULL));
    WS_TEST_STATUS(WS_EINVAL, ws_conv2d_backward(&ex, &good, pb.dx, NULL, pb.dy, pb.x, pb.w, pb.ws, 0));
    free(y2);
    problem_free(&pb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_desc_make),
        cmocka_unit_test(test_conv2d_forward_matches_direct),
        cmocka_unit_test(test_conv2d_backward_matches_direct),
        cmocka_unit_test(test_conv2d_gradients_match_finite_differences),
        cmocka_unit_test(test_conv2d_threads),
        cmocka_unit_test(test_conv2d_workspace_bounds),
        cmocka_unit_test(test_conv2d_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
