/* tests/data/test_sampler.c - the data-parallel sampler (data/sampler.c): every sample once
 * per epoch across ranks; the union of the ranks' batches is the single-process global
 * batch, element for element; epochs and seeds; the stratified fraction (per-class counts,
 * rounding, fixed across epochs and ranks, nested across fractions); bad options. */
#include "ws_test.h"
#include "data/sampler.h"
#include "core/rng.h"

/* labels of a dataset whose class k has sizes[k] samples, shuffled (seeded) */
static int32_t *make_labels(const size_t *sizes, int classes, size_t *count) {
    size_t n = 0;
    for (int k = 0; k < classes; k++) n += sizes[k];
    int32_t *l = malloc((n ? n : 1) * sizeof *l);
    assert_non_null(l);
    size_t i = 0;
    for (int k = 0; k < classes; k++)
        for (size_t j = 0; j < sizes[k]; j++) l[i++] = k;
    ws_rng r = ws_rng_seeded(5);
    for (size_t a = n; a > 1; a--) {
        size_t b = (size_t)ws_rng_below(&r, a);
        int32_t t = l[a - 1];
        l[a - 1] = l[b];
        l[b] = t;
    }
    *count = n;
    return l;
}

static ws_sampler_opts opts(int rank, int world, int local_batch, int drop_last) {
    ws_sampler_opts o = ws_sampler_opts_default();
    o.seed = 1234;
    o.rank = rank;
    o.world = world;
    o.local_batch = local_batch;
    o.drop_last = drop_last;
    return o;
}

static void test_defaults(void **state) {
    (void)state;
    ws_sampler_opts o = ws_sampler_opts_default();
    assert_int_equal(o.shuffle, 1);
    assert_int_equal(o.drop_last, 0);
    assert_true(o.fraction == 1.0);
    assert_int_equal(o.rank, 0);
    assert_int_equal(o.world, 1);
    assert_true(o.local_batch >= 1);
}

/* Every sample exactly once per epoch across the ranks (drop_last 0), or every sample of
 * the first steps*G permutation positions exactly once and nothing else (drop_last 1);
 * short last steps as documented; steps_per_epoch rounding. */
static void test_each_sample_once_per_epoch(void **state) {
    (void)state;
    ws_error err = {0};
    enum { COUNT = 50, LB = 4 };
    size_t sizes[1] = {COUNT}, count;
    int32_t *labels = make_labels(sizes, 1, &count);
    for (int world = 1; world <= 3; world++) {
        for (int drop = 0; drop <= 1; drop++) {
            size_t g = (size_t)LB * (size_t)world;
            size_t want_steps = drop ? COUNT / g : (COUNT + g - 1) / g;
            int seen[COUNT] = {0};
            size_t total = 0;
            for (int r = 0; r < world; r++) {
                ws_sampler_opts o = opts(r, world, LB, drop);
                ws_sampler *s;
                WS_TEST_OK(ws_sampler_open(&s, labels, count, 1, &o, &err));
                assert_int_equal(ws_sampler_subset_size(s), COUNT);
                assert_int_equal(ws_sampler_steps_per_epoch(s), want_steps);
                int64_t idx[LB];
                for (size_t step = 0; step < want_steps; step++) {
                    size_t n = ws_sampler_batch(s, 3, step, idx);
                    size_t m = step + 1 < want_steps || COUNT % g == 0 || drop ? g : COUNT % g;
                    /* rank r's slots among m: those with j*world + r < m */
                    size_t want_n = m > (size_t)r ? (m - (size_t)r + (size_t)world - 1) / (size_t)world : 0;
                    if (want_n > LB) want_n = LB;
                    assert_int_equal(n, want_n);
                    for (size_t i = 0; i < n; i++) {
                        assert_in_range(idx[i], 0, COUNT - 1);
                        seen[idx[i]]++;
                    }
                    total += n;
                }
                assert_int_equal(ws_sampler_batch(s, 3, want_steps, idx), 0); /* past the end */
                ws_sampler_close(s);
            }
            assert_int_equal(total, drop ? want_steps * g : COUNT);
            for (int i = 0; i < COUNT; i++)
                if (seen[i] > 1 || (!drop && seen[i] != 1))
                    fail_msg("world %d drop_last %d: sample %d seen %d times", world, drop, i, seen[i]);
        }
    }
    free(labels);
}

/* Rank r's j-th sample at a step is the single process's (local_batch*world) sample
 * j*world + r at that step, for every step of two epochs, with and without fraction. */
