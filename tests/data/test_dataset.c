/* tests/data/test_dataset.c - synthetic datasets (data/dataset_synthetic.c) and the common
 * handle (data/dataset.c): a sample is a function of (seed, split, index) whatever batch,
 * order or thread loads it; seeds and splits differ; shapes, labels, the class signal;
 * out-of-range indices and bad options. IDX datasets: tests/data/test_idx.c. */
#include "ws_test.h"
#include "data/dataset.h"

#include <pthread.h>

static ws_synthetic_opts small_opts(void) {
    ws_synthetic_opts o = ws_synthetic_opts_default();
    o.count = 50;
    o.c = 3; /* 3x5x7 = 105 elements: odd, so Box-Muller's last pair is cut in half */
    o.h = 5;
    o.w = 7;
    o.classes = 4;
    o.seed = 42;
    return o;
}

static void test_synthetic_defaults_and_info(void **state) {
    (void)state;
    ws_error err = {0};
    ws_synthetic_opts o = ws_synthetic_opts_default();
    assert_int_equal(o.count, 10000);
    assert_int_equal(o.c, 3);
    assert_int_equal(o.h, 224);
    assert_int_equal(o.w, 224);
    assert_int_equal(o.classes, 1000);
    assert_int_equal(o.seed, 0);

    ws_dataset *d;
    WS_TEST_OK(ws_dataset_open_synthetic(&d, NULL, WS_SPLIT_TRAIN, &err)); /* NULL: the defaults */
    const ws_dataset_info *info = ws_dataset_info_get(d);
    assert_string_equal(info->name, "synthetic");
    assert_int_equal(info->count, 10000);
    assert_int_equal(info->c, 3);
    assert_int_equal(info->h, 224);
    assert_int_equal(info->w, 224);
    assert_int_equal(info->classes, 1000);
    assert_true(info->mean == 0.0 && info->std == 1.0);
    int64_t idx[2] = {0, 9999};
    size_t n = 3 * 224 * 224;
    float *x = malloc(2 * n * sizeof *x);
    int32_t lab[2];
    assert_non_null(x);
    WS_TEST_OK(ws_dataset_load(d, idx, 2, x, lab, &err));
    for (size_t p = 0; p < 2 * n; p++)
        if (!isfinite(x[p])) fail_msg("x[%zu] = %g", p, x[p]);
    for (int s = 0; s < 2; s++) {
        assert_in_range(lab[s], 0, 999);
        assert_int_equal(lab[s], ws_dataset_labels(d)[idx[s]]);
    }
    free(x);
    ws_dataset_close(d);
}

static void test_synthetic_deterministic_by_index(void **state) {
    (void)state;
    ws_error err = {0};
    ws_synthetic_opts o = small_opts();
    enum { N = 105 };
    ws_dataset *d, *d2;
    WS_TEST_OK(ws_dataset_open_synthetic(&d, &o, WS_SPLIT_TRAIN, &err));
    WS_TEST_OK(ws_dataset_open_synthetic(&d2, &o, WS_SPLIT_TRAIN, &err));
    float both[2 * N], x3[N], x5[N], again[N];
    int32_t lboth[2], l3, l5;
    memset(both, 0xFF, sizeof both); /* NaN: whatever is not written fails the comparisons */
    WS_TEST_OK(ws_dataset_load(d, (int64_t[]){5, 3}, 2, both, lboth, &err));
    WS_TEST_OK(ws_dataset_load(d, (int64_t[]){3}, 1, x3, &l3, &err));
    WS_TEST_OK(ws_dataset_load(d, (int64_t[]){5}, 1, x5, &l5, &err));
    assert_memory_equal(both, x5, sizeof x5);
    assert_memory_equal(both + N, x3, sizeof x3);
    assert_int_equal(lboth[0], l5);
    assert_int_equal(lboth[1], l3);
    WS_TEST_OK(ws_dataset_load(d2, (int64_t[]){3}, 1, again, NULL, &err)); /* another handle */
    assert_memory_equal(again, x3, sizeof x3);
    assert_memory_not_equal(x3, x5, sizeof x3);
    for (int p = 0; p < N; p++)
        if (!isfinite(x3[p])) fail_msg("x3[%d] = %g", p, x3[p]);
    ws_dataset_close(d);
    ws_dataset_close(d2);
}

