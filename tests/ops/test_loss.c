/* tests/ops/test_loss.c - softmax cross-entropy with label smoothing and top-k accuracy
 * (src/ops/loss_cpu.c, dispatch in src/ops/loss.c) against nn.CrossEntropyLoss's
 * definition in double: loss, probabilities, gradient (=, scaled), finite differences,
 * logits of 1e4 and beyond, ties and NaN in top-k, statuses.
 * Shapes: logits, probs, dlogits [N,K]; labels [N]. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/loss.h"

typedef struct {
    int n, k;
} shape;

static const shape SHAPES[] = {{1, 1}, {1, 7}, {5, 10}, {3, 3}, {7, 1000}};
enum { N_SHAPES = sizeof SHAPES / sizeof *SHAPES };
static const float SMOOTHING[] = {0.0f, 0.1f, 1.0f};

static ws_exec cpu(void) { return ws_exec_cpu(1); }

/* The definition term by term: log softmax_k = z_k - lse, loss = mean_i -sum_k q_ik log
 * softmax_ik, q = (1-eps) one_hot + eps/K; probs = exp(log softmax). */
static double ref_loss(int n, int k, const float *z, const int32_t *labels, double eps, double *probs) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * k;
        double mx = zi[0], s = 0.0, li = 0.0;
        for (int j = 1; j < k; j++) mx = zi[j] > mx ? zi[j] : mx;
        for (int j = 0; j < k; j++) s += exp(zi[j] - mx);
        double lse = mx + log(s);
        for (int j = 0; j < k; j++) {
            double q = (j == labels[i] ? 1.0 - eps : 0.0) + eps / k;
            li -= q * (zi[j] - lse);
            if (probs) probs[(size_t)i * k + j] = exp(zi[j] - lse);
        }
        total += li;
    }
    return total / n;
}

typedef struct {
    shape s;
    float *z, *probs, *dz;
    int32_t *labels;
} problem;

static problem problem_make(ws_rng *rng, shape s, double std) {
    problem pb = {.s = s};
    size_t nz = (size_t)s.n * s.k;
    pb.z = ws_test_floats(nz), pb.probs = ws_test_floats(nz), pb.dz = ws_test_floats(nz);
    pb.labels = malloc((size_t)s.n * sizeof *pb.labels);
    ws_test_fill_normal(rng, pb.z, nz, 0.0, std);
    for (int i = 0; i < s.n; i++) pb.labels[i] = (int32_t)ws_rng_below(rng, (uint64_t)s.k);
    ws_test_poison(pb.probs, nz * sizeof(float)), ws_test_poison(pb.dz, nz * sizeof(float));
    return pb;
}

static void problem_free(problem *pb) { free(pb->z), free(pb->probs), free(pb->dz), free(pb->labels); }

static void test_xent_forward_matches_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(7001);
    ws_exec ex = cpu();
    for (int si = 0; si < N_SHAPES; si++)
        for (int e = 0; e < 3; e++) {
            problem pb = problem_make(&rng, SHAPES[si], 3.0);
            size_t nz = (size_t)pb.s.n * pb.s.k;
            double *probs = malloc(nz * sizeof *probs), loss = NAN;
            double want = ref_loss(pb.s.n, pb.s.k, pb.z, pb.labels, SMOOTHING[e], probs);
            WS_TEST_STATUS(WS_OK, ws_softmax_xent_forward(&ex, pb.s.n, pb.s.k, &loss, pb.probs, pb.z, pb.labels,
                                                          SMOOTHING[e]));
            WS_TEST_NEAR(loss, want, 1e-12, 1e-12); /* both in double from the same fp32 logits */
            WS_TEST_CLOSE(pb.probs, probs, nz, WS_TOL_FP32);
            free(probs);
            problem_free(&pb);
        }
    /* one class: softmax is 1, the loss 0, with or without smoothing */
    float z = 5.0f, p = NAN;
    int32_t y = 0;
    double loss = NAN;
    ws_softmax_xent_forward_cpu(1, 1, &loss, &p, &z, &y, 0.1f);
    assert_true(loss == 0.0 && p == 1.0f);
}

