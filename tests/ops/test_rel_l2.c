/* tests/ops/test_rel_l2.c - FourCastNet's relative L2 loss (src/ops/rel_l2_cpu.c, dispatch
 * in src/ops/rel_l2.c): the definition in double (one norm over all of a sample's values,
 * mean over samples), the gradient and its scale, finite differences, the zero-difference
 * subgradient, the zero-target error, thread counts and statuses. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/rel_l2.h"

static ws_exec cpu(int threads) { return ws_exec_cpu(threads); }

static double reference(int n, size_t count, const float *p, const float *t, double *grad, double scale) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        double sd = 0, st = 0;
        for (size_t j = 0; j < count; j++) {
            double d = (double)p[i * count + j] - t[i * count + j];
            sd += d * d, st += (double)t[i * count + j] * t[i * count + j];
        }
        total += sqrt(sd) / sqrt(st);
        for (size_t j = 0; j < count; j++)
            grad[i * count + j] = sd > 0 ? scale * ((double)p[i * count + j] - t[i * count + j]) / (sqrt(sd) * sqrt(st)) : 0.0;
    }
    return total / n;
}

static void test_rel_l2_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9501);
    ws_exec ex = cpu(1);
    static const struct {
        int n;
        size_t count;
    } shapes[] = {{1, 1}, {1, 17}, {4, 3 * 8 * 16}, {7, 101}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int N = shapes[s].n;
        size_t C = shapes[s].count, n = (size_t)N * C;
        float *p = ws_test_floats(n), *t = ws_test_floats(n), *g = ws_test_floats(n);
        double *gref = malloc(n * sizeof *gref);
        ws_test_fill_normal(&rng, t, n, 1.0, 2.0);
        for (size_t j = 0; j < n; j++) p[j] = t[j] + (float)(0.3 * ws_rng_normal(&rng));
        double want = reference(N, C, p, t, gref, 1.0 / N), loss = -1;
        WS_TEST_STATUS(WS_OK, ws_rel_l2_forward(&ex, N, C, &loss, p, t));
        WS_TEST_NEAR(loss, want, 1e-12, 0);
        ws_test_poison(g, n * sizeof *g);
        WS_TEST_STATUS(WS_OK, ws_rel_l2_backward(&ex, N, C, g, p, t, 1.0f / N));
        WS_TEST_CLOSE(g, gref, n, WS_TOL_FP32);
        free(p), free(t), free(g), free(gref);
    }
    /* a value FourCastNet's LpLoss gives: pred = 2 * target, so every ratio is 1 */
    float t2[4] = {1, -2, 3, 0.5f}, p2[4] = {2, -4, 6, 1};
    double loss = 0;
    WS_TEST_STATUS(WS_OK, ws_rel_l2_forward(&ex, 2, 2, &loss, p2, t2));
    WS_TEST_NEAR(loss, 1.0, 1e-12, 0);
}

typedef struct {
    float *p, *t;
    int n;
    size_t count;
} fd_ctx;

static double loss_of(void *ctx) {
    fd_ctx *c = ctx;
    double loss = 0;
    if (ws_rel_l2_forward_cpu(c->n, c->count, 1, &loss, c->p, c->t) != WS_OK) fail_msg("forward failed");
    return loss;
}

static void test_rel_l2_gradients_match_finite_differences(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9502);
    fd_ctx c = {.n = 3, .count = 40};
    size_t n = (size_t)c.n * c.count;
    c.p = ws_test_floats(n), c.t = ws_test_floats(n);
    float *g = ws_test_floats(n);
    ws_test_fill_normal(&rng, c.t, n, 0.0, 1.0);
    ws_test_fill_normal(&rng, c.p, n, 0.0, 1.0);
    WS_TEST_STATUS(WS_OK, ws_rel_l2_backward_cpu(c.n, c.count, 1, g, c.p, c.t, 1.0f / c.n));
    WS_GRADCHECK(c.p, n, g, loss_of, &c, NULL);
    free(c.p), free(c.t), free(g);
}

static void test_rel_l2_edges_threads_dispatch(void **state) {
    (void)state;
    ws_exec ex = cpu(1), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW};
    float t[6] = {1, 2, 3, 4, 5, 6}, p[6] = {1, 2, 3, 4, 5, 7}, g[6];
    double loss = -1;
    /* sample 0 exact: loss 0 and gradient 0 (norm's subgradient), sample 1 not */
    WS_TEST_STATUS(WS_OK, ws_rel_l2_forward(&ex, 2, 3, &loss, p, t));
    WS_TEST_NEAR(loss, 0.5 * (1.0 / sqrt(77.0)), 1e-12, 0);
    WS_TEST_STATUS(WS_OK, ws_rel_l2_backward(&ex, 2, 3, g, p, t, 1.0f));
    for (int j = 0; j < 3; j++) assert_true(g[j] == 0.0f);
    WS_TEST_NO_NAN(g, 6);
    /* a zero target: the relative loss is undefined */
    float z[3] = {0, 0, 0};
    WS_TEST_STATUS(WS_EINVAL, ws_rel_l2_forward(&ex, 1, 3, &loss, p, z));
    WS_TEST_STATUS(WS_EINVAL, ws_rel_l2_backward(&ex, 1, 3, g, p, z, 1.0f));
    /* threads: the same bits */
    ws_rng rng = ws_rng_seeded(9503);
    enum { N = 9, C = 5000 };
    float *pp = ws_test_floats(N * C), *tt = ws_test_floats(N * C), *g1 = ws_test_floats(N * C), *g3 = ws_test_floats(N * C);
    ws_test_fill_normal(&rng, pp, N * C, 0.0, 1.0);
    ws_test_fill_normal(&rng, tt, N * C, 0.0, 1.0);
    double l1 = 0, l3 = 0;
    WS_TEST_STATUS(WS_OK, ws_rel_l2_forward_cpu(N, C, 1, &l1, pp, tt));
    WS_TEST_STATUS(WS_OK, ws_rel_l2_forward_cpu(N, C, 3, &l3, pp, tt));
    assert_true(l1 == l3);
    WS_TEST_STATUS(WS_OK, ws_rel_l2_backward_cpu(N, C, 1, g1, pp, tt, 0.5f));
    WS_TEST_STATUS(WS_OK, ws_rel_l2_backward_cpu(N, C, 3, g3, pp, tt, 0.5f));
    WS_TEST_BITWISE(g1, g3, (size_t)N * C);
    WS_TEST_STATUS(WS_ENOTSUP, ws_rel_l2_forward(&gpu, 2, 3, &loss, p, t));
    WS_TEST_STATUS(WS_EINVAL, ws_rel_l2_forward(&ex, 0, 3, &loss, p, t));
    WS_TEST_STATUS(WS_EINVAL, ws_rel_l2_forward(&ex, 2, 3, NULL, p, t));
    WS_TEST_STATUS(WS_EINVAL, ws_rel_l2_backward(&ex, 2, 0, g, p, t, 1.0f));
    free(pp), free(tt), free(g1), free(g3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rel_l2_definition),
        cmocka_unit_test(test_rel_l2_gradients_match_finite_differences),
        cmocka_unit_test(test_rel_l2_edges_threads_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
