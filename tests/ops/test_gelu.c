/* tests/ops/test_gelu.c - exact GELU (src/ops/gelu_cpu.c, dispatch in src/ops/gelu.c): the
 * erf definition in double with special values, the derivative, finite differences, the
 * aliasing the contract allows, thread counts and statuses. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/gelu.h"

static ws_exec cpu(int threads) { return ws_exec_cpu(threads); }

static double gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double gelu_grad(double x) { return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI); }

static void test_gelu_forward_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9201);
    enum { N = 2001 };
    float *x = ws_test_floats(N), *y = ws_test_floats(N);
    double *ref = malloc(N * sizeof *ref);
    ws_test_fill_normal(&rng, x, N, 0.0, 3.0);
    x[0] = 0.0f, x[1] = 1.0f, x[2] = -1.0f, x[3] = 10.0f, x[4] = -10.0f, x[5] = INFINITY, x[6] = 1e-30f;
    for (size_t i = 0; i < N; i++) ref[i] = gelu(x[i]);
    ws_exec ex = cpu(1);
    ws_test_poison(y, N * sizeof *y);
    WS_TEST_STATUS(WS_OK, ws_gelu_forward(&ex, N, y, x));
    WS_TEST_CLOSE(y, ref, N, ((ws_tol){1e-6, 1e-30}));
    /* the values PyTorch prints: gelu(1) = 0.8413447, gelu(-1) = -0.1586553 */
    WS_TEST_NEAR(y[1], 0.841344746, 1e-7, 0);
    WS_TEST_NEAR(y[2], -0.158655254, 1e-6, 0);
    assert_true(y[5] == INFINITY);
    float nan_in = NAN, out = 0.0f;
    ws_gelu_forward_cpu(1, 1, &out, &nan_in);
    assert_true(isnan(out));
    free(x), free(y), free(ref);
}

static void test_gelu_backward_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9202);
    enum { N = 1003 };
    float *x = ws_test_floats(N), *dy = ws_test_floats(N), *dx = ws_test_floats(N);
    double *ref = malloc(N * sizeof *ref);
    ws_test_fill_normal(&rng, x, N, 0.0, 3.0);
    ws_test_fill_normal(&rng, dy, N, 0.0, 1.0);
    x[0] = 0.0f; /* derivative 1/2 */
    for (size_t i = 0; i < N; i++) ref[i] = dy[i] * gelu_grad(x[i]);
    ws_exec ex = cpu(1);
    ws_test_poison(dx, N * sizeof *dx);
    WS_TEST_STATUS(WS_OK, ws_gelu_backward(&ex, N, dx, dy, x));
    WS_TEST_CLOSE(dx, ref, N, ((ws_tol){1e-6, 1e-30}));
    WS_TEST_STATUS(WS_OK, ws_gelu_backward(&ex, N, dy, dy, x)); /* in place: dx aliases dy */
    WS_TEST_BITWISE(dy, dx, N);
    free(x), free(dy), free(dx), free(ref);
}

typedef struct {
    float *x, *y, *r;
    size_t n;
} fd_ctx;

static double loss_of(void *ctx) {
    fd_ctx *c = ctx;
    ws_gelu_forward_cpu(c->n, 1, c->y, c->x);
    return ws_gradcheck_dot(c->r, c->y, c->n);
}

static void test_gelu_gradients_match_finite_differences(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9203);
    enum { N = 301 };
    fd_ctx c = {ws_test_floats(N), ws_test_floats(N), ws_test_floats(N), N};
    float *dx = ws_test_floats(N);
    ws_test_fill_normal(&rng, c.x, N, 0.0, 2.0);
    ws_test_fill_normal(&rng, c.r, N, 0.0, 1.0);
    ws_gelu_backward_cpu(N, 1, dx, c.r, c.x);
    WS_GRADCHECK(c.x, N, dx, loss_of, &c, NULL);
    free(c.x), free(c.y), free(c.r), free(dx);
}

static void test_gelu_threads_and_dispatch(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9204);
    size_t n = (size_t)1 << 16; /* above the parallel threshold */
    float *x = ws_test_floats(n), *a = ws_test_floats(n), *b = ws_test_floats(n);
    ws_test_fill_normal(&rng, x, n, 0.0, 2.0);
    ws_gelu_forward_cpu(n, 1, a, x);
    ws_gelu_forward_cpu(n, 3, b, x);
    WS_TEST_BITWISE(a, b, n);
    ws_gelu_backward_cpu(n, 1, a, x, x);
    ws_gelu_backward_cpu(n, 3, b, x, x);
    WS_TEST_BITWISE(a, b, n);
    ws_exec ex = cpu(1), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW}, half = {WS_DEVICE_CPU, WS_FP16, 1, NULL, WS_NCHW};
    WS_TEST_STATUS(WS_ENOTSUP, ws_gelu_forward(&gpu, n, a, x));
    WS_TEST_STATUS(WS_ENOTSUP, ws_gelu_backward(&half, n, a, x, x));
    WS_TEST_STATUS(WS_EINVAL, ws_gelu_forward(&ex, n, NULL, x));
    WS_TEST_STATUS(WS_EINVAL, ws_gelu_backward(&ex, n, a, x, NULL));
    WS_TEST_STATUS(WS_EINVAL, ws_gelu_forward(NULL, n, a, x));
    WS_TEST_STATUS(WS_OK, ws_gelu_forward(&ex, 0, NULL, NULL)); /* nothing to do */
    free(x), free(a), free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gelu_forward_definition),
        cmocka_unit_test(test_gelu_backward_definition),
        cmocka_unit_test(test_gelu_gradients_match_finite_differences),
        cmocka_unit_test(test_gelu_threads_and_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
