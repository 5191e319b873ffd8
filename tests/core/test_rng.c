/* tests/core/test_rng.c - the generator is reproducible, its streams independent, and its
 * distributions what they claim (mean, variance, bounds). */
#include "ws_test.h"
#include "core/rng.h"

static void test_same_seed_same_sequence(void **state) {
    (void)state;
    ws_rng a = ws_rng_seeded(42), b = ws_rng_seeded(42), c = ws_rng_seeded(43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = ws_rng_u64(&a);
        assert_true(x == ws_rng_u64(&b));
        differ |= x != ws_rng_u64(&c);
    }
    assert_true(differ);
}

static void test_split_is_stable_and_distinct(void **state) {
    (void)state;
    ws_rng r = ws_rng_seeded(7);
    ws_rng s1 = ws_rng_split(&r, 1), s1b = ws_rng_split(&r, 1), s2 = ws_rng_split(&r, 2);
    assert_true(ws_rng_u64(&s1) == ws_rng_u64(&s1b));
    assert_true(ws_rng_u64(&s1) != ws_rng_u64(&s2));
}

static void test_distributions(void **state) {
    (void)state;
    ws_rng r = ws_rng_seeded(1);
    double s = 0, s2 = 0, us = 0;
    int n = 200000, below_hist[7] = {0};
    for (int i = 0; i < n; i++) {
        double z = ws_rng_normal(&r);
        s += z;
        s2 += z * z;
        double u = ws_rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
        us += u;
        uint64_t b = ws_rng_below(&r, 7);
        assert_true(b < 7);
        below_hist[b]++;
    }
    WS_TEST_NEAR(s / n, 0, 0, 0.01);     /* 4.5 standard errors of 1/sqrt(n) */
    WS_TEST_NEAR(s2 / n, 1, 0, 0.015);
    WS_TEST_NEAR(us / n, 0.5, 0, 0.003);
    for (int k = 0; k < 7; k++) WS_TEST_NEAR(below_hist[k], n / 7.0, 0.03, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_sequence),
        cmocka_unit_test(test_split_is_stable_and_distinct),
        cmocka_unit_test(test_distributions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
