/* tests/models/test_afno.c - the AFNO model (src/models/afno.c): FourCastNet's parameter
 * count for the full configuration (without allocating it) and for a small one term by
 * term, state_dict names and shapes, initialisation, finite-difference gradients of a whole
 * tiny network (parameters and input), the grads_ready announcements, determinism, a few
 * descending SGD steps, and bad configurations. Agreement with PyTorch: test_afno_torch.c.
 * Skips (77) in a build without FFTW. */
#include "ws_test.h"
#include "models/afno_test.h"
#include "core/rng.h"
#include "models/afno.h"
#include "ops/rel_l2.h"

static ws_afno_opts tiny(void) {
    ws_afno_opts o = ws_afno_opts_default();
    o.img_h = 16, o.img_w = 24, o.patch = 4; /* 4 x 6 tokens: even W, Nyquist column kept */
    o.in_c = 2, o.out_c = 3;
    o.embed = 8, o.depth = 2, o.num_blocks = 2;
    o.max_batch = 2, o.threads = 1, o.seed = 7;
    return o;
}

static ws_model *open_or_fail(const ws_afno_opts *o) {
    ws_model *m = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_afno_open(&m, o, &err));
    return m;
}

static void test_full_configuration_parameter_count(void **state) {
    (void)state;
    ws_afno_opts o = ws_afno_opts_default(); /* 720x1440, 20 -> 20, patch 8, embed 768, depth 12, 8 blocks */
    const size_t patch_embed = 768 * 20 * 8 * 8 + 768, pos = 16200 * 768;
    const size_t block = 2 * 768 + (2 * 8 * 96 * 96) * 2 + (2 * 8 * 96) * 2 + 2 * 768 + (768 * 3072 + 3072) +
                         (3072 * 768 + 768);
    const size_t norm = 2 * 768, head = 768 * 20 * 8 * 8;
    assert_int_equal(block, 5023488);
    assert_int_equal(patch_embed + pos + 12 * block + norm + head, 74691840);
    assert_int_equal(ws_afno_param_count(&o), 74691840);
    /* FourCastNet's "about 74.7M"; a PyTorch AFNO without the unused final norm: 74,690,304 */
    assert_int_equal(ws_afno_param_count(&o) - norm, 74690304);
    o.embed = 770; /* not divisible by 8 blocks */
    assert_int_equal(ws_afno_param_count(&o), 0);
}

