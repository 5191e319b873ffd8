/* tests/ops/test_layernorm.c - layer normalization (src/ops/layernorm_cpu.c, dispatch in
 * src/ops/layernorm.c) against nn.LayerNorm's definition in double: forward, saved
 * statistics, dx (=), dgamma and dbeta (+=), finite differences, a row with a large mean,
 * thread counts and statuses.
 * Shapes: x, y [ROWS, DIM]; gamma, beta [DIM]; mean, rstd [ROWS]. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/layernorm.h"

typedef struct {
    int rows, dim;
} shape;

/* one row, DIM 1 (y = beta, dx = 0), odd sizes, DIM past the 32-column blocks of the
 * backward and not a multiple of them, enough elements (38,800) for the thread team */
static const shape SHAPES[] = {{1, 7}, {5, 33}, {3, 1}, {37, 64}, {400, 97}};
enum { N_SHAPES = sizeof SHAPES / sizeof *SHAPES };
static const float EPS = 1e-6f;

typedef struct {
    shape s;
    float *x, *g, *b, *y, *mean, *rstd, *dy, *dx, *dg, *db;
} problem;

static problem make(ws_rng *rng, shape s) {
    size_t n = (size_t)s.rows * s.dim;
    problem p = {.s = s};
    p.x = ws_test_floats(n), p.y = ws_test_floats(n), p.dy = ws_test_floats(n), p.dx = ws_test_floats(n);
    p.g = ws_test_floats((size_t)s.dim), p.b = ws_test_floats((size_t)s.dim);
    p.dg = ws_test_floats((size_t)s.dim), p.db = ws_test_floats((size_t)s.dim);
    p.mean = ws_test_floats((size_t)s.rows), p.rstd = ws_test_floats((size_t)s.rows);
    ws_test_fill_normal(rng, p.x, n, 0.3, 2.0);
    ws_test_fill_normal(rng, p.g, (size_t)s.dim, 1.0, 0.5);
    ws_test_fill_normal(rng, p.b, (size_t)s.dim, 0.0, 0.5);
    ws_test_fill_normal(rng, p.dy, n, 0.0, 1.0);
    ws_test_poison(p.y, n * sizeof(float)), ws_test_poison(p.dx, n * sizeof(float));
    ws_test_poison(p.mean, (size_t)s.rows * sizeof(float)), ws_test_poison(p.rstd, (size_t)s.rows * sizeof(float));
    ws_test_fill(p.dg, (size_t)s.dim, 0.5f), ws_test_fill(p.db, (size_t)s.dim, -0.25f);
    return p;
}

static void release(problem *p) {
    free(p->x), free(p->g), free(p->b), free(p->y), free(p->mean), free(p->rstd);
    free(p->dy), free(p->dx), free(p->dg), free(p->db);
}

/* The definition in double: forward y, mean, rstd; backward dx and (onto 0.5, -0.25) dg, db. */
static void reference(const problem *p, double *y, double *mean, double *rstd, double *dx, double *dg, double *db) {
    const int R = p->s.rows, D = p->s.dim;
    for (int j = 0; j < D; j++) dg[j] = 0.5, db[j] = -0.25;
    for (int r = 0; r < R; r++) {
        const float *x = p->x + (size_t)r * D, *dy = p->dy + (size_t)r * D;
        double mu = 0, var = 0;
        for (int j = 0; j < D; j++) mu += x[j];
        mu /= D;
        for (int j = 0; j < D; j++) var += (x[j] - mu) * (x[j] - mu);
        var /= D; /* biased, as torch */
        double rs = 1.0 / sqrt(var + EPS);
        mean[r] = mu, rstd[r] = rs;
        double sg = 0, sgx = 0;
        for (int j = 0; j < D; j++) {
            double xh = (x[j] - mu) * rs;
            y[(size_t)r * D + j] = xh * p->g[j] + p->b[j];
            sg += dy[j] * p->g[j];
            sgx += dy[j] * p->g[j] * xh;
            dg[j] += dy[j] * xh;
            db[j] += dy[j];
        }
        for (int j = 0; j < D; j++) {
            double xh = (x[j] - mu) * rs;
            dx[(size_t)r * D + j] = rs * (dy[j] * p->g[j] - sg / D - xh * sgx / D);
        }
    }
}

