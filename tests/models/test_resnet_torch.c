/* tests/models/test_resnet_torch.c - the CPU ResNet against PyTorch.
 * Two small networks (A: ResNet-18 layout, width 8, small stem, 3x16x16, 10 classes, batch
 * 4; B: ResNet-50 layout, width 4, ImageNet stem, 3x64x64, 7 classes, batch 4) with weights
 * and inputs from fixed seeds. Both leave layer4 at 2x2, so its batch norms see 16 values per
 * channel: at 1x1 and batch 3 (tried first) a BN over 3 values amplified fp32 rounding to
 * 5% in the logits, an ill-conditioned test rather than a wrong network. PyTorch's answers (float64, CPU) are committed in
 * tools/fixtures/resnet_{a,b}.wstf, made by tools/fixtures/make_fixtures.sh from the inputs
 * this program exports when WATTSCALE_FIXTURE_EXPORT=DIR is set.
 * Tolerances (our fp32 against float64), each relative to the largest magnitude in the
 * tensor, since fp32 error grows with depth rather than with each element: logits 5e-4
 * (measured 2026-11-25: 8.8e-5 for the 16-block net B, less for A), loss 1e-5; parameter
 * gradients 2e-3 (fp32 sums over thousands of terms through BN's batch statistics);
 * running statistics 1e-4 (measured 1.2e-5). */
#include "ws_test.h"
#include "core/rng.h"
#include "core/tensorfile.h"
#include "models/resnet.h"
#include "ops/loss.h"

typedef struct {
    const char *tag;
    int depth, width, small_stem, c, hw, classes, batch;
    uint64_t seed;
    float smoothing;
} config;

static const config configs[] = {
    {"a", 18, 8, 1, 3, 16, 10, 4, 21, 0.1f},
    {"b", 50, 4, 0, 3, 64, 7, 4, 22, 0.1f},
};

typedef struct {
    ws_model *m;
    float *x;
    int32_t *labels;
} setup;

static setup make(const config *c) {
    ws_resnet_opts o = ws_resnet_opts_default();
    o.depth = c->depth;
    o.base_width = c->width;
    o.small_stem = c->small_stem;
    o.in_c = c->c;
    o.in_h = o.in_w = c->hw;
    o.classes = c->classes;
    o.max_batch = c->batch;
    o.threads = 0;
    o.seed = c->seed;
    setup s;
    ws_error err = {0};
    WS_TEST_OK(ws_resnet_open(&s.m, &o, &err));
    ws_rng rng = ws_rng_seeded(c->seed + 1000);
    /* move BN parameters and buffers off their initial 1/0 so the test sees them used */
    for (size_t i = 0; i < s.m->n_tensors; i++) {
        const ws_model_tensor *t = &s.m->tensors[i];
        float *p = (t->is_buffer ? s.m->buffers : s.m->params) + t->offset;
        if (t->ndims == 1 && !strstr(t->name, "fc."))
            for (size_t j = 0; j < t->count; j++)
                p[j] += (float)(strstr(t->name, "running_var") ? 0.5 * ws_rng_uniform(&rng) : 0.2 * ws_rng_normal(&rng));
    }
    size_t n = (size_t)c->batch * c->c * c->hw * c->hw;
    s.x = malloc(n * sizeof(float));
    s.labels = malloc((size_t)c->batch * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) s.x[i] = (float)ws_rng_normal(&rng);
    for (int i = 0; i < c->batch; i++) s.labels[i] = (int32_t)ws_rng_below(&rng, (uint64_t)c->classes);
    return s;
}

static void release(setup *s) {
    ws_model_close(s->m);
    free(s->x);
    free(s->labels);
}

static void export_inputs(const char *dir) {
    for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) {
        const config *c = &configs[k];
        setup s = make(c);
        ws_tensorfile f;
        ws_tensorfile_init(&f);
        ws_error err = {0};
        char meta[256];
        snprintf(meta, sizeof meta,
                 "{\"depth\": %d, \"width\": %d, \"small_stem\": %d, \"in_c\": %d, \"classes\": %d, \"smoothing\": %.9g}",
                 c->depth, c->width, c->small_stem, c->c, c->classes, (double)c->smoothing);
        WS_TEST_OK(ws_tensorfile_add(&f, "meta", WS_TF_U8, 1, NULL, meta, strlen(meta), &err));
        for (size_t i = 0; i < s.m->n_tensors; i++) {
            const ws_model_tensor *t = &s.m->tensors[i];
            char name[96];
            snprintf(name, sizeof name, "%s/%s", t->is_buffer ? "buffer" : "param", t->name);
            uint64_t dims[4];
            for (int d = 0; d < t->ndims; d++) dims[d] = (uint64_t)t->dims[d];
            WS_TEST_OK(ws_tensorfile_add(&f, name, WS_TF_F32, t->ndims, dims,
                                         (t->is_buffer ? s.m->buffers : s.m->params) + t->offset, t->count, &err));
        }
        uint64_t xd[4] = {(uint64_t)c->batch, (uint64_t)c->c, (uint64_t)c->hw, (uint64_t)c->hw};
        WS_TEST_OK(ws_tensorfile_add(&f, "x", WS_TF_F32, 4, xd, s.x, (size_t)c->batch * c->c * c->hw * c->hw, &err));
        WS_TEST_OK(ws_tensorfile_add(&f, "labels", WS_TF_I32, 1, NULL, s.labels, (size_t)c->batch, &err));
        char path[600];
        snprintf(path, sizeof path, "%s/resnet_%s_input.wstf", dir, c->tag);
        WS_TEST_OK(ws_tensorfile_write(&f, path, &err));
        ws_tensorfile_free(&f);
        release(&s);
    }
}