static void test_names_shapes_and_init(void **state) {
    (void)state;
    ws_afno_opts o = tiny();
    ws_model *m = open_or_fail(&o);
    assert_int_equal(m->classes, 0);
    assert_int_equal(m->out_per_sample, 3 * 16 * 24);
    assert_int_equal(m->n_params, ws_afno_param_count(&o));
    /* small configuration term by term: L = 24 tokens, E = 8, hidden 32, BS 4 */
    size_t want = (8 * 2 * 16 + 8) + 24 * 8 + 2 * (2 * 8 + 2 * (2 * 2 * 4 * 4) + 2 * (2 * 2 * 4) + 2 * 8 +
                                                   (32 * 8 + 32) + (8 * 32 + 8)) + 2 * 8 + 3 * 16 * 8;
    assert_int_equal(m->n_params, want);
    static const struct {
        const char *name;
        int ndims, d0, d1, d2, d3;
    } expect[] = {{"patch_embed.proj.weight", 4, 8, 2, 4, 4}, {"patch_embed.proj.bias", 1, 8, 0, 0, 0},
                  {"pos_embed", 3, 1, 24, 8, 0},               {"blocks.0.norm1.weight", 1, 8, 0, 0, 0},
                  {"blocks.1.filter.w1", 4, 2, 2, 4, 4},       {"blocks.1.filter.b1", 3, 2, 2, 4, 0},
                  {"blocks.0.filter.w2", 4, 2, 2, 4, 4},       {"blocks.0.filter.b2", 3, 2, 2, 4, 0},
                  {"blocks.1.mlp.fc1.weight", 2, 32, 8, 0, 0}, {"blocks.1.mlp.fc2.bias", 1, 8, 0, 0, 0},
                  {"norm.weight", 1, 8, 0, 0, 0},              {"head.weight", 2, 48, 8, 0, 0}};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        const ws_model_tensor *t = ws_model_find(m, expect[i].name);
        if (!t) fail_msg("no tensor %s", expect[i].name);
        int dims[4] = {expect[i].d0, expect[i].d1, expect[i].d2, expect[i].d3};
        assert_int_equal(t->ndims, expect[i].ndims);
        for (int d = 0; d < t->ndims; d++) assert_int_equal(t->dims[d], dims[d]);
    }
    assert_null(ws_model_find(m, "blocks.2.norm1.weight"));
    size_t sum = 0;
    for (size_t i = 0; i < m->n_tensors; i++) sum += m->tensors[i].count;
    assert_int_equal(sum, m->n_params);
    assert_int_equal(m->n_tensors, 3 + 12 * 2 + 3);
    assert_true(ws_model_find(m, "pos_embed")->no_decay);
    assert_false(ws_model_find(m, "head.weight")->no_decay);
    /* initialisation as FourCastNet */
    const float *p = m->params;
    const ws_model_tensor *t = ws_model_find(m, "blocks.0.norm2.weight");
    for (size_t j = 0; j < t->count; j++) assert_true(p[t->offset + j] == 1.0f);
    t = ws_model_find(m, "blocks.1.mlp.fc1.bias");
    for (size_t j = 0; j < t->count; j++) assert_true(p[t->offset + j] == 0.0f);
    t = ws_model_find(m, "patch_embed.proj.bias"); /* Conv2d default: U(+-1/sqrt(2*4*4)) */
    double bound = 1.0 / sqrt(32.0), mx = 0;
    for (size_t j = 0; j < t->count; j++) mx = fmax(mx, fabs(p[t->offset + j]));
    assert_true(mx <= bound && mx > 0.2 * bound);
    ws_model_close(m);
    /* the statistics of the 0.02-scaled tensors, on a model large enough to measure them */
    o.embed = 64, o.num_blocks = 4, o.depth = 1;
    m = open_or_fail(&o);
    const char *names[] = {"pos_embed", "blocks.0.filter.w1", "blocks.0.mlp.fc1.weight", "head.weight"};
    for (int k = 0; k < 4; k++) {
        t = ws_model_find(m, names[k]);
        double s = 0, s2 = 0;
        for (size_t j = 0; j < t->count; j++) s += m->params[t->offset + j], s2 += (double)m->params[t->offset + j] * m->params[t->offset + j];
        double mean = s / t->count, sd = sqrt(s2 / t->count - mean * mean);
        if (!(fabs(sd - 0.02) < 0.002 && fabs(mean) < 0.002)) fail_msg("%s: mean %g std %g, want 0 and 0.02", names[k], mean, sd);
    }
    ws_model_close(m);
}

typedef struct {
    ws_model *m;
    ws_exec ex;
    float *x, *target, *dout;
    int n;
} run;

static run run_make(ws_model *m, int n, uint64_t seed) {
    run r = {.m = m, .ex = {WS_DEVICE_CPU, WS_FP32, 1, NULL, WS_NCHW}, .n = n};
    ws_rng rng = ws_rng_seeded(seed);
    size_t nx = (size_t)n * m->in_c * m->in_h * m->in_w, ny = (size_t)n * m->out_per_sample;
    r.x = malloc(nx * sizeof *r.x), r.target = malloc(ny * sizeof *r.target), r.dout = malloc(ny * sizeof *r.dout);
    for (size_t i = 0; i < nx; i++) r.x[i] = (float)ws_rng_normal(&rng);
    for (size_t i = 0; i < ny; i++) r.target[i] = (float)ws_rng_normal(&rng);
    return r;
}

static void run_free(run *r) { free(r->x), free(r->target), free(r->dout); }

/* FourCastNet's training loss of one forward */
static double loss_of(run *r) {
    const void *out;
    ws_error err = {0};
    WS_TEST_OK(ws_model_forward(r->m, &r->ex, r->x, r->n, 1, &out, &err));
    double loss = 0;
    assert_int_equal(ws_rel_l2_forward(&r->ex, r->n, r->m->out_per_sample, &loss, out, r->target), WS_OK);
    return loss;
}

static void forward_backward(run *r) {
    const void *out;
    ws_error err = {0};
    WS_TEST_OK(ws_model_forward(r->m, &r->ex, r->x, r->n, 1, &out, &err));
    assert_int_equal(ws_rel_l2_backward(&r->ex, r->n, r->m->out_per_sample, r->dout, out, r->target, 1.0f / r->n), WS_OK);
    memset(r->m->grads, 0, r->m->n_params * sizeof(float));
    WS_TEST_OK(ws_model_backward(r->m, &r->ex, r->dout, r->n, &err));
}

