/* tests/ops/test_eltwise.c - ReLU and the residual add (src/ops/eltwise_cpu.c, dispatch in
 * src/ops/eltwise.c): definitions with special values, the aliasing the contract allows,
 * finite-difference gradients, thread counts and statuses; and, on the simplest op, that
 * the shared checks of tests/ops/gradcheck.c fail when they should. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/eltwise.h"

static ws_exec cpu(int threads) { return ws_exec_cpu(threads); }

/* N(0,1) with |x| >= 0.05: a finite-difference step never crosses ReLU's kink at 0 */
static void fill_away_from_zero(ws_rng *rng, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        do x[i] = (float)ws_rng_normal(rng);
        while (fabsf(x[i]) < 0.05f);
    }
}

static void test_relu_forward_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(4001);
    enum { N = 1001 };
    float *x = ws_test_floats(N), *y = ws_test_floats(N);
    double *ref = malloc(N * sizeof *ref);
    ws_test_fill_normal(&rng, x, N, 0.0, 1.0);
    x[0] = 0.0f, x[1] = -0.0f, x[2] = INFINITY, x[3] = -INFINITY, x[4] = 1e-40f, x[5] = -1e-40f;
    for (size_t i = 0; i < N; i++) ref[i] = x[i] > 0.0f ? x[i] : 0.0;
    ws_exec ex = cpu(1);
    ws_test_poison(y, N * sizeof *y);
    WS_TEST_STATUS(WS_OK, ws_relu_forward(&ex, N, y, x));
    WS_TEST_CLOSE(y, ref, N, ((ws_tol){0.0, 0.0})); /* exact */
    /* in place (y aliases x), as the model runs it */
    WS_TEST_STATUS(WS_OK, ws_relu_forward(&ex, N, x, x));
    WS_TEST_CLOSE(x, ref, N, ((ws_tol){0.0, 0.0}));
    /* NaN propagates, as torch.relu */
    float nan_in = NAN, out = 0.0f;
    ws_relu_forward_cpu(1, 1, &out, &nan_in);
    assert_true(isnan(out));
    free(x), free(y), free(ref);
}

/* dx = dy where the OUTPUT y > 0; y = 0 (x <= 0 before) blocks; dx may alias dy */
static void test_relu_backward_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(4002);
    enum { N = 777 };
    float *x = ws_test_floats(N), *y = ws_test_floats(N), *dy = ws_test_floats(N), *dx = ws_test_floats(N);
    double *ref = malloc(N * sizeof *ref);
    ws_test_fill_normal(&rng, x, N, 0.0, 1.0);
    ws_test_fill_normal(&rng, dy, N, 0.0, 1.0);
    x[0] = 0.0f, x[1] = -0.0f;
    ws_relu_forward_cpu(N, 1, y, x);
    for (size_t i = 0; i < N; i++) ref[i] = y[i] > 0.0f ? dy[i] : 0.0;
    ws_exec ex = cpu(1);
    ws_test_poison(dx, N * sizeof *dx);
    WS_TEST_STATUS(WS_OK, ws_relu_backward(&ex, N, dx, dy, y));
    WS_TEST_CLOSE(dx, ref, N, ((ws_tol){0.0, 0.0}));
    WS_TEST_STATUS(WS_OK, ws_relu_backward(&ex, N, dy, dy, y));
    WS_TEST_CLOSE(dy, ref, N, ((ws_tol){0.0, 0.0}));
    free(x), free(y), free(dy), free(dx), free(ref);
}

