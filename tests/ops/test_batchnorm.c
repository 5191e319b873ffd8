/* tests/ops/test_batchnorm.c - the CPU batch norm (src/ops/batchnorm_cpu.c) and its dispatch
 * (src/ops/batchnorm.c) against nn.BatchNorm2d's definition in double: training forward,
 * running statistics (unbiased variance, PyTorch momentum), eval forward, backward; finite
 * differences for x, gamma and beta; = versus +=; thread counts; statuses.
 * Shapes: x, y, dy, dx [N,C,H,W]; gamma, beta, running_*, save_* [C]; M = N*H*W. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/batchnorm.h"

typedef struct {
    int n, c, h, w;
    double mean, std; /* of x */
} shape;

/* batch 1, odd planes, 1x1 planes (M = N, as after global pooling), M = 2, an offset mean */
static const shape SHAPES[] = {
    {1, 3, 5, 7, 0.0, 1.0}, {4, 5, 3, 3, 0.5, 2.0}, {2, 7, 1, 1, 0.0, 1.0}, {3, 6, 4, 5, 100.0, 0.5},
};
enum { N_SHAPES = sizeof SHAPES / sizeof *SHAPES };

typedef struct {
    ws_batchnorm_desc d;
    int threads;
    float *x, *y, *dy, *dx, *gamma, *beta, *rm, *rv, *save_mean, *save_invstd, *dgamma, *dbeta;
} problem;

static size_t count(const ws_batchnorm_desc *d) { return (size_t)d->n * d->c * d->h * d->w; }
static size_t idx(const ws_batchnorm_desc *d, int n, int c, size_t i) {
    return ((size_t)n * d->c + c) * d->h * d->w + i;
}

static problem problem_make(ws_rng *rng, shape s, int threads) {
    problem pb = {.d = {s.n, s.c, s.h, s.w, 1e-5, 0.1}, .threads = threads};
    size_t nx = count(&pb.d), c = (size_t)s.c;
    pb.x = ws_test_floats(nx), pb.y = ws_test_floats(nx), pb.dy = ws_test_floats(nx), pb.dx = ws_test_floats(nx);
    pb.gamma = ws_test_floats(c), pb.beta = ws_test_floats(c), pb.rm = ws_test_floats(c), pb.rv = ws_test_floats(c);
    pb.save_mean = ws_test_floats(c), pb.save_invstd = ws_test_floats(c);
    pb.dgamma = ws_test_floats(c), pb.dbeta = ws_test_floats(c);
    ws_test_fill_normal(rng, pb.x, nx, s.mean, s.std);
    ws_test_fill_normal(rng, pb.dy, nx, 0.0, 1.0);
    ws_test_fill_normal(rng, pb.gamma, c, 1.0, 0.3);
    ws_test_fill_normal(rng, pb.beta, c, 0.0, 0.5);
    ws_test_fill(pb.rm, c, 0.2f), ws_test_fill(pb.rv, c, 1.5f);
    ws_test_fill(pb.dgamma, c, 0.25f), ws_test_fill(pb.dbeta, c, -0.5f);
    ws_test_poison(pb.y, nx * sizeof(float)), ws_test_poison(pb.dx, nx * sizeof(float));
    ws_test_poison(pb.save_mean, c * sizeof(float)), ws_test_poison(pb.save_invstd, c * sizeof(float));
    return pb;
}

static void problem_free(problem *pb) {
    float *all[] = {pb->x, pb->y, pb->dy, pb->dx, pb->gamma, pb->beta, pb->rm, pb->rv,
                    pb->save_mean, pb->save_invstd, pb->dgamma, pb->dbeta};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
}

/* Batch statistics of channel c in double: mean, biased and unbiased variance. */
static void ref_stats(const ws_batchnorm_desc *d, const float *x, int c, double *mean, double *var_b,
                      double *var_u) {
    size_t hw = (size_t)d->h * d->w, m = (size_t)d->n * hw;
    double s = 0.0, sq = 0.0;
    for (int n = 0; n < d->n; n++)
        for (size_t i = 0; i < hw; i++) s += x[idx(d, n, c, i)];
    *mean = s / (double)m;
    for (int n = 0; n < d->n; n++)
        for (size_t i = 0; i < hw; i++) sq += (x[idx(d, n, c, i)] - *mean) * (x[idx(d, n, c, i)] - *mean);
    *var_b = sq / (double)m;
    *var_u = sq / (double)(m - 1);
}