/* dlogits (=) over NaN: scale * (probs - q), for the mean (1/N) and for another scale. */
static void test_xent_backward_matches_definition(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(7002);
    ws_exec ex = cpu();
    for (int si = 0; si < N_SHAPES; si++)
        for (int e = 0; e < 3; e++) {
            problem pb = problem_make(&rng, SHAPES[si], 2.0);
            int n = pb.s.n, k = pb.s.k;
            size_t nz = (size_t)n * k;
            double loss, *dz = malloc(nz * sizeof *dz);
            WS_TEST_STATUS(WS_OK, ws_softmax_xent_forward(&ex, n, k, &loss, pb.probs, pb.z, pb.labels, SMOOTHING[e]));
            float scales[2] = {1.0f / (float)n, 2.5f};
            for (int sc = 0; sc < 2; sc++) {
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < k; j++) {
                        double q = (j == pb.labels[i] ? 1.0 - SMOOTHING[e] : 0.0) + SMOOTHING[e] / k;
                        dz[(size_t)i * k + j] = scales[sc] * (pb.probs[(size_t)i * k + j] - q);
                    }
                ws_test_poison(pb.dz, nz * sizeof(float));
                WS_TEST_STATUS(WS_OK, ws_softmax_xent_backward(&ex, n, k, pb.dz, pb.probs, pb.labels, SMOOTHING[e],
                                                               scales[sc]));
                WS_TEST_CLOSE(pb.dz, dz, nz, WS_TOL_FP32);
            }
            free(dz);
            problem_free(&pb);
        }
}

typedef struct {
    problem *pb;
    float smoothing;
} fd_ctx;

static double loss_of_logits(void *ctx) {
    fd_ctx *c = ctx;
    double loss;
    ws_softmax_xent_forward_cpu(c->pb->s.n, c->pb->s.k, &loss, c->pb->probs, c->pb->z, c->pb->labels, c->smoothing);
    return loss; /* already the scalar: no projection */
}

static void test_xent_gradient_matches_finite_differences(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(7003);
    for (int si = 0; si < N_SHAPES; si++)
        for (int e = 0; e < 3; e++) {
            problem pb = problem_make(&rng, SHAPES[si], 2.0);
            int n = pb.s.n, k = pb.s.k;
            double loss;
            ws_softmax_xent_forward_cpu(n, k, &loss, pb.probs, pb.z, pb.labels, SMOOTHING[e]);
            ws_softmax_xent_backward_cpu(n, k, pb.dz, pb.probs, pb.labels, SMOOTHING[e], 1.0f / (float)n);
            fd_ctx c = {&pb, SMOOTHING[e]};
            ws_gradcheck_opts o = ws_gradcheck_opts_default();
            o.max_points = 400; /* the 7 x 1000 case: a seeded sample */
            WS_GRADCHECK(pb.z, (size_t)n * k, pb.dz, loss_of_logits, &c, &o);
            problem_free(&pb);
        }
}

/* Logits of +-1e4 (exp overflows past ~88 in fp32, ~709 in double): finite, and equal to
 * the closed forms. Rows: (1e4, 1e4, -1e4) label 0 -> log 2; (-1e4, -1e4, -1e4) label 2
 * -> log 3; (1e4, -1e4, 0) label 1 -> 2e4. With smoothing eps: (1-eps) that + eps (lse - mean z). */