static void test_union_of_ranks_is_the_global_batch(void **state) {
    (void)state;
    ws_error err = {0};
    size_t sizes[3] = {40, 27, 33}, count;
    int32_t *labels = make_labels(sizes, 3, &count);
    static const double fractions[2] = {1.0, 0.6};
    for (int f = 0; f < 2; f++) {
        for (int world = 1; world <= 4; world++) {
            for (int drop = 0; drop <= 1; drop++) {
                enum { LB = 5 };
                ws_sampler_opts o = opts(0, 1, LB * world, drop);
                o.fraction = fractions[f];
                ws_sampler *single, *ranks[4];
                WS_TEST_OK(ws_sampler_open(&single, labels, count, 3, &o, &err));
                for (int r = 0; r < world; r++) {
                    ws_sampler_opts ro = opts(r, world, LB, drop);
                    ro.fraction = fractions[f];
                    WS_TEST_OK(ws_sampler_open(&ranks[r], labels, count, 3, &ro, &err));
                    assert_int_equal(ws_sampler_steps_per_epoch(ranks[r]), ws_sampler_steps_per_epoch(single));
                }
                for (uint64_t epoch = 0; epoch < 2; epoch++) {
                    for (size_t step = 0; step < ws_sampler_steps_per_epoch(single); step++) {
                        int64_t global[4 * LB], local[LB];
                        size_t gn = ws_sampler_batch(single, epoch, step, global), sum = 0;
                        for (int r = 0; r < world; r++) {
                            size_t n = ws_sampler_batch(ranks[r], epoch, step, local);
                            for (size_t j = 0; j < n; j++) {
                                size_t at = j * (size_t)world + (size_t)r;
                                if (at >= gn || local[j] != global[at])
                                    fail_msg("fraction %g world %d drop %d epoch %d step %zu rank %d slot %zu",
                                             fractions[f], world, drop, (int)epoch, step, r, j);
                            }
                            sum += n;
                        }
                        assert_int_equal(sum, gn);
                    }
                }
                ws_sampler_close(single);
                for (int r = 0; r < world; r++) ws_sampler_close(ranks[r]);
            }
        }
    }
    free(labels);
}

/* the whole epoch's order, concatenating a world-1 sampler's batches */
static void epoch_order(const ws_sampler *s, uint64_t epoch, int64_t *out) {
    size_t at = 0;
    for (size_t step = 0; step < ws_sampler_steps_per_epoch(s); step++)
        at += ws_sampler_batch(s, epoch, step, out + at);
    assert_int_equal(at, ws_sampler_subset_size(s));
}

static void test_epochs_and_seeds(void **state) {
    (void)state;
    ws_error err = {0};
    enum { COUNT = 200 };
    size_t sizes[1] = {COUNT}, count;
    int32_t *labels = make_labels(sizes, 1, &count);
    ws_sampler_opts o = opts(0, 1, 7, 0);
    ws_sampler *a, *b, *c;
    WS_TEST_OK(ws_sampler_open(&a, labels, count, 1, &o, &err));
    WS_TEST_OK(ws_sampler_open(&b, labels, count, 1, &o, &err));
    o.seed = 1235;
    WS_TEST_OK(ws_sampler_open(&c, labels, count, 1, &o, &err));
    static int64_t e0[COUNT], e1[COUNT], e0b[COUNT], e0c[COUNT], again[COUNT], id[COUNT];
    epoch_order(a, 0, e0);
    epoch_order(a, 1, e1);
    epoch_order(b, 0, e0b);
    epoch_order(c, 0, e0c);
    epoch_order(a, 0, again); /* back to an older epoch: recomputed, the same */
    assert_memory_equal(e0, e0b, sizeof e0);
    assert_memory_equal(e0, again, sizeof e0);
    assert_memory_not_equal(e0, e1, sizeof e0);
    assert_memory_not_equal(e0, e0c, sizeof e0);
    for (int i = 0; i < COUNT; i++) id[i] = i;
    assert_memory_not_equal(e0, id, sizeof e0);

    /* interleaving epochs step by step gives the same batches as epoch by epoch */
    int64_t x[7];
    for (size_t step = 0; step < ws_sampler_steps_per_epoch(a); step++) {
        for (uint64_t e = 0; e < 2; e++) {
            size_t n = ws_sampler_batch(a, e, step, x);
            assert_memory_equal(x, (e ? e1 : e0) + step * 7, n * sizeof *x);
        }
    }

    /* shuffle 0: dataset order, every epoch */
    o.shuffle = 0;
    ws_sampler *d;
    WS_TEST_OK(ws_sampler_open(&d, NULL, count, 0, &o, &err)); /* fraction 1 needs no labels */
    epoch_order(d, 0, e0);
    epoch_order(d, 5, e1);
    assert_memory_equal(e0, id, sizeof e0);
    assert_memory_equal(e1, id, sizeof e1);
    ws_sampler_close(a);
    ws_sampler_close(b);
    ws_sampler_close(c);
    ws_sampler_close(d);
    ws_sampler_close(NULL);
    free(labels);
}