static void test_batchnorm_forward_train_matches_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(3001);
    for (int si = 0; si < N_SHAPES; si++) {
        problem pb = problem_make(&rng, SHAPES[si], 1);
        const ws_batchnorm_desc *d = &pb.d;
        size_t nx = count(d), hw = (size_t)d->h * d->w;
        double *y = malloc(nx * sizeof *y), *mean = malloc(d->c * sizeof *mean);
        double *invstd = malloc(d->c * sizeof *invstd);
        double *rm = malloc(d->c * sizeof *rm), *rv = malloc(d->c * sizeof *rv);
        for (int c = 0; c < d->c; c++) {
            double var_b, var_u;
            ref_stats(d, pb.x, c, &mean[c], &var_b, &var_u);
            invstd[c] = 1.0 / sqrt(var_b + d->eps);
            rm[c] = 0.9 * pb.rm[c] + 0.1 * mean[c];   /* PyTorch: (1 - momentum) old + momentum new */
            rv[c] = 0.9 * pb.rv[c] + 0.1 * var_u;     /* unbiased (M - 1) for the running variance */
            for (int n = 0; n < d->n; n++)
                for (size_t i = 0; i < hw; i++)
                    y[idx(d, n, c, i)] = (pb.x[idx(d, n, c, i)] - mean[c]) * invstd[c] * pb.gamma[c] + pb.beta[c];
        }
        WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_train_cpu(d, pb.threads, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv,
                                                             pb.save_mean, pb.save_invstd));
        WS_TEST_CLOSE(pb.y, y, nx, WS_TOL_FP32);
        WS_TEST_CLOSE(pb.save_mean, mean, (size_t)d->c, WS_TOL_FP32);
        WS_TEST_CLOSE(pb.save_invstd, invstd, (size_t)d->c, WS_TOL_FP32);
        WS_TEST_CLOSE(pb.rm, rm, (size_t)d->c, WS_TOL_FP32);
        WS_TEST_CLOSE(pb.rv, rv, (size_t)d->c, WS_TOL_FP32);
        free(y), free(mean), free(invstd), free(rm), free(rv);
        problem_free(&pb);
    }
}

/* momentum 1: running = this batch's statistics; momentum 0: untouched. */
static void test_batchnorm_momentum_extremes(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(3002);
    problem pb = problem_make(&rng, SHAPES[1], 1);
    ws_batchnorm_desc d = pb.d;
    d.momentum = 1.0;
    WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_train_cpu(&d, 1, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv,
                                                         pb.save_mean, pb.save_invstd));
    for (int c = 0; c < d.c; c++) {
        double mean, var_b, var_u;
        ref_stats(&d, pb.x, c, &mean, &var_b, &var_u);
        WS_TEST_NEAR(pb.rm[c], mean, 1e-6, 1e-6);
        WS_TEST_NEAR(pb.rv[c], var_u, 1e-6, 1e-6);
    }
    d.momentum = 0.0;
    ws_test_fill(pb.rm, (size_t)d.c, 0.2f), ws_test_fill(pb.rv, (size_t)d.c, 1.5f);
    WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_train_cpu(&d, 1, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv,
                                                         pb.save_mean, pb.save_invstd));
    for (int c = 0; c < d.c; c++) assert_true(pb.rm[c] == 0.2f && pb.rv[c] == 1.5f);
    problem_free(&pb);
}

static void test_batchnorm_forward_eval_matches_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(3003);
    for (int si = 0; si < N_SHAPES; si++) {
        problem pb = problem_make(&rng, SHAPES[si], 1);
        const ws_batchnorm_desc *d = &pb.d;
        size_t nx = count(d), hw = (size_t)d->h * d->w;
        ws_test_fill_normal(&rng, pb.rm, (size_t)d->c, SHAPES[si].mean, 0.3);
        for (int c = 0; c < d->c; c++) pb.rv[c] = (float)(0.5 + ws_rng_uniform(&rng));
        double *y = malloc(nx * sizeof *y);
        for (int c = 0; c < d->c; c++)
            for (int n = 0; n < d->n; n++)
                for (size_t i = 0; i < hw; i++)
                    y[idx(d, n, c, i)] = (pb.x[idx(d, n, c, i)] - (double)pb.rm[c]) / sqrt(pb.rv[c] + d->eps) *
                                             pb.gamma[c] + pb.beta[c];
        float rm0 = pb.rm[0], rv0 = pb.rv[0];
        WS_TEST_STATUS(WS_OK,
                       ws_batchnorm_forward_eval_cpu(d, pb.threads, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv));
        WS_TEST_CLOSE(pb.y, y, nx, WS_TOL_FP32);
        assert_true(pb.rm[0] == rm0 && pb.rv[0] == rv0);
        /* eval with one value per channel is fine (only training needs M >= 2) */
        ws_batchnorm_desc one = {1, d->c, 1, 1, 1e-5, 0.1};
        ws_exec ex = ws_exec_cpu(1);
        WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_eval(&ex, &one, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv, NULL, 0));
        free(y);
        problem_free(&pb);
    }
}