static void test_xent_large_logits(void **state) {
    (void)state;
    float z[9] = {1e4f, 1e4f, -1e4f, -1e4f, -1e4f, -1e4f, 1e4f, -1e4f, 0.0f};
    int32_t labels[3] = {0, 2, 1};
    float probs[9], dz[9];
    ws_exec ex = cpu();
    for (int e = 0; e < 2; e++) {
        double eps = SMOOTHING[e], loss = NAN;
        double lse[3] = {1e4 + log(2.0), -1e4 + log(3.0), 1e4};
        double mean_z[3] = {1e4 / 3.0, -1e4, 0.0}, z_y[3] = {1e4, -1e4, -1e4};
        double want = 0.0;
        for (int i = 0; i < 3; i++) want += ((1.0 - eps) * (lse[i] - z_y[i]) + eps * (lse[i] - mean_z[i])) / 3.0;
        WS_TEST_STATUS(WS_OK, ws_softmax_xent_forward(&ex, 3, 3, &loss, probs, z, labels, (float)eps));
        WS_TEST_NEAR(loss, want, 1e-12, 1e-9);
        WS_TEST_NEAR(loss, ref_loss(3, 3, z, labels, eps, NULL), 1e-12, 1e-9);
        double p_want[9] = {0.5, 0.5, 0.0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 1.0, 0.0, 0.0};
        WS_TEST_CLOSE(probs, p_want, 9, WS_TOL_FP32);
        WS_TEST_STATUS(WS_OK, ws_softmax_xent_backward(&ex, 3, 3, dz, probs, labels, (float)eps, 1.0f / 3));
        WS_TEST_NO_NAN(dz, 9);
        for (int i = 0; i < 9; i++) assert_true(isfinite(dz[i]));
    }
    /* near fp32's largest magnitude: rows (3e38, -3e38) label 0 -> 0 and (3e38, 0) label 1
     * -> 3e38; finite, with or without smoothing (whose mean_k z stays finite in double) */
    float big[4] = {3e38f, -3e38f, 3e38f, 0.0f};
    int32_t y2[2] = {0, 1};
    for (int e = 0; e < 2; e++) {
        double loss = NAN, eps = SMOOTHING[e], b = 3e38f;
        double want = ((1.0 - eps) * 0.0 + eps * b + (1.0 - eps) * b + eps * (b - b / 2)) / 2;
        WS_TEST_STATUS(WS_OK, ws_softmax_xent_forward(&ex, 2, 2, &loss, probs, big, y2, (float)eps));
        assert_true(isfinite(loss));
        WS_TEST_NEAR(loss, want, 1e-12, 0.0);
    }
}

/* sorted-order definition: the label's rank in a stable descending sort */
static int ref_topk(int n, int k, const float *z, const int32_t *labels, int topk) {
    int correct = 0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * k;
        int rank = 0;
        for (int j = 0; j < k; j++)
            if (zi[j] > zi[labels[i]] || (zi[j] == zi[labels[i]] && j < labels[i])) rank++;
        correct += rank < topk;
    }
    return correct;
}

static void test_topk_correct(void **state) {
    (void)state;
    /* row 0: label 3 ties index 1 (0.5), which comes first; row 1: label 1 is the first of the
     * tie; row 2: a NaN logit; row 3: a NaN label logit */
    float z[16] = {0.1f, 0.5f, 0.3f, 0.5f, 0.1f, 0.5f, 0.3f, 0.5f, 0.1f, NAN, 0.3f, 0.2f, 0.1f, NAN, 0.3f, 0.2f};
    int32_t labels[4] = {3, 1, 2, 1};
    assert_int_equal(ws_topk_correct(1, 4, z, labels, 1), 0);
    assert_int_equal(ws_topk_correct(1, 4, z, labels, 2), 1);
    assert_int_equal(ws_topk_correct(2, 4, z + 0, labels, 1), 1);          /* row 1 only */
    assert_int_equal(ws_topk_correct(1, 4, z + 8, labels + 2, 1), 0);      /* NaN ranks ahead of 0.3 */
    assert_int_equal(ws_topk_correct(1, 4, z + 8, labels + 2, 2), 1);
    assert_int_equal(ws_topk_correct(1, 4, z + 12, labels + 3, 4), 0);     /* NaN label: never correct */
    assert_int_equal(ws_topk_correct(2, 4, z, labels, 4), 2);              /* top-K: every finite row */
    assert_int_equal(ws_topk_correct(2, 4, z, labels, 0), 0);
    int32_t out_of_range = 4;
    assert_int_equal(ws_topk_correct(1, 4, z, &out_of_range, 4), 0);

    ws_rng rng = ws_rng_seeded(7004);
    problem pb = problem_make(&rng, (shape){200, 10}, 1.0);
    for (size_t i = 0; i < 2000; i += 7) pb.z[i] = pb.z[i + 3]; /* some ties */
    for (int t = 1; t <= 10; t++)
        assert_int_equal(ws_topk_correct(200, 10, pb.z, pb.labels, t), ref_topk(200, 10, pb.z, pb.labels, t));
    problem_free(&pb);
}

