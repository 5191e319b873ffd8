/* tests/ops/test_bias_add.c - the row-broadcast add (src/ops/bias_add_cpu.c, dispatch in
 * src/ops/bias_add.c): forward in place and out of place, db (+=) as column sums,
 * finite differences, thread counts and statuses. Shapes: x, y [ROWS, COUNT], b [COUNT]. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/bias_add.h"

static ws_exec cpu(int threads) { return ws_exec_cpu(threads); }

static void test_bias_add_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9301);
    static const struct {
        int rows;
        size_t count;
    } shapes[] = {{1, 1}, {1, 13}, {3, 7}, {5, 8193}, {2, 40000}};
    ws_exec ex = cpu(1);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int R = shapes[s].rows;
        size_t C = shapes[s].count, n = (size_t)R * C;
        float *x = ws_test_floats(n), *y = ws_test_floats(n), *b = ws_test_floats(C), *db = ws_test_floats(C);
        double *ref = malloc(n * sizeof *ref), *dref = malloc(C * sizeof *dref);
        ws_test_fill_normal(&rng, x, n, 0.0, 1.0);
        ws_test_fill_normal(&rng, b, C, 0.0, 1.0);
        ws_test_fill(db, C, 0.5f);
        for (size_t j = 0; j < C; j++) dref[j] = 0.5;
        for (int r = 0; r < R; r++)
            for (size_t j = 0; j < C; j++) {
                ref[r * C + j] = (double)x[r * C + j] + b[j];
                dref[j] += x[r * C + j]; /* x plays dy below */
            }
        ws_test_poison(y, n * sizeof *y);
        WS_TEST_STATUS(WS_OK, ws_bias_add_forward(&ex, R, C, y, x, b));
        WS_TEST_CLOSE(y, ref, n, WS_TOL_FP32);
        WS_TEST_STATUS(WS_OK, ws_bias_add_backward(&ex, R, C, db, x));
        WS_TEST_CLOSE(db, dref, C, WS_TOL_FP32);
        WS_TEST_STATUS(WS_OK, ws_bias_add_forward(&ex, R, C, x, x, b)); /* in place */
        WS_TEST_BITWISE(x, y, n);
        free(x), free(y), free(b), free(db), free(ref), free(dref);
    }
}

typedef struct {
    float *x, *b, *y, *r;
    int rows;
    size_t count;
} fd_ctx;

static double loss_of(void *ctx) {
    fd_ctx *c = ctx;
    ws_bias_add_forward_cpu(c->rows, c->count, 1, c->y, c->x, c->b);
    return ws_gradcheck_dot(c->r, c->y, (size_t)c->rows * c->count);
}

static void test_bias_add_gradients_and_threads(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9302);
    fd_ctx c = {.rows = 4, .count = 37};
    size_t n = (size_t)c.rows * c.count;
    c.x = ws_test_floats(n), c.y = ws_test_floats(n), c.r = ws_test_floats(n), c.b = ws_test_floats(c.count);
    float *db = ws_test_floats(c.count);
    ws_test_fill_normal(&rng, c.x, n, 0.0, 1.0);
    ws_test_fill_normal(&rng, c.b, c.count, 0.0, 1.0);
    ws_test_fill_normal(&rng, c.r, n, 0.0, 1.0);
    ws_test_fill(db, c.count, 0.0f);
    ws_bias_add_backward_cpu(c.rows, c.count, 1, db, c.r);
    WS_GRADCHECK(c.b, c.count, db, loss_of, &c, NULL);
    /* thread counts: the same bits */
    size_t big = (size_t)3 * 20000;
    float *dy = ws_test_floats(big), *d1 = ws_test_floats(20000), *d3 = ws_test_floats(20000);
    ws_test_fill_normal(&rng, dy, big, 0.0, 1.0);
    ws_test_fill(d1, 20000, 0.0f), ws_test_fill(d3, 20000, 0.0f);
    ws_bias_add_backward_cpu(3, 20000, 1, d1, dy);
    ws_bias_add_backward_cpu(3, 20000, 3, d3, dy);
    WS_TEST_BITWISE(d1, d3, 20000);
    ws_exec ex = cpu(1), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW};
    WS_TEST_STATUS(WS_ENOTSUP, ws_bias_add_forward(&gpu, c.rows, c.count, c.y, c.x, c.b));
    WS_TEST_STATUS(WS_ENOTSUP, ws_bias_add_backward(&gpu, c.rows, c.count, db, c.r));
    WS_TEST_STATUS(WS_EINVAL, ws_bias_add_forward(&ex, 0, c.count, c.y, c.x, c.b));
    WS_TEST_STATUS(WS_EINVAL, ws_bias_add_forward(&ex, c.rows, 0, c.y, c.x, c.b));
    WS_TEST_STATUS(WS_EINVAL, ws_bias_add_forward(&ex, c.rows, c.count, c.y, c.x, NULL));
    WS_TEST_STATUS(WS_EINVAL, ws_bias_add_backward(&ex, c.rows, c.count, NULL, c.r));
    free(c.x), free(c.y), free(c.r), free(c.b), free(db), free(dy), free(d1), free(d3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bias_add_definition),
        cmocka_unit_test(test_bias_add_gradients_and_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