/* Central differences in fp32 on two parameters of every trained tensor and on input
 * values. ReLU and softshrink kinks make a large step unreliable and fp32 rounding of the
 * loss (~1e-7) a small one: h = 1e-3 (noise ~1e-4), tolerance 3e-2 relative + 3e-4 absolute,
 * and 1 miss in 10 allowed for a step that crosses a kink, as for ResNet. The exact
 * comparison is against PyTorch in float64 (test_afno_torch.c) and, per operator, the
 * double references of tests/ops. */
static void test_gradients_match_finite_differences(void **state) {
    (void)state;
    ws_afno_opts o = tiny();
    o.input_grad = 1;
    ws_model *m = open_or_fail(&o);
    ws_test_afno_perturb(m, 31);
    run r = run_make(m, 2, 32);
    forward_backward(&r);
    const float *dx = ws_afno_input_grad(m);
    assert_non_null(dx);
    ws_rng pick = ws_rng_seeded(33);
    int checked = 0, bad = 0;
    for (size_t t = 0; t <= m->n_tensors; t++) {
        int is_input = t == m->n_tensors;
        if (!is_input && strncmp(m->tensors[t].name, "norm.", 5) == 0) continue; /* unused: checked below */
        float *v = is_input ? r.x : m->params + m->tensors[t].offset;
        const float *g = is_input ? dx : m->grads + m->tensors[t].offset;
        size_t count = is_input ? (size_t)2 * o.in_c * o.img_h * o.img_w : m->tensors[t].count;
        for (int k = 0; k < (is_input ? 12 : 2); k++) {
            size_t j = ws_rng_below(&pick, count);
            float v0 = v[j], h = 1e-3f * (fabsf(v0) > 1 ? fabsf(v0) : 1);
            v[j] = v0 + h;
            double lp = loss_of(&r);
            v[j] = v0 - h;
            double lm = loss_of(&r);
            v[j] = v0;
            double fd = (lp - lm) / ((double)(v0 + h) - (double)(v0 - h));
            checked++;
            if (!(fabs(fd - g[j]) <= 3e-2 * fmax(fabs(fd), fabs(g[j])) + 3e-4)) {
                bad++;
                print_message("%s[%zu]: analytic %.6g, finite difference %.6g\n",
                              is_input ? "input" : m->tensors[t].name, j, g[j], fd);
            }
        }
    }
    print_message("afno: %d values checked, %d off\n", checked, bad);
    assert_true(bad * 10 <= checked);
    /* the unused final norm: gradient exactly 0 */
    const ws_model_tensor *nw = ws_model_find(m, "norm.weight");
    for (size_t j = 0; j < 2 * nw->count; j++) assert_true(m->grads[nw->offset + j] == 0.0f);
    run_free(&r);
    ws_model_close(m);
}

typedef struct {
    size_t offset[64], count[64];
    int calls;
} announced;

static void on_ready(void *ctx, size_t offset, size_t count) {
    announced *a = ctx;
    if (a->calls < 64) a->offset[a->calls] = offset, a->count[a->calls] = count;
    a->calls++;
}

/* Every tensor once per backward, none twice, the head first and the patch embedding last
 * (reverse layer order), and after the call the gradients announced are final. */
static void test_grads_ready_order(void **state) {
    (void)state;
    ws_afno_opts o = tiny();
    ws_model *m = open_or_fail(&o);
    run r = run_make(m, 1, 41);
    announced a = {.calls = 0};
    m->grads_ready = on_ready;
    m->grads_ready_ctx = &a;
    forward_backward(&r);
    m->grads_ready = NULL;
    assert_int_equal(a.calls, (int)m->n_tensors);
    char *seen = calloc(m->n_params, 1);
    for (int i = 0; i < a.calls; i++)
        for (size_t j = 0; j < a.count[i]; j++) {
            assert_false(seen[a.offset[i] + j]);
            seen[a.offset[i] + j] = 1;
        }
    for (size_t j = 0; j < m->n_params; j++) assert_true(seen[j]);
    assert_int_equal(a.offset[0], ws_model_find(m, "head.weight")->offset);
    assert_int_equal(a.offset[a.calls - 1], ws_model_find(m, "patch_embed.proj.weight")->offset);
    assert_int_equal(a.offset[a.calls - 3], ws_model_find(m, "pos_embed")->offset);
    free(seen);
    run_free(&r);
    ws_model_close(m);
}