static void test_add_forward_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(4003);
    enum { N = 513 };
    float *a = ws_test_floats(N), *b = ws_test_floats(N), *y = ws_test_floats(N);
    double *ref = malloc(N * sizeof *ref);
    ws_test_fill_normal(&rng, a, N, 0.0, 1.0);
    ws_test_fill_normal(&rng, b, N, 0.0, 3.0);
    for (size_t i = 0; i < N; i++) ref[i] = (double)a[i] + b[i];
    ws_exec ex = cpu(1);
    ws_test_poison(y, N * sizeof *y);
    WS_TEST_STATUS(WS_OK, ws_add_forward(&ex, N, y, a, b));
    WS_TEST_CLOSE(y, ref, N, WS_TOL_FP32);
    float *a2 = ws_test_floats(N), *b2 = ws_test_floats(N);
    memcpy(a2, a, N * sizeof *a), memcpy(b2, b, N * sizeof *b);
    WS_TEST_STATUS(WS_OK, ws_add_forward(&ex, N, a2, a2, b)); /* y aliases a (the model's case) */
    WS_TEST_BITWISE(a2, y, N);
    WS_TEST_STATUS(WS_OK, ws_add_forward(&ex, N, b2, a, b2)); /* y aliases b */
    WS_TEST_BITWISE(b2, y, N);
    free(a), free(b), free(y), free(a2), free(b2), free(ref);
}

typedef struct {
    size_t n;
    float *x, *b, *y, *r;
} fd_ctx;

static double relu_loss(void *ctx) {
    fd_ctx *c = ctx;
    ws_relu_forward_cpu(c->n, 1, c->y, c->x);
    return ws_gradcheck_dot(c->r, c->y, c->n);
}

static double add_loss(void *ctx) {
    fd_ctx *c = ctx;
    ws_add_forward_cpu(c->n, 1, c->y, c->x, c->b);
    return ws_gradcheck_dot(c->r, c->y, c->n);
}

/* ReLU: relu_backward(dy = r); add: dy passed on to both inputs (the contract's identity) */
static void test_eltwise_gradients_match_finite_differences(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(4004);
    enum { N = 301 };
    fd_ctx c = {N, ws_test_floats(N), ws_test_floats(N), ws_test_floats(N), ws_test_floats(N)};
    float *dx = ws_test_floats(N);
    fill_away_from_zero(&rng, c.x, N);
    ws_test_fill_normal(&rng, c.b, N, 0.0, 1.0);
    ws_test_fill_normal(&rng, c.r, N, 0.0, 1.0);
    ws_relu_forward_cpu(N, 1, c.y, c.x);
    ws_relu_backward_cpu(N, 1, dx, c.r, c.y);
    WS_GRADCHECK(c.x, N, dx, relu_loss, &c, NULL);
    WS_GRADCHECK(c.x, N, c.r, add_loss, &c, NULL);
    WS_GRADCHECK(c.b, N, c.r, add_loss, &c, NULL);
    free(c.x), free(c.b), free(c.y), free(c.r), free(dx);
}

/* Above the parallel threshold: 1, 2 and the default thread count give the same bits. */
static void test_eltwise_threads(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(4005);
    enum { N = 100003 };
    float *x = ws_test_floats(N), *b = ws_test_floats(N), *y1 = ws_test_floats(N), *y2 = ws_test_floats(N);
    ws_test_fill_normal(&rng, x, N, 0.0, 1.0);
    ws_test_fill_normal(&rng, b, N, 0.0, 1.0);
    for (int t = 0; t <= 2; t += 2) {
        ws_relu_forward_cpu(N, 1, y1, x);
        ws_relu_forward_cpu(N, t, y2, x);
        WS_TEST_BITWISE(y1, y2, N);
        ws_relu_backward_cpu(N, 1, y1, b, x);
        ws_relu_backward_cpu(N, t, y2, b, x);
        WS_TEST_BITWISE(y1, y2, N);
        ws_add_forward_cpu(N, 1, y1, x, b);
        ws_add_forward_cpu(N, t, y2, x, b);
        WS_TEST_BITWISE(y1, y2, N);
    }
    free(x), free(b), free(y1), free(y2);
}

/* The shared checks themselves (tests/ops/gradcheck.c) can fail: NaN on either side, a
 * wrong gradient, a NaN gradient or loss; and they pass inf == inf. */
