/* tests/analysis/test_allreduce.c - analysis/allreduce.h: the ring and tree closed forms, the
 * buckets, the fit of latency and bandwidth to timings with a known truth, and the files. */
#include "ws_test.h"

#include "analysis/allreduce.h"
#include "core/rng.h"

#include <cjson/cJSON.h>

static ws_network test_net(void) {
    ws_network n = ws_network_default(200);
    n.intra.call_s = 10e-6;
    n.intra.alpha_s = 2e-6;
    n.intra.beta_s_per_byte = 1 / 300e9;
    n.inter.call_s = 12e-6;
    n.inter.alpha_s = 7e-6;
    n.inter.beta_s_per_byte = 1 / 25e9;
    return n;
}

static void test_closed_forms(void **state) {
    (void)state;
    ws_network n = test_net();
    double B = 1e8;
    /* one GPU: nothing to reduce */
    WS_TEST_NEAR(ws_allreduce_ring_s(&n, B, 1, 1), 0, 0, 0);
    WS_TEST_NEAR(ws_allreduce_tree_s(&n, B, 1, 1), 0, 0, 0);
    /* one node, p = 8: c + 2(p-1) a + 2(p-1)/p n b, written out */
    WS_TEST_NEAR(ws_allreduce_ring_s(&n, B, 8, 1), 10e-6 + 14 * 2e-6 + 1.75 * B / 300e9, 1e-12, 0);
    WS_TEST_NEAR(ws_allreduce_tree_s(&n, B, 8, 1), 10e-6 + 2 * 7 * 2e-6 + 2 * B / 300e9, 1e-12, 0);
    /* 4 nodes of 4: 2(p-N) intra steps, 2(N-1) inter steps, the network's bandwidth */
    WS_TEST_NEAR(ws_allreduce_ring_s(&n, B, 16, 4), 12e-6 + 24 * 2e-6 + 6 * 7e-6 + 30.0 / 16 * B / 25e9, 1e-12, 0);
    WS_TEST_NEAR(ws_allreduce_tree_s(&n, B, 16, 4), 12e-6 + 2 * (3 * 2e-6 + 2 * 7e-6) + 2 * B / 25e9, 1e-12, 0);
    /* a network faster than NVLink: the slower link (intra) bounds the bandwidth */
    ws_network fast = n;
    fast.inter.beta_s_per_byte = 1 / 900e9;
    WS_TEST_NEAR(ws_allreduce_ring_s(&fast, B, 2, 2), 12e-6 + 2 * 7e-6 + B / 300e9, 1e-12, 0);
    /* auto: the faster; the ring's bandwidth wins for large messages, the tree's latency at scale */
    ws_allreduce_algo used;
    double t = ws_allreduce_s(&n, B, 16, 4, WS_ALLREDUCE_AUTO, &used);
    assert_int_equal(used, WS_ALLREDUCE_RING);
    WS_TEST_NEAR(t, ws_allreduce_ring_s(&n, B, 16, 4), 1e-15, 0);
    t = ws_allreduce_s(&n, 1e3, 1024, 128, WS_ALLREDUCE_AUTO, &used);
    assert_int_equal(used, WS_ALLREDUCE_TREE);
    WS_TEST_NEAR(t, ws_allreduce_tree_s(&n, 1e3, 1024, 128), 1e-15, 0);
    WS_TEST_NEAR(ws_allreduce_s(&n, 1e3, 1024, 128, WS_ALLREDUCE_RING, NULL), ws_allreduce_ring_s(&n, 1e3, 1024, 128),
                 1e-15, 0);
    /* the algorithm names */
    ws_allreduce_algo a;
    assert_int_equal(ws_allreduce_parse_algo("Ring", &a), 0);
    assert_int_equal(a, WS_ALLREDUCE_RING);
    assert_int_equal(ws_allreduce_parse_algo("nvls", &a), -1);
}

static void test_buckets(void **state) {
    (void)state;
    ws_network n = test_net();
    double total = 4.0 * 25557032, bucket = 25.0 * 1048576, T, last;
    int nb;
    ws_allreduce_buckets(&n, total, bucket, 8, 1, WS_ALLREDUCE_RING, &T, &last, &nb, NULL);
    double rest = total - 3 * bucket;
    assert_int_equal(nb, 4);
    WS_TEST_NEAR(T, 3 * ws_allreduce_ring_s(&n, bucket, 8, 1) + ws_allreduce_ring_s(&n, rest, 8, 1), 1e-12, 0);
    WS_TEST_NEAR(last, ws_allreduce_ring_s(&n, rest, 8, 1), 1e-12, 0);
    /* a multiple of the bucket: no remainder bucket */
    ws_allreduce_buckets(&n, 2 * bucket, bucket, 8, 1, WS_ALLREDUCE_RING, &T, &last, &nb, NULL);
    assert_int_equal(nb, 2);
    WS_TEST_NEAR(last, ws_allreduce_ring_s(&n, bucket, 8, 1), 1e-12, 0);
    /* one GPU: no buckets */
    ws_allreduce_buckets(&n, total, bucket, 1, 1, WS_ALLREDUCE_AUTO, &T, &last, &nb, NULL);
    assert_int_equal(nb, 0);
    WS_TEST_NEAR(T, 0, 0, 0);
}