static void test_deterministic_and_learns(void **state) {
    (void)state;
    ws_afno_opts o = tiny();
    ws_model *a = open_or_fail(&o), *b = open_or_fail(&o);
    o.seed = 8;
    ws_model *c = open_or_fail(&o);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    assert_memory_not_equal(a->params, c->params, a->n_params * sizeof(float));
    run ra = run_make(a, 2, 51), rb = run_make(b, 2, 51);
    forward_backward(&ra);
    forward_backward(&rb);
    assert_memory_equal(a->grads, b->grads, a->n_params * sizeof(float));
    /* evaluation computes the same as training (no dropout, no batch statistics) */
    const void *out;
    ws_error err = {0};
    WS_TEST_OK(ws_model_forward(a, &ra.ex, ra.x, 2, 0, &out, &err));
    float *keep = malloc(a->out_per_sample * 2 * sizeof(float));
    memcpy(keep, out, a->out_per_sample * 2 * sizeof(float));
    WS_TEST_OK(ws_model_forward(a, &ra.ex, ra.x, 2, 1, &out, &err));
    assert_memory_equal(keep, out, a->out_per_sample * 2 * sizeof(float));
    /* 30 plain gradient steps (lr 1: the relative loss gives gradients of ~1/||target|| per
     * value) on one batch lower the loss (measured 1.013 -> 0.838) */
    double first = loss_of(&ra), last = first;
    for (int step = 0; step < 30; step++) {
        forward_backward(&ra);
        for (size_t j = 0; j < a->n_params; j++) a->params[j] -= 1.0f * a->grads[j];
        last = loss_of(&ra);
    }
    print_message("afno: loss %.4f -> %.4f after 30 steps\n", first, last);
    assert_true(last < 0.9 * first);
    free(keep);
    run_free(&ra), run_free(&rb);
    ws_model_close(a), ws_model_close(b), ws_model_close(c);
}

static void test_bad_configurations_and_calls(void **state) {
    (void)state;
    ws_model *m = NULL;
    ws_error err = {0};
    ws_afno_opts o = tiny();
    o.img_h = 18; /* not a multiple of 4 */
    assert_int_equal(ws_afno_open(&m, &o, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "18x24"));
    o = tiny(), o.embed = 9;
    assert_int_equal(ws_afno_open(&m, &o, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "num_blocks"));
    o = tiny(), o.hard_thresholding_fraction = 1.5;
    assert_int_equal(ws_afno_open(&m, &o, &err), WS_EINVAL);
    o = tiny(), o.sparsity_threshold = -0.1;
    assert_int_equal(ws_afno_open(&m, &o, &err), WS_EINVAL);
    o = tiny(), o.depth = 0;
    assert_int_equal(ws_afno_open(&m, &o, &err), WS_EINVAL);
    assert_null(m);
    o = tiny();
    m = open_or_fail(&o);
    run r = run_make(m, 2, 61);
    const void *out;
    assert_int_equal(ws_model_forward(m, &r.ex, r.x, 3, 1, &out, &err), WS_EINVAL); /* beyond max_batch */
    ws_exec two = ws_exec_cpu(2);
    assert_int_equal(ws_model_forward(m, &two, r.x, 2, 1, &out, &err), WS_EINVAL); /* other thread count */
    assert_non_null(strstr(err.msg, "threads"));
    assert_null(ws_afno_input_grad(m)); /* not opened with input_grad */
    run_free(&r);
    ws_model_close(m);
    ws_model_close(NULL);
}

int main(void) {
    ws_afno_opts o = tiny();
    ws_model *m = NULL;
    ws_error err = {0};
    if (ws_afno_open(&m, &o, &err) == WS_ENOTSUP) {
        fprintf(stderr, "test_afno: skipped: %s\n", err.msg);
        return 77;
    }
    ws_model_close(m);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_configuration_parameter_count),
        cmocka_unit_test(test_names_shapes_and_init),
        cmocka_unit_test(test_gradients_match_finite_differences),
        cmocka_unit_test(test_grads_ready_order),
        cmocka_unit_test(test_deterministic_and_learns),
        cmocka_unit_test(test_bad_configurations_and_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
