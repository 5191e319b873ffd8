/* tests/models/test_afno_torch.c - the CPU AFNO against PyTorch.
 * Configuration A: 32 x 64 fields, 3 channels in and out, patch 4 (8 x 16 tokens, so the
 * filter keeps rows 0..7 and columns 0..4 of 9), embed 32, depth 2, 4 blocks, sparsity
 * 0.01, hard thresholding 1, batch 2, with our seeded FourCastNet initialisation and then
 * the norms and biases moved off their constants and the filters scaled up (so that every
 * gradient is generic and few spectral values sit near a ReLU or softshrink kink, where
 * fp32 and float64 could take different sides). PyTorch's answers (float64, CPU) are in
 * tools/fixtures/afno_a.wstf, made by tools/fixtures/make_fixtures.sh from the inputs this
 * program exports when WATTSCALE_FIXTURE_EXPORT=DIR is set (make_afno_fixture.py).
 * Compared: the output fields, FourCastNet's relative L2 loss, every parameter's gradient
 * and the gradient of the input. Until the fixture is committed the test skips (77), saying
 * how to make it. Tolerances (our fp32 against float64), relative to the largest magnitude
 * of each tensor: output 5e-5, gradients 5e-4, loss 1e-6 relative. Before any PyTorch run,
 * the same inputs went through a throwaway numpy float64 transcription of FourCastNet's
 * forward (2026-12-01, the CPU machine): output 2e-7 of its scale, loss 1e-9 relative, and
 * central differences of it (step 1e-6) against our gradients 6.2e-6 of the scale on 140
 * sampled values, 4.5e-7 on all 2,304 filter weights; the bounds leave 80x to 250x. */
#include "ws_test.h"
#include "core/rng.h"
#include "core/tensorfile.h"
#include "models/afno.h"
#include "ops/rel_l2.h"

#include <unistd.h>

enum { BATCH = 2 };

static ws_afno_opts config_a(void) {
    ws_afno_opts o = ws_afno_opts_default();
    o.img_h = 32, o.img_w = 64, o.patch = 4;
    o.in_c = o.out_c = 3;
    o.embed = 32, o.depth = 2, o.num_blocks = 4;
    o.sparsity_threshold = 0.01, o.hard_thresholding_fraction = 1.0;
    o.max_batch = BATCH, o.threads = 0, o.input_grad = 1, o.seed = 71;
    return o;
}

typedef struct {
    ws_model *m;
    float *x, *target;
} setup;

static setup make(void) {
    ws_afno_opts o = config_a();
    setup s;
    ws_error err = {0};
    WS_TEST_OK(ws_afno_open(&s.m, &o, &err));
    ws_rng rng = ws_rng_seeded(o.seed + 1000);
    for (size_t i = 0; i < s.m->n_tensors; i++) {
        const ws_model_tensor *t = &s.m->tensors[i];
        float *p = s.m->params + t->offset;
        int filter = strstr(t->name, ".filter.") != NULL;
        int constant = strstr(t->name, "norm") != NULL || strstr(t->name, ".bias") != NULL;
        for (size_t j = 0; j < t->count; j++) {
            if (filter) p[j] = (float)(0.3 * ws_rng_normal(&rng));
            else if (constant) p[j] += (float)(0.2 * ws_rng_normal(&rng));
        }
    }
    size_t nx = (size_t)BATCH * o.in_c * o.img_h * o.img_w, ny = (size_t)BATCH * s.m->out_per_sample;
    s.x = malloc(nx * sizeof(float));
    s.target = malloc(ny * sizeof(float));
    for (size_t i = 0; i < nx; i++) s.x[i] = (float)ws_rng_normal(&rng);
    for (size_t i = 0; i < ny; i++) s.target[i] = (float)ws_rng_normal(&rng);
    return s;
}

static void release(setup *s) {
    ws_model_close(s->m);
    free(s->x);
    free(s->target);
}

static void export_inputs(const char *dir) {
    ws_afno_opts o = config_a();
    setup s = make();
    ws_tensorfile f;
    ws_tensorfile_init(&f);
    ws_error err = {0};
    char meta[512];
    snprintf(meta, sizeof meta,
             "{\"img_h\": %d, \"img_w\": %d, \"patch\": %d, \"in_c\": %d, \"out_c\": %d, \"embed\": %d, "
             "\"depth\": %d, \"num_blocks\": %d, \"mlp_ratio\": %.17g, \"sparsity_threshold\": %.17g, "
             "\"hard_thresholding_fraction\": %.17g, \"batch\": %d}",
             o.img_h, o.img_w, o.patch, o.in_c, o.out_c, o.embed, o.depth, o.num_blocks, o.mlp_ratio,
             o.sparsity_threshold, o.hard_thresholding_fraction, BATCH);
    WS_TEST_OK(ws_tensorfile_add(&f, "meta", WS_TF_U8, 1, NULL, meta, strlen(meta), &err));
    for (size_t i = 0; i < s.m->n_tensors; i++) {
        const ws_model_tensor *t = &s.m->tensors[i];
        char name[96];
        snprintf(name, sizeof name, "param/%s", t->name);
        uint64_t dims[4];
        for (int d = 0; d < t->ndims; d++) dims[d] = (uint64_t)t->dims[d];
        WS_TEST_OK(ws_tensorfile_add(&f, name, WS_TF_F32, t->ndims, dims, s.m->params + t->offset, t->count, &err));
    }
    uint64_t xd[4] = {BATCH, (uint64_t)o.in_c, (uint64_t)o.img_h, (uint64_t)o.img_w};
    uint64_t yd[4] = {BATCH, (uint64_t)o.out_c, (uint64_t)o.img_h, (uint64_t)o.img_w};
    WS_TEST_OK(ws_tensorfile_add(&f, "x", WS_TF_F32, 4, xd, s.x, (size_t)BATCH * o.in_c * o.img_h * o.img_w, &err));
    WS_TEST_OK(ws_tensorfile_add(&f, "target", WS_TF_F32, 4, yd, s.target, (size_t)BATCH * s.m->out_per_sample, &err));
    char path[600];
    snprintf(path, sizeof path, "%s/afno_a_input.wstf", dir);
    WS_TEST_OK(ws_tensorfile_write(&f, path, &err));
    ws_tensorfile_free(&f);
    release(&s);
}