static ws_exec cpu(int threads) { return ws_exec_cpu(threads); }

static void test_layernorm_matches_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9101);
    ws_exec ex = cpu(1);
    for (int i = 0; i < N_SHAPES; i++) {
        problem p = make(&rng, SHAPES[i]);
        size_t n = (size_t)p.s.rows * p.s.dim;
        double *y = malloc(n * sizeof *y), *dx = malloc(n * sizeof *dx), *mean = malloc(p.s.rows * sizeof *mean);
        double *rstd = malloc(p.s.rows * sizeof *rstd), *dg = malloc(p.s.dim * sizeof *dg), *db = malloc(p.s.dim * sizeof *db);
        reference(&p, y, mean, rstd, dx, dg, db);
        WS_TEST_STATUS(WS_OK, ws_layernorm_forward(&ex, p.s.rows, p.s.dim, EPS, p.y, p.mean, p.rstd, p.x, p.g, p.b));
        WS_TEST_CLOSE(p.y, y, n, WS_TOL_FP32);
        WS_TEST_CLOSE(p.mean, mean, (size_t)p.s.rows, WS_TOL_FP32);
        WS_TEST_CLOSE(p.rstd, rstd, (size_t)p.s.rows, WS_TOL_FP32);
        WS_TEST_STATUS(WS_OK, ws_layernorm_backward(&ex, p.s.rows, p.s.dim, p.dx, p.dg, p.db, p.dy, p.x, p.g, p.mean,
                                                    p.rstd));
        /* dx is a difference of terms of size rstd*|g|: relative to that scale */
        WS_TEST_CLOSE(p.dx, dx, n, ((ws_tol){1e-4, 1e-4}));
        WS_TEST_CLOSE(p.dg, dg, (size_t)p.s.dim, ((ws_tol){1e-4, 1e-4}));
        WS_TEST_CLOSE(p.db, db, (size_t)p.s.dim, ((ws_tol){1e-4, 1e-4}));
        free(y), free(dx), free(mean), free(rstd), free(dg), free(db);
        release(&p);
    }
}

/* A row at 1000 + N(0, 0.01): one-pass E[x^2] - E[x]^2 in fp32 would lose every digit. */
static void test_layernorm_large_mean(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9102);
    problem p = make(&rng, (shape){2, 50});
    for (int j = 0; j < 100; j++) p.x[j] = (float)(1000.0 + 0.01 * ws_rng_normal(&rng));
    size_t n = 100;
    double y[100], dx[100], mean[2], rstd[2], dg[50], db[50];
    reference(&p, y, mean, rstd, dx, dg, db);
    ws_exec ex = cpu(1);
    WS_TEST_STATUS(WS_OK, ws_layernorm_forward(&ex, 2, 50, EPS, p.y, p.mean, p.rstd, p.x, p.g, p.b));
    /* the reference sees the same rounded x: any loss of digits would be the op's own */
    WS_TEST_CLOSE(p.y, y, n, ((ws_tol){1e-4, 1e-4}));
    release(&p);
}

typedef struct {
    problem *p;
} fd_ctx;

static double loss_of(void *ctx) {
    problem *p = ((fd_ctx *)ctx)->p;
    ws_layernorm_forward_cpu(p->s.rows, p->s.dim, EPS, 1, p->y, p->mean, p->rstd, p->x, p->g, p->b);
    return ws_gradcheck_dot(p->dy, p->y, (size_t)p->s.rows * p->s.dim);
}

static void test_layernorm_gradients_match_finite_differences(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9103);
    for (int i = 0; i < N_SHAPES - 1; i++) { /* the largest shape adds nothing but time */
        problem p = make(&rng, SHAPES[i]);
        ws_test_fill(p.dg, (size_t)p.s.dim, 0.0f), ws_test_fill(p.db, (size_t)p.s.dim, 0.0f);
        ws_layernorm_forward_cpu(p.s.rows, p.s.dim, EPS, 1, p.y, p.mean, p.rstd, p.x, p.g, p.b);
        ws_layernorm_backward_cpu(p.s.rows, p.s.dim, 1, p.dx, p.dg, p.db, p.dy, p.x, p.g, p.mean, p.rstd);
        fd_ctx c = {&p};
        WS_GRADCHECK(p.x, (size_t)p.s.rows * p.s.dim, p.dx, loss_of, &c, NULL);
        WS_GRADCHECK(p.g, (size_t)p.s.dim, p.dg, loss_of, &c, NULL);
        WS_GRADCHECK(p.b, (size_t)p.s.dim, p.db, loss_of, &c, NULL);
        release(&p);
    }
}