/* dx (=) over NaN; dgamma (+=) onto 0.25 and dbeta (+=) onto -0.5. */
static void test_batchnorm_backward_matches_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(3004);
    for (int si = 0; si < N_SHAPES; si++) {
        problem pb = problem_make(&rng, SHAPES[si], 1);
        const ws_batchnorm_desc *d = &pb.d;
        size_t nx = count(d), hw = (size_t)d->h * d->w, m = (size_t)d->n * hw;
        WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_train_cpu(d, 1, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv,
                                                             pb.save_mean, pb.save_invstd));
        double *dx = malloc(nx * sizeof *dx), *dg = malloc(d->c * sizeof *dg), *db = malloc(d->c * sizeof *db);
        for (int c = 0; c < d->c; c++) {
            /* from the saved fp32 statistics, as the op: their rounding (checked by the forward
             * test) costs up to ~5e-5 in dgamma when |mean| = 200 std, more than the arithmetic */
            double mean = pb.save_mean[c], invstd = pb.save_invstd[c], sdy = 0.0, sdyx = 0.0;
            for (int n = 0; n < d->n; n++)
                for (size_t i = 0; i < hw; i++) {
                    size_t e = idx(d, n, c, i);
                    sdy += pb.dy[e];
                    sdyx += pb.dy[e] * (pb.x[e] - mean) * invstd;
                }
            dg[c] = 0.25 + sdyx, db[c] = -0.5 + sdy;
            for (int n = 0; n < d->n; n++)
                for (size_t i = 0; i < hw; i++) {
                    size_t e = idx(d, n, c, i);
                    double xhat = (pb.x[e] - mean) * invstd;
                    dx[e] = pb.gamma[c] * invstd / (double)m * ((double)m * pb.dy[e] - sdy - xhat * sdyx);
                }
        }
        WS_TEST_STATUS(WS_OK, ws_batchnorm_backward_cpu(d, pb.threads, pb.dx, pb.dgamma, pb.dbeta, pb.dy, pb.x,
                                                        pb.gamma, pb.save_mean, pb.save_invstd));
        WS_TEST_CLOSE(pb.dx, dx, nx, WS_TOL_FP32);
        WS_TEST_CLOSE(pb.dgamma, dg, (size_t)d->c, WS_TOL_FP32);
        WS_TEST_CLOSE(pb.dbeta, db, (size_t)d->c, WS_TOL_FP32);
        free(dx), free(dg), free(db);
        problem_free(&pb);
    }
}

static double loss_of_forward(void *ctx) {
    problem *pb = ctx;
    /* the running statistics are scratch here: y does not depend on them */
    ws_status st = ws_batchnorm_forward_train_cpu(&pb->d, pb->threads, pb->y, pb->x, pb->gamma, pb->beta, pb->rm,
                                                  pb->rv, pb->save_mean, pb->save_invstd);
    if (st != WS_OK) fail_msg("forward: %s", ws_status_name(st));
    return ws_gradcheck_dot(pb->dy, pb->y, count(&pb->d));
}

/* Not for M = 2: with two values per channel x-hat is +-1 whatever x, a function so flat
 * (its slope comes from eps alone) and so curved near x1 = x2 that finite differences
 * measure nothing useful; the double reference above covers that shape. */