/* a timings file from the ring model with (c, a_intra, b_intra) on one node at 2, 4, 8 GPUs
 * and (a_inter, b_inter) on 2 nodes of 8; noise: relative sd of each timing */
static void write_timings(const char *path, const ws_network *truth, double noise, int one_count) {
    ws_rng rng = ws_rng_seeded(21);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", "wattscale.allreduce-timings/1");
    cJSON_AddStringToObject(root, "gpu", "Truth GPU");
    cJSON_AddStringToObject(root, "library", "NCCL 2.28 (synthetic)");
    cJSON *sets = cJSON_AddArrayToObject(root, "sets");
    const int layouts[4][2] = {{2, 1}, {4, 1}, {8, 1}, {16, 2}};
    for (int l = one_count ? 2 : 0; l < 4; l++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddNumberToObject(s, "gpus", layouts[l][0]);
        cJSON_AddNumberToObject(s, "nodes", layouts[l][1]);
        cJSON_AddStringToObject(s, "algo", "Ring");
        cJSON *pts = cJSON_AddArrayToObject(s, "points");
        for (double bytes = 1024; bytes <= 1073741824.0; bytes *= 2) {
            double t =
                ws_allreduce_ring_s(truth, bytes, layouts[l][0], layouts[l][1]) * (1 + noise * ws_rng_normal(&rng));
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "bytes", bytes);
            cJSON_AddNumberToObject(p, "time_s", t);
            cJSON_AddItemToArray(pts, p);
        }
        cJSON_AddItemToArray(sets, s);
        if (one_count) break;
    }
    char *text = cJSON_Print(root);
    ws_test_write_file(path, text);
    free(text);
    cJSON_Delete(root);
}

static void test_fit_recovers_truth(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("allreduce");
    char timings[1200], model[1200];
    snprintf(timings, sizeof timings, "%s/timings.json", dir);
    snprintf(model, sizeof model, "%s/model.json", dir);
    ws_network truth = test_net(), assumed = ws_network_default(200);
    ws_error err = {0};
    /* exact timings: the figures come back to rounding */
    write_timings(timings, &truth, 0, 0);
    ws_ar_timings t;
    WS_TEST_OK(ws_ar_timings_load(timings, &t, &err));
    assert_int_equal(t.n_sets, 4);
    ws_ar_fit fit;
    WS_TEST_OK(ws_network_fit(&t, 1e3, 2e9, &assumed, &fit, &err));
    assert_true(fit.have_intra && fit.have_inter);
    WS_TEST_NEAR(fit.intra.call_s, truth.intra.call_s, 1e-6, 1e-12);
    WS_TEST_NEAR(fit.intra.alpha_s, truth.intra.alpha_s, 1e-6, 1e-12);
    WS_TEST_NEAR(fit.intra.beta_s_per_byte, truth.intra.beta_s_per_byte, 1e-9, 0);
    WS_TEST_NEAR(fit.inter.beta_s_per_byte, truth.inter.beta_s_per_byte, 1e-9, 0);
    /* the fit takes the call latency of the one-node sets; the truth's differs by 2 us, which
     * lands in the 2(N-1) = 2 inter-node steps: a_inter = 7 + 2/2 us */
    WS_TEST_NEAR(fit.inter.alpha_s, truth.inter.alpha_s + (truth.inter.call_s - truth.intra.call_s) / 2, 1e-6, 1e-12);
    assert_true(fit.intra.measured && fit.inter.measured);
    assert_non_null(strstr(fit.intra.source, "measured: NCCL 2.28 (synthetic) all-reduce over 2, 4, 8 GPUs"));
    /* written and read back into a network: the same figures */
    WS_TEST_OK(ws_network_write(model, &fit, &t, timings, 1e3, 2e9, &err));
    ws_network loaded = ws_network_default(100);
    WS_TEST_OK(ws_network_load(model, &loaded, &err));
    WS_TEST_NEAR(loaded.intra.alpha_s, fit.intra.alpha_s, 1e-12, 0);
    WS_TEST_NEAR(loaded.inter.beta_s_per_byte, fit.inter.beta_s_per_byte, 1e-12, 0);
    assert_true(loaded.intra.measured);
    ws_ar_timings_free(&t);

    /* 1% noise: the bandwidths within 1%, with a standard error that is there and small */
    write_timings(timings, &truth, 0.01, 0);
    WS_TEST_OK(ws_ar_timings_load(timings, &t, &err));
    WS_TEST_OK(ws_network_fit(&t, 1e6, 2e9, &assumed, &fit, &err));
    WS_TEST_NEAR(fit.intra.beta_s_per_byte, truth.intra.beta_s_per_byte, 0.01, 0);
    WS_TEST_NEAR(fit.inter.beta_s_per_byte, truth.inter.beta_s_per_byte, 0.01, 0);
    if (!(fit.intra.beta_se_s_per_byte > 0 && fit.intra.beta_se_s_per_byte < 0.01 * fit.intra.beta_s_per_byte))
        fail_msg("intra b %g: standard error %g", fit.intra.beta_s_per_byte, fit.intra.beta_se_s_per_byte);
    for (size_t i = 0; i < fit.n_sets; i++)
        assert_true(fit.sets[i].line.r2 > 0.999);
    ws_ar_timings_free(&t);

    /* one GPU count: latencies not separable, said so; the bandwidth is still exact */
    write_timings(timings, &truth, 0, 1);
    WS_TEST_OK(ws_ar_timings_load(timings, &t, &err));
    WS_TEST_OK(ws_network_fit(&t, 1e3, 2e9, &assumed, &fit, &err));
    assert_true(fit.have_intra && !fit.have_inter);
    assert_non_null(strstr(fit.note, "One GPU count"));
    WS_TEST_NEAR(fit.intra.call_s, 0, 0, 0);
    WS_TEST_NEAR(fit.intra.alpha_s, (truth.intra.call_s + 14 * truth.intra.alpha_s) / 14, 1e-6, 1e-12);
    WS_TEST_NEAR(fit.intra.beta_s_per_byte, truth.intra.beta_s_per_byte, 1e-9, 0);
    assert_false(fit.inter.measured); /* the assumption stays, and says so */
    assert_non_null(strstr(fit.inter.source, "assumed"));
    /* a window holding fewer than 3 sizes: no fit */
    assert_int_equal(ws_network_fit(&t, 5e8, 6e8, &assumed, &fit, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "--min-bytes"));
    ws_ar_timings_free(&t);
    ws_test_rmtree(dir);
}