/* |got - want| <= rtol * max|want| + atol over n values; prints the largest relative error. */
static int close_to(const char *what, const float *got, const double *want, size_t n, double rtol, double atol) {
    double scale = 0, worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= rtol * scale + atol)) ok = 0;
        if (!(d <= worst)) worst = d, wi = i;
    }
    print_message("%-34s worst |diff| %.3g = %.2g of its scale %.3g%s\n", what, worst, scale > 0 ? worst / scale : 0.0,
                  scale, ok ? "" : "  <-- off");
    if (!ok) print_message("    at %zu: got %.8g, PyTorch %.8g\n", wi, (double)got[wi], want[wi]);
    return ok;
}

static const ws_tf_entry *need(const ws_tensorfile *f, const char *name, size_t count, const char *path) {
    const ws_tf_entry *e = ws_tensorfile_find(f, name);
    if (!e || e->count != count || e->dtype != WS_TF_F64)
        fail_msg("fixture %s lacks %s as %zu float64 values (regenerate it)", path, name, count);
    return e;
}

static void test_afno_a_matches_pytorch(void **state) {
    const char *path = *state;
    ws_tensorfile f;
    ws_error err = {0};
    if (ws_tensorfile_read(&f, path, &err) != WS_OK) fail_msg("%s", err.msg);
    setup s = make();
    ws_model *m = s.m;
    ws_exec ex = ws_exec_cpu(0);
    const void *out;
    WS_TEST_OK(ws_model_forward(m, &ex, s.x, BATCH, 1, &out, &err));
    size_t ny = (size_t)BATCH * m->out_per_sample;
    int ok = close_to("output", out, need(&f, "output", ny, path)->data, ny, 5e-5, 1e-7);
    double loss = 0;
    assert_int_equal(ws_rel_l2_forward(&ex, BATCH, m->out_per_sample, &loss, out, s.target), WS_OK);
    double want_loss = ((const double *)need(&f, "loss", 1, path)->data)[0];
    print_message("loss: ours %.9f, PyTorch %.9f\n", loss, want_loss);
    WS_TEST_NEAR(loss, want_loss, 1e-6, 0);
    float *dout = malloc(ny * sizeof *dout);
    assert_int_equal(ws_rel_l2_backward(&ex, BATCH, m->out_per_sample, dout, out, s.target, 1.0f / BATCH), WS_OK);
    memset(m->grads, 0, m->n_params * sizeof(float));
    WS_TEST_OK(ws_model_backward(m, &ex, dout, BATCH, &err));
    for (size_t i = 0; i < m->n_tensors; i++) {
        const ws_model_tensor *t = &m->tensors[i];
        char name[96];
        snprintf(name, sizeof name, "grad/%s", t->name);
        ok &= close_to(name, m->grads + t->offset, need(&f, name, t->count, path)->data, t->count, 5e-4, 1e-9);
    }
    size_t nx = (size_t)BATCH * m->in_c * m->in_h * m->in_w;
    ok &= close_to("input gradient", ws_afno_input_grad(m), need(&f, "input_grad", nx, path)->data, nx, 5e-4, 1e-9);
    const ws_tf_entry *tv = ws_tensorfile_find(&f, "torch_version");
    if (tv) print_message("fixture made with torch %.*s\n", (int)tv->count, (const char *)tv->data);
    assert_true(ok);
    free(dout);
    release(&s);
    ws_tensorfile_free(&f);
}

int main(void) {
    const char *export_dir = getenv("WATTSCALE_FIXTURE_EXPORT");
    ws_afno_opts o = config_a();
    ws_model *probe = NULL;
    ws_error err = {0};
    if (ws_afno_open(&probe, &o, &err) == WS_ENOTSUP) {
        fprintf(stderr, "test_afno_torch: skipped: %s\n", err.msg);
        return 77;
    }
    ws_model_close(probe);
    if (export_dir) {
        export_inputs(export_dir);
        printf("inputs written to %s/afno_a_input.wstf\n", export_dir);
        return 0;
    }
    const char *dir = getenv("WATTSCALE_FIXTURES");
    if (!dir) {
        fprintf(stderr, "test_afno_torch: WATTSCALE_FIXTURES is not set (ctest sets it to tools/fixtures)\n");
        return 1;
    }
    static char path[600];
    snprintf(path, sizeof path, "%s/afno_a.wstf", dir);
    if (access(path, F_OK) != 0) {
        fprintf(stderr,
                "test_afno_torch: skipped: %s does not exist yet. Make it where PyTorch is (the GPU machine):\n"
                "  tools/fixtures/make_fixtures.sh BUILD_DIR   (runs this test with WATTSCALE_FIXTURE_EXPORT, then\n"
                "  tools/fixtures/make_afno_fixture.py), and commit tools/fixtures/afno_a.wstf\n",
                path);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_afno_a_matches_pytorch, path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
