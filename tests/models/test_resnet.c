/* tests/models/test_resnet.c - the ResNet graph: torchvision's parameter counts and names,
 * finite-difference gradients of whole small networks (basic and bottleneck blocks, both
 * stems), and determinism. Agreement with PyTorch itself: test_resnet_torch.c. */
#include "ws_test.h"
#include "core/rng.h"
#include "models/resnet.h"
#include "ops/loss.h"

static void test_parameter_counts_match_torchvision(void **state) {
    (void)state;
    ws_resnet_opts o = ws_resnet_opts_default();
    o.depth = 50;
    assert_int_equal(ws_resnet_param_count(&o), 25557032); /* torchvision.models.resnet50() */
    o.depth = 18;
    assert_int_equal(ws_resnet_param_count(&o), 11689512); /* resnet18 */
    o.depth = 34;
    assert_int_equal(ws_resnet_param_count(&o), 21797672); /* resnet34 */
    o.depth = 101;
    assert_int_equal(ws_resnet_param_count(&o), 44549160); /* resnet101 */
    o.depth = 7;
    assert_int_equal(ws_resnet_param_count(&o), 0);
    ws_model *m = NULL;
    ws_error err = {0};
    assert_int_equal(ws_resnet_open(&m, &o, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "depth 7"));
}

static ws_model *small(int depth, int small_stem, int width, int c, int hw, int classes, int batch, uint64_t seed) {
    ws_resnet_opts o = ws_resnet_opts_default();
    o.depth = depth;
    o.small_stem = small_stem;
    o.base_width = width;
    o.in_c = c;
    o.in_h = o.in_w = hw;
    o.classes = classes;
    o.max_batch = batch;
    o.threads = 1;
    o.seed = seed;
    ws_model *m = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_resnet_open(&m, &o, &err));
    return m;
}

static void test_names_and_layout(void **state) {
    (void)state;
    ws_model *m = small(50, 0, 4, 3, 32, 10, 2, 1);
    const char *names[] = {"conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight", "layer1.0.bn3.bias",
                           "layer4.2.conv3.weight", "fc.weight", "fc.bias"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!ws_model_find(m, names[i])) fail_msg("no tensor %s", names[i]);
    const ws_model_tensor *t = ws_model_find(m, "layer2.0.conv2.weight");
    assert_int_equal(t->dims[0], 8);
    assert_int_equal(t->dims[1], 8);
    assert_int_equal(t->dims[2], 3);
    size_t sum = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!m->tensors[i].is_buffer) sum += m->tensors[i].count;
    assert_int_equal(sum, m->n_params);
    assert_true(ws_model_find(m, "bn1.weight")->no_decay);
    assert_false(ws_model_find(m, "conv1.weight")->no_decay);
    ws_model_close(m);
}

/* L(params) for fixed inputs: mean softmax cross-entropy of a training-mode forward. */
static double loss_of(ws_model *m, const ws_exec *ex, const float *x, const int32_t *y, int n, float *probs) {
    const void *logits;
    ws_error err = {0};
    WS_TEST_OK(ws_model_forward(m, ex, x, n, 1, &logits, &err));
    double loss = 0;
    WS_TEST_OK(ws_softmax_xent_forward(ex, n, m->classes, &loss, probs, logits, y, 0.1f));
    return loss;
}

/* Central differences on a sample of parameters from every tensor. The network is
 * piecewise smooth (ReLU, max pool) and BN couples every activation of a channel, so a
 * difference quotient converges only for small steps (measured on the bottleneck net:
 * layer1.0.conv2.weight 1.45 at h=4e-3, -6.69 at 1e-3, -12.77 at 2.5e-4, -13.68 at 6e-5,
 * analytic -13.82); fp32 rounding of the loss (~1e-6) bounds the step from below. Hence
 * h = 1e-4 (noise ~1e-2), a tolerance of 5e-2 relative + 1e-2 absolute, and a few misses
 * allowed where the step still crosses a kink (below). The exact comparison is against
 * PyTorch (test_resnet_torch.c). */