static void test_synthetic_seeds_and_splits_differ(void **state) {
    (void)state;
    ws_error err = {0};
    ws_synthetic_opts o = small_opts();
    o.count = 200;
    ws_dataset *a, *b, *v;
    WS_TEST_OK(ws_dataset_open_synthetic(&a, &o, WS_SPLIT_TRAIN, &err));
    WS_TEST_OK(ws_dataset_open_synthetic(&v, &o, WS_SPLIT_VAL, &err));
    o.seed = 43;
    WS_TEST_OK(ws_dataset_open_synthetic(&b, &o, WS_SPLIT_TRAIN, &err));
    float xa[105], xb[105], xv[105];
    WS_TEST_OK(ws_dataset_load(a, (int64_t[]){7}, 1, xa, NULL, &err));
    WS_TEST_OK(ws_dataset_load(b, (int64_t[]){7}, 1, xb, NULL, &err));
    WS_TEST_OK(ws_dataset_load(v, (int64_t[]){7}, 1, xv, NULL, &err));
    assert_memory_not_equal(xa, xb, sizeof xa);
    assert_memory_not_equal(xa, xv, sizeof xa);
    /* 200 labels over 4 classes agreeing everywhere by chance: 4^-200 */
    assert_memory_not_equal(ws_dataset_labels(a), ws_dataset_labels(b), 200 * sizeof(int32_t));
    assert_memory_not_equal(ws_dataset_labels(a), ws_dataset_labels(v), 200 * sizeof(int32_t));
    ws_dataset_close(a);
    ws_dataset_close(b);
    ws_dataset_close(v);
}

/* Labels uniform; pixel statistics: noise N(0,1); per class, each element's mean is
 * +-signal with the same sign pattern in both splits (what a model learns from train and
 * is checked on val). 1x4x4, 3 classes, 3000 samples: per-class element means have a
 * standard error of ~1/sqrt(1000) = 0.03, so the bounds below are > 3 sigma. */