static void test_batchnorm_gradients_match_finite_differences(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(3005);
    for (int si = 0; si < N_SHAPES; si++) {
        if ((size_t)SHAPES[si].n * SHAPES[si].h * SHAPES[si].w < 3) continue;
        problem pb = problem_make(&rng, SHAPES[si], 1); /* forwards on one thread, as for conv2d */
        const ws_batchnorm_desc *d = &pb.d;
        WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_train_cpu(d, 2, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv,
                                                             pb.save_mean, pb.save_invstd));
        ws_test_fill(pb.dgamma, (size_t)d->c, 0.0f), ws_test_fill(pb.dbeta, (size_t)d->c, 0.0f);
        WS_TEST_STATUS(WS_OK, ws_batchnorm_backward_cpu(d, 2, pb.dx, pb.dgamma, pb.dbeta, pb.dy, pb.x, pb.gamma,
                                                        pb.save_mean, pb.save_invstd));
        /* h relative to |x| is 1e-2 * 100 for the offset shape, far wider than its std 0.5:
         * step by 1e-2 of the std instead, through h_rel */
        ws_gradcheck_opts o = ws_gradcheck_opts_default();
        o.h_rel = 1e-2 * SHAPES[si].std / (fabs(SHAPES[si].mean) > 1.0 ? fabs(SHAPES[si].mean) : 1.0);
        WS_GRADCHECK(pb.x, count(d), pb.dx, loss_of_forward, &pb, &o);
        WS_GRADCHECK(pb.gamma, (size_t)d->c, pb.dgamma, loss_of_forward, &pb, NULL);
        WS_GRADCHECK(pb.beta, (size_t)d->c, pb.dbeta, loss_of_forward, &pb, NULL);
        problem_free(&pb);
    }
}

/* One channel per thread, sums in a fixed order: every output has the same bits. */
static void test_batchnorm_threads(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(3006);
    shape s = {3, 9, 5, 7, 0.3, 1.5};
    problem a = problem_make(&rng, s, 1), b = problem_make(&rng, s, 2);
    size_t nx = count(&a.d), c = (size_t)s.c;
    memcpy(b.x, a.x, nx * sizeof(float)), memcpy(b.dy, a.dy, nx * sizeof(float));
    memcpy(b.gamma, a.gamma, c * sizeof(float)), memcpy(b.beta, a.beta, c * sizeof(float));
    for (int t = 0; t < 2; t++) {
        problem *p = t ? &b : &a;
        WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_train_cpu(&p->d, p->threads, p->y, p->x, p->gamma, p->beta, p->rm,
                                                             p->rv, p->save_mean, p->save_invstd));
        WS_TEST_STATUS(WS_OK, ws_batchnorm_backward_cpu(&p->d, p->threads, p->dx, p->dgamma, p->dbeta, p->dy, p->x,
                                                        p->gamma, p->save_mean, p->save_invstd));
    }
    WS_TEST_BITWISE(a.y, b.y, nx);
    WS_TEST_BITWISE(a.rm, b.rm, c), WS_TEST_BITWISE(a.rv, b.rv, c);
    WS_TEST_BITWISE(a.save_mean, b.save_mean, c), WS_TEST_BITWISE(a.save_invstd, b.save_invstd, c);
    WS_TEST_BITWISE(a.dx, b.dx, nx);
    WS_TEST_BITWISE(a.dgamma, b.dgamma, c), WS_TEST_BITWISE(a.dbeta, b.dbeta, c);
    WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_eval_cpu(&a.d, 1, a.y, a.x, a.gamma, a.beta, a.rm, a.rv));
    WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_eval_cpu(&b.d, 0, b.y, b.x, b.gamma, b.beta, b.rm, b.rv));
    WS_TEST_BITWISE(a.y, b.y, nx);
    problem_free(&a), problem_free(&b);
}