static void gradcheck(ws_model *m, int n, uint64_t seed) {
    ws_exec ex = ws_exec_cpu(1);
    ws_rng rng = ws_rng_seeded(seed);
    size_t in = (size_t)n * m->in_c * m->in_h * m->in_w;
    float *x = malloc(in * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    float *probs = malloc((size_t)n * m->classes * sizeof *probs);
    float *dlogits = malloc((size_t)n * m->classes * sizeof *dlogits);
    for (size_t i = 0; i < in; i++) x[i] = (float)ws_rng_normal(&rng);
    for (int i = 0; i < n; i++) y[i] = (int32_t)ws_rng_below(&rng, (uint64_t)m->classes);
    ws_error err = {0};
    /* move BN weights and biases away from 1/0 so their gradients are generic */
    for (size_t t = 0; t < m->n_tensors; t++)
        if (!m->tensors[t].is_buffer && m->tensors[t].ndims == 1)
            for (size_t i = 0; i < m->tensors[t].count; i++)
                m->params[m->tensors[t].offset + i] += (float)(0.1 * ws_rng_normal(&rng));
    memset(m->grads, 0, m->n_params * sizeof(float));
    loss_of(m, &ex, x, y, n, probs);
    WS_TEST_OK(ws_softmax_xent_backward(&ex, n, m->classes, dlogits, probs, y, 0.1f, 1.0f / n));
    WS_TEST_OK(ws_model_backward(m, &ex, dlogits, n, &err));
    int checked = 0, bad = 0;
    for (size_t t = 0; t < m->n_tensors; t++) {
        const ws_model_tensor *tt = &m->tensors[t];
        if (tt->is_buffer) continue;
        for (int k = 0; k < 2; k++) {
            size_t j = tt->offset + ws_rng_below(&rng, tt->count);
            float p0 = m->params[j];
            float h = 1e-4f * (fabsf(p0) > 1 ? fabsf(p0) : 1);
            m->params[j] = p0 + h;
            double lp = loss_of(m, &ex, x, y, n, probs);
            m->params[j] = p0 - h;
            double lm = loss_of(m, &ex, x, y, n, probs);
            m->params[j] = p0;
            double fd = (lp - lm) / (2.0 * h), g = m->grads[j];
            checked++;
            if (!(fabs(fd - g) <= 5e-2 * fmax(fabs(fd), fabs(g)) + 1e-2)) {
                bad++;
                print_message("%s[%zu]: analytic %.6g, finite difference %.6g\n", tt->name, j - tt->offset, g, fd);
            }
        }
    }
    /* A wrong backward puts most parameters off; a ReLU or max-pool kink crossed by the
     * step puts a few off (measured: 0 of 124 for the basic-block net, 16 of 322 for the
     * 16-block bottleneck net). Allow 1 in 10. */
    print_message("%s: %d parameters checked, %d off\n", m->name, checked, bad);
    assert_true(bad * 10 <= checked);
    free(x);
    free(y);
    free(probs);
    free(dlogits);
}

static void test_gradients_basic_block_small_stem(void **state) {
    (void)state;
    ws_model *m = small(18, 1, 4, 2, 16, 5, 4, 3);
    gradcheck(m, 4, 11);
    ws_model_close(m);
}

static void test_gradients_bottleneck_imagenet_stem(void **state) {
    (void)state;
    ws_model *m = small(50, 0, 4, 3, 64, 4, 4, 5); /* 64 px: layer4 is 2x2, BN sees 16 values */
    gradcheck(m, 4, 12);
    ws_model_close(m);
}

static void test_deterministic_and_eval_mode(void **state) {
    (void)state;
    ws_model *a = small(18, 1, 4, 1, 12, 3, 2, 9), *b = small(18, 1, 4, 1, 12, 3, 2, 9), *c = small(18, 1, 4, 1, 12, 3, 2, 10);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    assert_memory_not_equal(a->params, c->params, a->n_params * sizeof(float));
    ws_exec ex = ws_exec_cpu(1);
    float x[2 * 144];
    ws_rng rng = ws_rng_seeded(3);
    for (int i = 0; i < 288; i++) x[i] = (float)ws_rng_normal(&rng);
    const void *la, *lb;
    float keep[6];
    ws_error err = {0};
    WS_TEST_OK(ws_model_forward(a, &ex, x, 2, 0, &la, &err));
    memcpy(keep, la, sizeof keep);
    WS_TEST_OK(ws_model_forward(b, &ex, x, 2, 0, &lb, &err));
    assert_memory_equal(keep, lb, sizeof keep);
    /* eval mode leaves the running statistics alone; training mode moves them */
    float *before = malloc(a->n_buffers * sizeof(float));
    memcpy(before, a->buffers, a->n_buffers * sizeof(float));
    WS_TEST_OK(ws_model_forward(a, &ex, x, 2, 0, &la, &err));
    assert_memory_equal(before, a->buffers, a->n_buffers * sizeof(float));
    WS_TEST_OK(ws_model_forward(a, &ex, x, 2, 1, &la, &err));
    assert_memory_not_equal(before, a->buffers, a->n_buffers * sizeof(float));
    assert_int_equal(ws_model_forward(a, &ex, x, 3, 1, &la, &err), WS_EINVAL); /* beyond max_batch */
    free(before);
    ws_model_close(a);
    ws_model_close(b);
    ws_model_close(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameter_counts_match_torchvision),
        cmocka_unit_test(test_names_and_layout),
        cmocka_unit_test(test_gradients_basic_block_small_stem),
        cmocka_unit_test(test_gradients_bottleneck_imagenet_stem),
        cmocka_unit_test(test_deterministic_and_eval_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