static int in_subset(const ws_sampler *s, int64_t i) {
    const int64_t *sub = ws_sampler_subset(s);
    size_t lo = 0, hi = ws_sampler_subset_size(s);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sub[mid] < i) lo = mid + 1;
        else hi = mid;
    }
    return lo < ws_sampler_subset_size(s) && sub[lo] == i;
}

/* Per class: floor(fraction * n + 0.5), at least 1, 0 for an empty class. */
static void test_fraction_is_stratified(void **state) {
    (void)state;
    ws_error err = {0};
    enum { K = 7 };
    /* 6000 (Fashion-MNIST-like), 10 (2.5 at 0.25: rounds up), 2 (0.5 at 0.25: up to 1),
     * 1 (0.25: the at-least-one rule), 0 (empty), 333, 14 (3.5: up) */
    size_t sizes[K] = {6000, 10, 2, 1, 0, 333, 14}, count;
    size_t want[K] = {1500, 3, 1, 1, 0, 83, 4};
    int32_t *labels = make_labels(sizes, K, &count);
    ws_sampler_opts o = opts(0, 1, 16, 1);
    o.fraction = 0.25;
    ws_sampler *s;
    WS_TEST_OK(ws_sampler_open(&s, labels, count, K, &o, &err));
    size_t total = 0;
    for (int k = 0; k < K; k++) total += want[k];
    assert_int_equal(ws_sampler_subset_size(s), total);
    size_t per[K] = {0};
    const int64_t *sub = ws_sampler_subset(s);
    for (size_t i = 0; i < total; i++) {
        if (i > 0) assert_true(sub[i] > sub[i - 1]); /* ascending, no duplicates */
        per[labels[sub[i]]]++;
    }
    for (int k = 0; k < K; k++)
        if (per[k] != want[k]) fail_msg("class %d: %zu of %zu kept, want %zu", k, per[k], sizes[k], want[k]);
    assert_int_equal(ws_sampler_steps_per_epoch(s), total / 16);
    ws_sampler_close(s);

    /* 10 classes of 6000 at 0.1: exactly 600 each */
    size_t ten[10], count10;
    for (int k = 0; k < 10; k++) ten[k] = 6000;
    int32_t *l10 = make_labels(ten, 10, &count10);
    o.fraction = 0.1;
    WS_TEST_OK(ws_sampler_open(&s, l10, count10, 10, &o, &err));
    assert_int_equal(ws_sampler_subset_size(s), 6000);
    size_t per10[10] = {0};
    for (size_t i = 0; i < 6000; i++) per10[l10[ws_sampler_subset(s)[i]]]++;
    for (int k = 0; k < 10; k++) assert_int_equal(per10[k], 600);
    ws_sampler_close(s);
    free(l10);
    free(labels);
}

/* The subset is fixed: every epoch covers exactly it, on every rank; the ranks agree on it;
 * a smaller fraction's subset lies inside a larger one's (same seed). */