/* Rows are independent and the column sums run in row order: the same bits for 1 and 3. */
static void test_layernorm_threads(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9104);
    problem a = make(&rng, SHAPES[N_SHAPES - 1]), b = make(&rng, SHAPES[N_SHAPES - 1]);
    size_t n = (size_t)a.s.rows * a.s.dim;
    memcpy(b.x, a.x, n * sizeof(float)), memcpy(b.dy, a.dy, n * sizeof(float));
    memcpy(b.g, a.g, a.s.dim * sizeof(float)), memcpy(b.b, a.b, a.s.dim * sizeof(float));
    ws_layernorm_forward_cpu(a.s.rows, a.s.dim, EPS, 1, a.y, a.mean, a.rstd, a.x, a.g, a.b);
    ws_layernorm_forward_cpu(b.s.rows, b.s.dim, EPS, 3, b.y, b.mean, b.rstd, b.x, b.g, b.b);
    WS_TEST_BITWISE(a.y, b.y, n);
    ws_layernorm_backward_cpu(a.s.rows, a.s.dim, 1, a.dx, a.dg, a.db, a.dy, a.x, a.g, a.mean, a.rstd);
    ws_layernorm_backward_cpu(b.s.rows, b.s.dim, 3, b.dx, b.dg, b.db, b.dy, b.x, b.g, b.mean, b.rstd);
    WS_TEST_BITWISE(a.dx, b.dx, n);
    WS_TEST_BITWISE(a.dg, b.dg, (size_t)a.s.dim);
    WS_TEST_BITWISE(a.db, b.db, (size_t)a.s.dim);
    release(&a), release(&b);
}

static void test_layernorm_dispatch(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9105);
    problem p = make(&rng, SHAPES[1]);
    ws_exec ex = cpu(1), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW}, half = {WS_DEVICE_CPU, WS_BF16, 1, NULL, WS_NCHW};
    const int R = p.s.rows, D = p.s.dim;
    WS_TEST_STATUS(WS_ENOTSUP, ws_layernorm_forward(&gpu, R, D, EPS, p.y, p.mean, p.rstd, p.x, p.g, p.b));
    WS_TEST_STATUS(WS_ENOTSUP, ws_layernorm_forward(&half, R, D, EPS, p.y, p.mean, p.rstd, p.x, p.g, p.b));
    WS_TEST_STATUS(WS_EINVAL, ws_layernorm_forward(&ex, 0, D, EPS, p.y, p.mean, p.rstd, p.x, p.g, p.b));
    WS_TEST_STATUS(WS_EINVAL, ws_layernorm_forward(&ex, R, D, 0.0f, p.y, p.mean, p.rstd, p.x, p.g, p.b));
    WS_TEST_STATUS(WS_EINVAL, ws_layernorm_forward(&ex, R, D, NAN, p.y, p.mean, p.rstd, p.x, p.g, p.b));
    WS_TEST_STATUS(WS_EINVAL, ws_layernorm_forward(&ex, R, D, EPS, p.y, NULL, p.rstd, p.x, p.g, p.b));
    WS_TEST_STATUS(WS_EINVAL, ws_layernorm_forward(NULL, R, D, EPS, p.y, p.mean, p.rstd, p.x, p.g, p.b));
    WS_TEST_STATUS(WS_EINVAL, ws_layernorm_backward(&ex, R, D, p.dx, NULL, p.db, p.dy, p.x, p.g, p.mean, p.rstd));
    WS_TEST_STATUS(WS_ENOTSUP, ws_layernorm_backward(&gpu, R, D, p.dx, p.dg, p.db, p.dy, p.x, p.g, p.mean, p.rstd));
    release(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm_matches_definition),
        cmocka_unit_test(test_layernorm_large_mean),
        cmocka_unit_test(test_layernorm_gradients_match_finite_differences),
        cmocka_unit_test(test_layernorm_threads),
        cmocka_unit_test(test_layernorm_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