static void test_batchnorm_dispatch(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(3007);
    problem pb = problem_make(&rng, SHAPES[1], 1);
    ws_exec ex = ws_exec_cpu(1), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW};
    ws_exec bf16 = {WS_DEVICE_CPU, WS_BF16, 1, NULL, WS_NCHW};
    const ws_batchnorm_desc good = pb.d;
    WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_train(&ex, &good, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv,
                                                     pb.save_mean, pb.save_invstd, NULL, 0, NULL));
    WS_TEST_STATUS(WS_OK, ws_batchnorm_backward(&ex, &good, pb.dx, pb.dgamma, pb.dbeta, pb.dy, NULL, pb.x, pb.gamma,
                                                pb.beta, pb.save_mean, pb.save_invstd, NULL, 0, NULL));
    /* with the ReLU, y and beta are needed (CUDA recomputes y's sign from beta) */
    WS_TEST_STATUS(WS_EINVAL, ws_batchnorm_backward(&ex, &good, pb.dx, pb.dgamma, pb.dbeta, pb.dy, pb.y, pb.x, pb.gamma,
                                                    NULL, pb.save_mean, pb.save_invstd, NULL, 1, NULL));
    WS_TEST_STATUS(WS_EINVAL, ws_batchnorm_backward(&ex, &good, pb.dx, pb.dgamma, pb.dbeta, pb.dy, NULL, pb.x, pb.gamma,
                                                    pb.beta, pb.save_mean, pb.save_invstd, NULL, 1, NULL));
    WS_TEST_STATUS(WS_OK, ws_batchnorm_forward_eval(&ex, &good, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv, NULL, 0));
    WS_TEST_STATUS(WS_ENOTSUP, ws_batchnorm_forward_train(&gpu, &good, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv,
                                                          pb.save_mean, pb.save_invstd, NULL, 0, NULL));
    WS_TEST_STATUS(WS_ENOTSUP, ws_batchnorm_forward_eval(&gpu, &good, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv, NULL, 0));
    WS_TEST_STATUS(WS_ENOTSUP, ws_batchnorm_backward(&gpu, &good, pb.dx, pb.dgamma, pb.dbeta, pb.dy, NULL, pb.x, pb.gamma,
                                                     pb.beta, pb.save_mean, pb.save_invstd, NULL, 0, NULL));
    WS_TEST_STATUS(WS_ENOTSUP, ws_batchnorm_forward_eval(&bf16, &good, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv, NULL, 0));

    ws_batchnorm_desc bad[7];
    for (int i = 0; i < 7; i++) bad[i] = good;
    bad[0].c = 0;
    bad[1].n = -1;
    bad[2].eps = -1e-5;
    bad[3].momentum = 1.5;
    bad[4].momentum = NAN;
    bad[5].h = 0;
    bad[6].eps = NAN;
    for (int i = 0; i < 7; i++) {
        WS_TEST_STATUS(WS_EINVAL, ws_batchnorm_forward_train(&ex, &bad[i], pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv,
                                                             pb.save_mean, pb.save_invstd, NULL, 0, NULL));
        WS_TEST_STATUS(WS_EINVAL,
                       ws_batchnorm_forward_eval(&gpu, &bad[i], pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv, NULL, 0));
        WS_TEST_STATUS(WS_EINVAL, ws_batchnorm_backward(&ex, &bad[i], pb.dx, pb.dgamma, pb.dbeta, pb.dy, NULL, pb.x,
                                                        pb.gamma, pb.beta, pb.save_mean, pb.save_invstd, NULL, 0, NULL));
        WS_TEST_STATUS(WS_EINVAL, ws_batchnorm_forward_train_cpu(&bad[i], 1, pb.y, pb.x, pb.gamma, pb.beta, pb.rm,
                                                                 pb.rv, pb.save_mean, pb.save_invstd));
    }
    /* the ReLU mask: one bit per element, rounded up to whole bytes */
    ws_batchnorm_desc md = {3, 5, 1, 1, 1e-5, 0.1};
    assert_int_equal(ws_batchnorm_relu_mask_bytes(&md), 2);
    md.c = 8;
    assert_int_equal(ws_batchnorm_relu_mask_bytes(&md), 3);
    /* training on one value per channel (PyTorch refuses too) */
    ws_batchnorm_desc one = {1, good.c, 1, 1, 1e-5, 0.1};
    WS_TEST_STATUS(WS_EINVAL, ws_batchnorm_forward_train(&ex, &one, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv,
                                                         pb.save_mean, pb.save_invstd, NULL, 0, NULL));
    WS_TEST_STATUS(WS_EINVAL, ws_batchnorm_forward_train_cpu(&one, 1, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv,
                                                             pb.save_mean, pb.save_invstd));
    WS_TEST_STATUS(WS_EINVAL, ws_batchnorm_forward_eval(NULL, &good, pb.y, pb.x, pb.gamma, pb.beta, pb.rm, pb.rv, NULL, 0));
    problem_free(&pb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_forward_train_matches_definition),
        cmocka_unit_test(test_batchnorm_momentum_extremes),
        cmocka_unit_test(test_batchnorm_forward_eval_matches_definition),
        cmocka_unit_test(test_batchnorm_backward_matches_definition),
        cmocka_unit_test(test_batchnorm_gradients_match_finite_differences),
        cmocka_unit_test(test_batchnorm_threads),
        cmocka_unit_test(test_batchnorm_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
