/* tests/ops/test_linear.c - the fully connected layer (src/ops/linear_cpu.c, dispatch in
 * src/ops/linear.c) against nn.Linear's definition in double: forward with and without a
 * bias, dx (=), dw and db (+=), the NULL skips, finite differences, statuses.
 * Shapes: x [N,IN], w [OUT,IN], b [OUT], y [N,OUT]. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/linear.h"

typedef struct {
    int n, in, out;
} shape;

/* batch 1, odd sizes, sizes past the fallback gemm's 64-row blocks, a 1-wide layer */
static const shape SHAPES[] = {{1, 7, 5}, {3, 13, 10}, {5, 70, 33}, {2, 1, 1}, {67, 9, 3}};
enum { N_SHAPES = sizeof SHAPES / sizeof *SHAPES };

typedef struct {
    shape s;
    float *x, *w, *b, *y, *dy, *dx, *dw, *db;
    int use_bias;
} problem;

static problem problem_make(ws_rng *rng, shape s) {
    size_t nx = (size_t)s.n * s.in, nw = (size_t)s.out * s.in, ny = (size_t)s.n * s.out;
    problem pb = {.s = s, .use_bias = 1};
    pb.x = ws_test_floats(nx), pb.w = ws_test_floats(nw), pb.b = ws_test_floats((size_t)s.out);
    pb.y = ws_test_floats(ny), pb.dy = ws_test_floats(ny), pb.dx = ws_test_floats(nx);
    pb.dw = ws_test_floats(nw), pb.db = ws_test_floats((size_t)s.out);
    ws_test_fill_normal(rng, pb.x, nx, 0.0, 1.0);
    ws_test_fill_normal(rng, pb.w, nw, 0.0, 1.0 / sqrt(s.in));
    ws_test_fill_normal(rng, pb.b, (size_t)s.out, 0.0, 0.5);
    ws_test_fill_normal(rng, pb.dy, ny, 0.0, 1.0);
    ws_test_poison(pb.y, ny * sizeof(float)), ws_test_poison(pb.dx, nx * sizeof(float));
    ws_test_fill(pb.dw, nw, 0.5f), ws_test_fill(pb.db, (size_t)s.out, -0.25f);
    return pb;
}

static void problem_free(problem *pb) {
    free(pb->x), free(pb->w), free(pb->b), free(pb->y), free(pb->dy), free(pb->dx), free(pb->dw), free(pb->db);
}

static void test_linear_forward_matches_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(6001);
    ws_exec ex = ws_exec_cpu(1);
    for (int si = 0; si < N_SHAPES; si++) {
        shape s = SHAPES[si];
        problem pb = problem_make(&rng, s);
        size_t ny = (size_t)s.n * s.out;
        double *y = malloc(ny * sizeof *y), *mag = malloc(ny * sizeof *mag);
        for (int use_bias = 1; use_bias >= 0; use_bias--) {
            for (int i = 0; i < s.n; i++)
                for (int o = 0; o < s.out; o++) {
                    double acc = use_bias ? pb.b[o] : 0.0, m = fabs(acc);
                    for (int k = 0; k < s.in; k++) {
                        double t = (double)pb.x[(size_t)i * s.in + k] * pb.w[(size_t)o * s.in + k];
                        acc += t, m += fabs(t);
                    }
                    y[(size_t)i * s.out + o] = acc, mag[(size_t)i * s.out + o] = m;
                }
            ws_test_poison(pb.y, ny * sizeof(float));
            WS_TEST_STATUS(WS_OK, ws_linear_forward(&ex, s.n, s.in, s.out, pb.y, pb.x, pb.w, use_bias ? pb.b : NULL));
            WS_TEST_CLOSE_MAG(pb.y, y, mag, ny, WS_TOL_FP32);
        }
        free(y), free(mag);
        problem_free(&pb);
    }
}