/* |got - want| <= rtol * scale + atol over n values; prints the worst. */
static int close_to(const char *what, const float *got, const double *want, size_t n, double rtol, double atol,
                    int relative_to_max) {
    double scale_max = 0;
    for (size_t i = 0; i < n; i++) scale_max = fmax(scale_max, fabs(want[i]));
    double worst = 0;
    size_t wi = 0;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double scale = relative_to_max ? scale_max : fabs(want[i]);
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= rtol * scale + atol)) ok = 0;
        if (!(d <= worst)) {
            worst = d;
            wi = i;
        }
    }
    if (!ok)
        print_message("%s: worst |diff| %.3g at %zu (got %.8g, PyTorch %.8g, scale %.3g)\n", what, worst, wi,
                      (double)got[wi], want[wi], relative_to_max ? scale_max : fabs(want[wi]));
    return ok;
}

static void compare(const config *c) {
    const char *dir = getenv("WATTSCALE_FIXTURES");
    if (!dir) fail_msg("WATTSCALE_FIXTURES is not set (ctest sets it to tools/fixtures)");
    char path[600];
    snprintf(path, sizeof path, "%s/resnet_%s.wstf", dir, c->tag);
    ws_tensorfile f;
    ws_error err = {0};
    if (ws_tensorfile_read(&f, path, &err) != WS_OK)
        fail_msg("%s (regenerate with tools/fixtures/make_fixtures.sh on a machine with PyTorch)", err.msg);
    setup s = make(c);
    ws_exec ex = ws_exec_cpu(0);
    const void *logits;
    WS_TEST_OK(ws_model_forward(s.m, &ex, s.x, c->batch, 1, &logits, &err));
    size_t nl = (size_t)c->batch * c->classes;
    float *probs = malloc(nl * sizeof(float)), *dlogits = malloc(nl * sizeof(float));
    double loss = 0;
    WS_TEST_OK(ws_softmax_xent_forward(&ex, c->batch, c->classes, &loss, probs, logits, s.labels, c->smoothing));
    const ws_tf_entry *e = ws_tensorfile_find(&f, "logits");
    assert_non_null(e);
    assert_int_equal(e->count, nl);
    int ok = close_to("logits", logits, e->data, nl, 5e-4, 1e-5, 1);
    WS_TEST_NEAR(loss, ((const double *)ws_tensorfile_find(&f, "loss")->data)[0], 1e-5, 1e-6);
    memset(s.m->grads, 0, s.m->n_params * sizeof(float));
    WS_TEST_OK(ws_softmax_xent_backward(&ex, c->batch, c->classes, dlogits, probs, s.labels, c->smoothing,
                                        1.0f / c->batch));
    WS_TEST_OK(ws_model_backward(s.m, &ex, dlogits, c->batch, &err));
    int compared = 0;
    for (size_t i = 0; i < s.m->n_tensors; i++) {
        const ws_model_tensor *t = &s.m->tensors[i];
        char name[96];
        snprintf(name, sizeof name, "%s/%s", t->is_buffer ? "buffer" : "grad", t->name);
        const ws_tf_entry *ref = ws_tensorfile_find(&f, name);
        if (!ref || ref->count != t->count) fail_msg("fixture %s lacks %s (or its size differs)", path, name);
        const float *got = (t->is_buffer ? s.m->buffers : s.m->grads) + t->offset;
        ok &= t->is_buffer ? close_to(name, got, ref->data, t->count, 1e-4, 1e-6, 1)
                           : close_to(name, got, ref->data, t->count, 2e-3, 1e-7, 1);
        compared++;
    }
    print_message("resnet_%s: %d tensors compared with PyTorch\n", c->tag, compared);
    assert_true(ok);
    free(probs);
    free(dlogits);
    release(&s);
    ws_tensorfile_free(&f);
}

static void test_resnet_a_matches_pytorch(void **state) {
    (void)state;
    compare(&configs[0]);
}

static void test_resnet_b_matches_pytorch(void **state) {
    (void)state;
    compare(&configs[1]);
}

int main(void) {
    const char *export_dir = getenv("WATTSCALE_FIXTURE_EXPORT");
    if (export_dir) {
        export_inputs(export_dir);
        printf("inputs written to %s\n", export_dir);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet_a_matches_pytorch),
        cmocka_unit_test(test_resnet_b_matches_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