static void test_checks_fail_when_they_should(void **state) {
    (void)state;
    float got[4] = {1.0f, NAN, INFINITY, 2.0f};
    double want[4] = {1.0, 1.0, INFINITY, NAN}, mag[4] = {1.0, 1.0, 1.0, 1.0};
    ws_test_compare r = ws_test_compare_to(got, want, NULL, 4, WS_TOL_FP32);
    assert_int_equal(r.bad, 2);                     /* [1] NaN got, [3] NaN want */
    assert_true(isnan(r.max_abs));
    got[1] = 1.5f, want[3] = 2.0;
    r = ws_test_compare_to(got, want, mag, 4, (ws_tol){0.6, 0.0}); /* 0.5 <= 0.6 * mag */
    assert_int_equal(r.bad, 0);
    want[2] = -INFINITY;
    assert_int_equal(ws_test_compare_to(got, want, NULL, 4, (ws_tol){1.0, 1.0}).bad, 1); /* inf vs -inf */

    ws_rng rng = ws_rng_seeded(4006);
    enum { N = 40 };
    fd_ctx c = {N, ws_test_floats(N), ws_test_floats(N), ws_test_floats(N), ws_test_floats(N)};
    float *grad = ws_test_floats(N);
    ws_test_fill_normal(&rng, c.x, N, 0.0, 1.0);
    ws_test_fill_normal(&rng, c.b, N, 0.0, 1.0);
    ws_test_fill_normal(&rng, c.r, N, 0.0, 1.0);
    memcpy(grad, c.r, N * sizeof *grad);
    assert_int_equal(ws_gradcheck_measure(c.x, N, grad, add_loss, &c, NULL).bad, 0);
    grad[7] *= 1.1f;                                /* 10% off at one element */
    ws_gradcheck_result g = ws_gradcheck_measure(c.x, N, grad, add_loss, &c, NULL);
    assert_int_equal(g.bad, 1);
    assert_int_equal(g.worst, 7);
    grad[7] = c.r[7], grad[11] = NAN;
    g = ws_gradcheck_measure(c.x, N, grad, add_loss, &c, NULL);
    assert_int_equal(g.bad, 1);
    assert_int_equal(g.worst, 11);
    grad[11] = c.r[11], c.b[3] = NAN;               /* a NaN loss fails every point */
    assert_int_equal(ws_gradcheck_measure(c.x, N, grad, add_loss, &c, NULL).bad, N);
    free(c.x), free(c.b), free(c.y), free(c.r), free(grad);
}

static void test_eltwise_dispatch(void **state) {
    (void)state;
    float x[3] = {1, -2, 3}, y[3];
    ws_exec ex = cpu(1), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW}, fp16 = {WS_DEVICE_CPU, WS_FP16, 1, NULL, WS_NCHW};
    WS_TEST_STATUS(WS_ENOTSUP, ws_relu_forward(&gpu, 3, y, x));
    WS_TEST_STATUS(WS_ENOTSUP, ws_relu_backward(&gpu, 3, y, x, x));
    WS_TEST_STATUS(WS_ENOTSUP, ws_add_forward(&gpu, 3, y, x, x));
    WS_TEST_STATUS(WS_ENOTSUP, ws_add_forward(&fp16, 3, y, x, x));
    WS_TEST_STATUS(WS_EINVAL, ws_relu_forward(&ex, 3, NULL, x));
    WS_TEST_STATUS(WS_EINVAL, ws_relu_backward(&ex, 3, y, NULL, x));
    WS_TEST_STATUS(WS_EINVAL, ws_add_forward(&ex, 3, y, x, NULL));
    WS_TEST_STATUS(WS_EINVAL, ws_add_forward(NULL, 3, y, x, x));
    WS_TEST_STATUS(WS_OK, ws_relu_forward(&ex, 0, NULL, NULL)); /* nothing to do is fine */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_forward_definition),
        cmocka_unit_test(test_relu_backward_definition),
        cmocka_unit_test(test_add_forward_definition),
        cmocka_unit_test(test_eltwise_gradients_match_finite_differences),
        cmocka_unit_test(test_eltwise_threads),
        cmocka_unit_test(test_checks_fail_when_they_should),
        cmocka_unit_test(test_eltwise_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