/* dx (=) over NaN; dw (+=) onto 0.5, db (+=) onto -0.25; NULL dx or db skip only themselves. */
static void test_linear_backward_matches_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(6002);
    ws_exec ex = ws_exec_cpu(1);
    for (int si = 0; si < N_SHAPES; si++) {
        shape s = SHAPES[si];
        problem pb = problem_make(&rng, s);
        size_t nx = (size_t)s.n * s.in, nw = (size_t)s.out * s.in;
        double *dx = calloc(nx, sizeof *dx), *dx_mag = calloc(nx, sizeof *dx_mag);
        double *dw = malloc(nw * sizeof *dw), *dw_mag = malloc(nw * sizeof *dw_mag);
        double *db = malloc((size_t)s.out * sizeof *db), *db_mag = malloc((size_t)s.out * sizeof *db_mag);
        for (size_t e = 0; e < nw; e++) dw[e] = 0.5, dw_mag[e] = 0.5;
        for (int o = 0; o < s.out; o++) db[o] = -0.25, db_mag[o] = 0.25;
        for (int i = 0; i < s.n; i++)
            for (int o = 0; o < s.out; o++) {
                double g = pb.dy[(size_t)i * s.out + o];
                db[o] += g, db_mag[o] += fabs(g);
                for (int k = 0; k < s.in; k++) {
                    double wv = pb.w[(size_t)o * s.in + k], xv = pb.x[(size_t)i * s.in + k];
                    dx[(size_t)i * s.in + k] += g * wv, dx_mag[(size_t)i * s.in + k] += fabs(g * wv);
                    dw[(size_t)o * s.in + k] += g * xv, dw_mag[(size_t)o * s.in + k] += fabs(g * xv);
                }
            }
        WS_TEST_STATUS(WS_OK, ws_linear_backward(&ex, s.n, s.in, s.out, pb.dx, pb.dw, pb.db, pb.dy, pb.x, pb.w));
        WS_TEST_CLOSE_MAG(pb.dx, dx, dx_mag, nx, WS_TOL_FP32);
        WS_TEST_CLOSE_MAG(pb.dw, dw, dw_mag, nw, WS_TOL_FP32);
        WS_TEST_CLOSE_MAG(pb.db, db, db_mag, (size_t)s.out, WS_TOL_FP32);

        float *dw2 = ws_test_floats(nw), *db2 = ws_test_floats((size_t)s.out);
        ws_test_fill(dw2, nw, 0.5f), ws_test_fill(db2, (size_t)s.out, -0.25f);
        WS_TEST_STATUS(WS_OK, ws_linear_backward(&ex, s.n, s.in, s.out, NULL, dw2, db2, pb.dy, pb.x, pb.w));
        WS_TEST_BITWISE(dw2, pb.dw, nw);
        WS_TEST_BITWISE(db2, pb.db, (size_t)s.out);
        ws_test_fill(dw2, nw, 0.5f), ws_test_fill(db2, (size_t)s.out, 7.0f);
        WS_TEST_STATUS(WS_OK, ws_linear_backward(&ex, s.n, s.in, s.out, pb.dx, dw2, NULL, pb.dy, pb.x, pb.w));
        WS_TEST_BITWISE(dw2, pb.dw, nw);
        for (int o = 0; o < s.out; o++) assert_true(db2[o] == 7.0f);
        free(dx), free(dx_mag), free(dw), free(dw_mag), free(db), free(db_mag), free(dw2), free(db2);
        problem_free(&pb);
    }
}

static double loss_of_forward(void *ctx) {
    problem *pb = ctx;
    ws_linear_forward_cpu(pb->s.n, pb->s.in, pb->s.out, pb->y, pb->x, pb->w, pb->use_bias ? pb->b : NULL);
    return ws_gradcheck_dot(pb->dy, pb->y, (size_t)pb->s.n * pb->s.out);
}

static void test_linear_gradients_match_finite_differences(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(6003);
    for (int si = 0; si < N_SHAPES; si++) {
        shape s = SHAPES[si];
        problem pb = problem_make(&rng, s);
        ws_test_fill(pb.dw, (size_t)s.out * s.in, 0.0f), ws_test_fill(pb.db, (size_t)s.out, 0.0f);
        ws_linear_backward_cpu(s.n, s.in, s.out, pb.dx, pb.dw, pb.db, pb.dy, pb.x, pb.w);
        WS_GRADCHECK(pb.x, (size_t)s.n * s.in, pb.dx, loss_of_forward, &pb, NULL);
        WS_GRADCHECK(pb.w, (size_t)s.out * s.in, pb.dw, loss_of_forward, &pb, NULL);
        WS_GRADCHECK(pb.b, (size_t)s.out, pb.db, loss_of_forward, &pb, NULL);
        problem_free(&pb);
    }
}

static void test_linear_dispatch(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(6004);
    shape s = SHAPES[1];
    problem pb = problem_make(&rng, s);
    ws_exec ex = ws_exec_cpu(2), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW};
    ws_exec fp16 = {WS_DEVICE_CPU, WS_FP16, 1, NULL, WS_NCHW};
    WS_TEST_STATUS(WS_OK, ws_linear_forward(&ex, s.n, s.in, s.out, pb.y, pb.x, pb.w, pb.b));
    WS_TEST_STATUS(WS_ENOTSUP, ws_linear_forward(&gpu, s.n, s.in, s.out, pb.y, pb.x, pb.w, pb.b));
    WS_TEST_STATUS(WS_ENOTSUP, ws_linear_backward(&gpu, s.n, s.in, s.out, pb.dx, pb.dw, pb.db, pb.dy, pb.x, pb.w));
    WS_TEST_STATUS(WS_ENOTSUP, ws_linear_forward(&fp16, s.n, s.in, s.out, pb.y, pb.x, pb.w, pb.b));
    WS_TEST_STATUS(WS_EINVAL, ws_linear_forward(&ex, 0, s.in, s.out, pb.y, pb.x, pb.w, pb.b));
    WS_TEST_STATUS(WS_EINVAL, ws_linear_forward(&ex, s.n, -1, s.out, pb.y, pb.x, pb.w, pb.b));
    WS_TEST_STATUS(WS_EINVAL, ws_linear_forward(&gpu, s.n, s.in, 0, pb.y, pb.x, pb.w, pb.b));
    WS_TEST_STATUS(WS_EINVAL, ws_linear_forward(&ex, s.n, s.in, s.out, pb.y, pb.x, NULL, pb.b));
    WS_TEST_STATUS(WS_EINVAL, ws_linear_backward(&ex, s.n, s.in, s.out, pb.dx, NULL, pb.db, pb.dy, pb.x, pb.w));
    WS_TEST_STATUS(WS_EINVAL, ws_linear_backward(NULL, s.n, s.in, s.out, pb.dx, pb.dw, pb.db, pb.dy, pb.x, pb.w));
    problem_free(&pb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_forward_matches_definition),
        cmocka_unit_test(test_linear_backward_matches_definition),
        cmocka_unit_test(test_linear_gradients_match_finite_differences),
        cmocka_unit_test(test_linear_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