static void test_bad_files(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("allreduce-bad");
    char path[1200];
    snprintf(path, sizeof path, "%s/t.json", dir);
    ws_error err = {0};
    ws_ar_timings t;
    ws_network n = ws_network_default(200);
    ws_test_write_file(path, "{\"schema\": \"wattscale.run/1\", \"sets\": []}");
    assert_int_equal(ws_ar_timings_load(path, &t, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "wattscale.allreduce-timings/1"));
    ws_test_write_file(path, "{\"schema\": \"wattscale.allreduce-timings/1\", \"sets\": [{\"gpus\": 4, \"nodes\": 3, "
                             "\"points\": [{\"bytes\": 1, \"time_s\": 1}]}]}");
    assert_int_equal(ws_ar_timings_load(path, &t, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "nodes dividing gpus"));
    ws_test_write_file(path, "{\"schema\": \"wattscale.allreduce-timings/1\", \"sets\": [{\"gpus\": 2, \"nodes\": 1, "
                             "\"points\": [{\"bytes\": 1024, \"time_s\": -1}]}]}");
    assert_int_equal(ws_ar_timings_load(path, &t, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "points[0]"));
    ws_test_write_file(path, "{\"schema\": \"wattscale.allreduce-model/1\", \"intra_node\": {\"call_s\": 0, "
                             "\"alpha_s\": 1e-6, \"beta_s_per_byte\": 0}}");
    ws_network before = n;
    assert_int_equal(ws_network_load(path, &n, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "intra_node.beta_s_per_byte"));
    WS_TEST_NEAR(n.intra.beta_s_per_byte, before.intra.beta_s_per_byte, 0, 0); /* untouched */
    snprintf(path, sizeof path, "%s/absent.json", dir);
    assert_int_equal(ws_network_load(path, &n, &err), WS_EIO);
    ws_test_rmtree(dir);
}

/* the defaults say what they are: assumptions, each naming its source */
static void test_defaults_are_labelled(void **state) {
    (void)state;
    ws_network n = ws_network_default(200);
    assert_false(n.intra.measured || n.inter.measured);
    assert_non_null(strstr(n.intra.source, "assumed: bus bandwidth 329 GB/s from facts.md"));
    assert_non_null(strstr(n.inter.source, "InfiniBand HDR"));
    WS_TEST_NEAR(1 / n.inter.beta_s_per_byte, 25e9, 1e-12, 0);
    char d[1200];
    ws_network_describe(&n, d, sizeof d);
    assert_non_null(strstr(d, "329 GB/s bus"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_forms),          cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_fit_recovers_truth),    cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_defaults_are_labelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