static void test_xent_dispatch(void **state) {
    (void)state;
    float z[6] = {1, 2, 3, 4, 5, 6}, probs[6], dz[6];
    int32_t labels[2] = {0, 2}, bad_labels[2] = {0, 3}, negative[2] = {-1, 0};
    double loss;
    ws_exec ex = cpu(), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW}, bf16 = {WS_DEVICE_CPU, WS_BF16, 1, NULL, WS_NCHW};
    WS_TEST_STATUS(WS_OK, ws_softmax_xent_forward(&ex, 2, 3, &loss, probs, z, labels, 0.1f));
    WS_TEST_STATUS(WS_OK, ws_softmax_xent_backward(&ex, 2, 3, dz, probs, labels, 0.1f, 0.5f));
    WS_TEST_STATUS(WS_ENOTSUP, ws_softmax_xent_forward(&gpu, 2, 3, &loss, probs, z, labels, 0.1f));
    WS_TEST_STATUS(WS_ENOTSUP, ws_softmax_xent_backward(&gpu, 2, 3, dz, probs, labels, 0.1f, 0.5f));
    WS_TEST_STATUS(WS_ENOTSUP, ws_softmax_xent_forward(&bf16, 2, 3, &loss, probs, z, labels, 0.1f));
    WS_TEST_STATUS(WS_EINVAL, ws_softmax_xent_forward(&ex, 2, 3, &loss, probs, z, bad_labels, 0.1f));
    WS_TEST_STATUS(WS_EINVAL, ws_softmax_xent_backward(&ex, 2, 3, dz, probs, negative, 0.1f, 0.5f));
    WS_TEST_STATUS(WS_EINVAL, ws_softmax_xent_forward(&ex, 2, 3, &loss, probs, z, labels, -0.1f));
    WS_TEST_STATUS(WS_EINVAL, ws_softmax_xent_forward(&ex, 2, 3, &loss, probs, z, labels, 1.5f));
    WS_TEST_STATUS(WS_EINVAL, ws_softmax_xent_forward(&ex, 2, 3, &loss, probs, z, labels, NAN));
    WS_TEST_STATUS(WS_EINVAL, ws_softmax_xent_forward(&gpu, 0, 3, &loss, probs, z, labels, 0.1f));
    WS_TEST_STATUS(WS_EINVAL, ws_softmax_xent_forward(&ex, 2, 0, &loss, probs, z, labels, 0.1f));
    WS_TEST_STATUS(WS_EINVAL, ws_softmax_xent_forward(&ex, 2, 3, NULL, probs, z, labels, 0.1f));
    WS_TEST_STATUS(WS_EINVAL, ws_softmax_xent_backward(NULL, 2, 3, dz, probs, labels, 0.1f, 0.5f));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xent_forward_matches_definition),
        cmocka_unit_test(test_xent_backward_matches_definition),
        cmocka_unit_test(test_xent_gradient_matches_finite_differences),
        cmocka_unit_test(test_xent_large_logits),
        cmocka_unit_test(test_topk_correct),
        cmocka_unit_test(test_xent_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