static void test_fraction_subset_is_fixed_and_nested(void **state) {
    (void)state;
    ws_error err = {0};
    size_t sizes[4] = {300, 200, 101, 50}, count;
    int32_t *labels = make_labels(sizes, 4, &count);
    enum { WORLD = 3, LB = 4 };
    ws_sampler *r[WORLD];
    for (int i = 0; i < WORLD; i++) {
        ws_sampler_opts o = opts(i, WORLD, LB, 0);
        o.fraction = 0.3;
        WS_TEST_OK(ws_sampler_open(&r[i], labels, count, 4, &o, &err));
        assert_int_equal(ws_sampler_subset_size(r[i]), ws_sampler_subset_size(r[0]));
        assert_memory_equal(ws_sampler_subset(r[i]), ws_sampler_subset(r[0]),
                            ws_sampler_subset_size(r[0]) * sizeof(int64_t));
    }
    size_t n_sub = ws_sampler_subset_size(r[0]);
    assert_int_equal(n_sub, 90 + 60 + 30 + 15); /* 30.3 rounds down */
    for (uint64_t epoch = 0; epoch < 4; epoch++) {
        int *seen = calloc(count, sizeof *seen);
        assert_non_null(seen);
        size_t total = 0;
        for (int i = 0; i < WORLD; i++) {
            int64_t idx[LB];
            for (size_t step = 0; step < ws_sampler_steps_per_epoch(r[i]); step++) {
                size_t n = ws_sampler_batch(r[i], epoch, step, idx);
                for (size_t j = 0; j < n; j++) {
                    if (!in_subset(r[0], idx[j])) fail_msg("epoch %d: %lld not in the subset", (int)epoch,
                                                           (long long)idx[j]);
                    seen[idx[j]]++;
                }
                total += n;
            }
        }
        assert_int_equal(total, n_sub);
        for (size_t i = 0; i < count; i++) assert_true(seen[i] <= 1);
        free(seen);
    }

    ws_sampler_opts o = opts(0, 1, 1, 0);
    o.fraction = 0.1;
    ws_sampler *small;
    WS_TEST_OK(ws_sampler_open(&small, labels, count, 4, &o, &err));
    for (size_t i = 0; i < ws_sampler_subset_size(small); i++)
        assert_true(in_subset(r[0], ws_sampler_subset(small)[i]));
    o.seed = 99; /* another seed draws another subset */
    ws_sampler *other;
    WS_TEST_OK(ws_sampler_open(&other, labels, count, 4, &o, &err));
    assert_int_equal(ws_sampler_subset_size(other), ws_sampler_subset_size(small));
    assert_memory_not_equal(ws_sampler_subset(other), ws_sampler_subset(small),
                            ws_sampler_subset_size(small) * sizeof(int64_t));
    ws_sampler_close(small);
    ws_sampler_close(other);
    for (int i = 0; i < WORLD; i++) ws_sampler_close(r[i]);
    free(labels);
}

static void expect_einval(const int32_t *labels, size_t count, int classes, const ws_sampler_opts *o,
                          const char *word) {
    ws_error err = {0};
    ws_sampler *s = (ws_sampler *)&err;
    ws_status st = ws_sampler_open(&s, labels, count, classes, o, &err);
    if (st != WS_EINVAL) fail_msg("want WS_EINVAL for \"%s\", got %s", word, ws_status_name(st));
    assert_null(s);
    if (!strstr(err.msg, word)) fail_msg("message lacks \"%s\": %s", word, err.msg);
}

static void test_bad_options(void **state) {
    (void)state;
    size_t sizes[2] = {10, 10}, count;
    int32_t *labels = make_labels(sizes, 2, &count);
    ws_sampler_opts o = opts(0, 2, 4, 0);
    o.fraction = 0.0;
    expect_einval(labels, count, 2, &o, "fraction 0");
    o.fraction = 1.5;
    expect_einval(labels, count, 2, &o, "fraction 1.5");
    o.fraction = NAN;
    expect_einval(labels, count, 2, &o, "fraction");
    o = opts(2, 2, 4, 0);
    expect_einval(labels, count, 2, &o, "rank 2");
    o = opts(-1, 2, 4, 0);
    expect_einval(labels, count, 2, &o, "rank -1");
    o = opts(0, 0, 4, 0);
    expect_einval(labels, count, 2, &o, "world 0");
    o = opts(0, 2, 0, 0);
    expect_einval(labels, count, 2, &o, "local_batch 0");
    o = opts(0, 3, 7, 1); /* 20 samples < 21 with drop_last */
    expect_einval(labels, count, 2, &o, "drop_last");
    o.drop_last = 0; /* without drop_last it is one short step */
    ws_error err = {0};
    ws_sampler *s;
    WS_TEST_OK(ws_sampler_open(&s, labels, count, 2, &o, &err));
    assert_int_equal(ws_sampler_steps_per_epoch(s), 1);
    ws_sampler_close(s);
    o = opts(0, 1, 4, 1);
    o.fraction = 0.1; /* 1 + 1 samples: fewer than one batch of 4 */
    expect_einval(labels, count, 2, &o, "fraction");
    o = opts(0, 1, 4, 0);
    o.fraction = 0.5;
    expect_einval(NULL, count, 2, &o, "labels");
    expect_einval(labels, count, 1, &o, "labels[");  /* label 1 with classes 1 */
    expect_einval(labels, count, 0, &o, "classes 0");
    expect_einval(labels, 0, 2, &o, "empty");
    free(labels);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_each_sample_once_per_epoch),
        cmocka_unit_test(test_union_of_ranks_is_the_global_batch),
        cmocka_unit_test(test_epochs_and_seeds),
        cmocka_unit_test(test_fraction_is_stratified),
        cmocka_unit_test(test_fraction_subset_is_fixed_and_nested),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