static void test_synthetic_statistics(void **state) {
    (void)state;
    ws_error err = {0};
    enum { COUNT = 3000, K = 3, E = 16 };
    ws_synthetic_opts o = ws_synthetic_opts_default();
    o.count = COUNT;
    o.c = 1;
    o.h = 4;
    o.w = 4;
    o.classes = K;
    o.seed = 9;
    double sign[2][K][E];
    for (int split = 0; split < 2; split++) {
        ws_dataset *d;
        WS_TEST_OK(ws_dataset_open_synthetic(&d, &o, (ws_split)split, &err));
        static float x[COUNT * E];
        static int32_t lab[COUNT];
        static int64_t idx[COUNT];
        for (int i = 0; i < COUNT; i++) idx[i] = COUNT - 1 - i; /* any order */
        WS_TEST_OK(ws_dataset_load(d, idx, COUNT, x, lab, &err));
        double sum[K][E] = {{0}};
        int n[K] = {0};
        for (int i = 0; i < COUNT; i++) {
            assert_int_equal(lab[i], ws_dataset_labels(d)[idx[i]]);
            n[lab[i]]++;
            for (int p = 0; p < E; p++) sum[lab[i]][p] += x[i * E + p];
        }
        for (int k = 0; k < K; k++) {
            assert_in_range(n[k], COUNT / K - 150, COUNT / K + 150);
            for (int p = 0; p < E; p++) {
                double m = sum[k][p] / n[k];
                if (!(fabs(fabs(m) - 0.5) <= 0.12)) fail_msg("split %d class %d element %d: mean %g", split, k, p, m);
                sign[split][k][p] = m > 0 ? 1 : -1;
            }
        }
        ws_dataset_close(d);
    }
    assert_memory_equal(sign[0], sign[1], sizeof sign[0]);

    /* signal 0: pure N(0,1) */
    o.signal = 0.0;
    ws_dataset *d;
    WS_TEST_OK(ws_dataset_open_synthetic(&d, &o, WS_SPLIT_TRAIN, &err));
    static float x[COUNT * E];
    static int64_t idx[COUNT];
    for (int i = 0; i < COUNT; i++) idx[i] = i;
    WS_TEST_OK(ws_dataset_load(d, idx, COUNT, x, NULL, &err));
    double s = 0, s2 = 0;
    for (int i = 0; i < COUNT * E; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    double mean = s / (COUNT * E), sd = sqrt(s2 / (COUNT * E) - mean * mean);
    WS_TEST_NEAR(mean, 0.0, 0, 0.03); /* standard error 1/sqrt(48000) = 0.005 */
    WS_TEST_NEAR(sd, 1.0, 0, 0.03);
    ws_dataset_close(d);
}

static void test_load_rejects_bad_index_and_writes_nothing(void **state) {
    (void)state;
    ws_error err = {0};
    ws_synthetic_opts o = small_opts();
    ws_dataset *d;
    WS_TEST_OK(ws_dataset_open_synthetic(&d, &o, WS_SPLIT_TRAIN, &err));
    float x[2 * 105];
    int32_t lab[2] = {-7, -7};
    memset(x, 0xFF, sizeof x);
    float poison[2 * 105];
    memcpy(poison, x, sizeof x);
    assert_int_equal(ws_dataset_load(d, (int64_t[]){1, 50}, 2, x, lab, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "indices[1] = 50"));
    assert_non_null(strstr(err.msg, "[0, 50)"));
    assert_int_equal(ws_dataset_load(d, (int64_t[]){-1}, 1, x, lab, &err), WS_EINVAL);
    assert_memory_equal(x, poison, sizeof x);
    assert_int_equal(lab[0], -7);
    WS_TEST_OK(ws_dataset_load(d, NULL, 0, NULL, NULL, &err)); /* empty batch */
    ws_dataset_close(d);
}

static void test_synthetic_bad_options(void **state) {
    (void)state;
    ws_error err = {0};
    ws_dataset *d = (ws_dataset *)&err;
    ws_synthetic_opts o = small_opts();
    o.classes = 0;
    assert_int_equal(ws_dataset_open_synthetic(&d, &o, WS_SPLIT_TRAIN, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "classes 0"));
    assert_null(d);
    o = small_opts();
    o.count = 0;
    assert_int_equal(ws_dataset_open_synthetic(&d, &o, WS_SPLIT_TRAIN, &err), WS_EINVAL);
    o = small_opts();
    o.h = 65536;
    o.w = 65536;
    assert_int_equal(ws_dataset_open_synthetic(&d, &o, WS_SPLIT_TRAIN, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "2^31"));
    o = small_opts();
    o.signal = NAN;
    assert_int_equal(ws_dataset_open_synthetic(&d, &o, WS_SPLIT_TRAIN, &err), WS_EINVAL);
    o = small_opts();
    assert_int_equal(ws_dataset_open_synthetic(&d, &o, (ws_split)5, &err), WS_EINVAL);
    assert_null(d);
}

/* ---- concurrent loads (data-loader threads share one dataset) ---- */

enum { THREADS = 4, PER_THREAD = 64 };

typedef struct {
    const ws_dataset *d;
    int64_t idx[PER_THREAD];
    float x[PER_THREAD * 105];
    ws_status st;
} loader;

static void *load_thread(void *arg) {
    loader *l = arg;
    for (int rep = 0; rep < 20 && l->st == WS_OK; rep++)
        l->st = ws_dataset_load(l->d, l->idx, PER_THREAD, l->x, NULL, NULL);
    return NULL;
}

static void test_concurrent_loads_match_serial(void **state) {
    (void)state;
    ws_error err = {0};
    ws_synthetic_opts o = small_opts();
    ws_dataset *d;
    WS_TEST_OK(ws_dataset_open_synthetic(&d, &o, WS_SPLIT_TRAIN, &err));
    static loader l[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        l[t].d = d;
        l[t].st = WS_OK;
        for (int i = 0; i < PER_THREAD; i++) l[t].idx[i] = (t * 7 + i * 3) % 50;
        assert_int_equal(pthread_create(&th[t], NULL, load_thread, &l[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_join(th[t], NULL), 0);
    float want[105];
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(l[t].st, WS_OK);
        for (int i = 0; i < PER_THREAD; i++) {
            WS_TEST_OK(ws_dataset_load(d, &l[t].idx[i], 1, want, NULL, &err));
            assert_memory_equal(l[t].x + i * 105, want, sizeof want);
        }
    }
    ws_dataset_close(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_defaults_and_info),
        cmocka_unit_test(test_synthetic_deterministic_by_index),
        cmocka_unit_test(test_synthetic_seeds_and_splits_differ),
        cmocka_unit_test(test_synthetic_statistics),
        cmocka_unit_test(test_load_rejects_bad_index_and_writes_nothing),
        cmocka_unit_test(test_synthetic_bad_options),
        cmocka_unit_test(test_concurrent_loads_match_serial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
