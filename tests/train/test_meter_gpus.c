/* tests/train/test_meter_gpus.c - the GPUs a node's meter reads under --meter-gpus used:
 * the gathered (node, UUID) table of the ranks turned into the node's list, and the gather
 * itself in a single-process world; then every node's metered and left-out lists for the
 * record (a meter over the fake NVML, $WATTSCALE_FAKE_NVML, its report capped at
 * WSI_NODE_GPUS_MAX, the reports of a world sorted into nodes). The CUDA side
 * (ws_cuda_device_uuid of a real GPU) runs only on a GPU machine:
 * tests/train/test_train_cuda.sh; several nodes over tcp: tests/dist/test_dp_train_tcp.sh. */
#include "ws_test.h"
#include "train/meter_gpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wsi_rank_gpu rank_gpu(int node, const char *uuid) {
    wsi_rank_gpu g;
    memset(&g, 0, sizeof g);
    g.node = node;
    snprintf(g.uuid, sizeof g.uuid, "%s", uuid);
    return g;
}

/* 2 nodes x 3 ranks: ranks 0 and 1 share a GPU (counted once), CUDA's spelling is
 * normalised, node 1's GPUs never reach node 0's list. */
static void test_node_list_is_its_ranks_gpus_once(void **state) {
    (void)state;
    wsi_rank_gpu t[6] = {
        rank_gpu(0, "GPU-aaaaaaaa-0000-0000-0000-000000000001"),
        rank_gpu(0, "GPU-AAAAAAAA-0000-0000-0000-000000000001"),
        rank_gpu(0, "GPU-bbbbbbbb-0000-0000-0000-000000000002"),
        rank_gpu(1, "GPU-cccccccc-0000-0000-0000-000000000003"),
        rank_gpu(1, "GPU-dddddddd-0000-0000-0000-000000000004"),
        rank_gpu(1, "GPU-eeeeeeee-0000-0000-0000-000000000005"),
    };
    char out[6][96];
    size_t n = 99;
    ws_error err = {0};
    WS_TEST_OK(wsi_meter_gpus_of_node(t, 6, 0, out, &n, &err));
    assert_int_equal(n, 2);
    assert_string_equal(out[0], "GPU-aaaaaaaa-0000-0000-0000-000000000001");
    assert_string_equal(out[1], "GPU-bbbbbbbb-0000-0000-0000-000000000002");
    WS_TEST_OK(wsi_meter_gpus_of_node(t, 6, 1, out, &n, &err));
    assert_int_equal(n, 3);
    assert_string_equal(out[2], "GPU-eeeeeeee-0000-0000-0000-000000000005");
    WS_TEST_OK(wsi_meter_gpus_of_node(t, 6, 2, out, &n, &err)); /* no such node: none */
    assert_int_equal(n, 0);
}

/* CPU ranks give "": the node meters no GPU (the empty list, not "all"). */
static void test_cpu_ranks_give_no_gpu(void **state) {
    (void)state;
    wsi_rank_gpu t[2] = {rank_gpu(0, ""), rank_gpu(0, "")};
    char out[2][96];
    size_t n = 99;
    ws_error err = {0};
    WS_TEST_OK(wsi_meter_gpus_of_node(t, 2, 0, out, &n, &err));
    assert_int_equal(n, 0);
}

static void test_malformed_uuid_names_the_rank(void **state) {
    (void)state;
    wsi_rank_gpu t[2] = {rank_gpu(0, "GPU-aaaaaaaa-0000-0000-0000-000000000001"), rank_gpu(0, "GPU-not a uuid")};
    char out[2][96];
    size_t n = 0;
    ws_error err = {0};
    assert_int_equal(wsi_meter_gpus_of_node(t, 2, 0, out, &n, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "rank 1"));
    assert_non_null(strstr(err.msg, "--meter-gpus all"));
}

/* An entry filled to its last byte (another process's bytes) is still read safely. */
static void test_unterminated_entry(void **state) {
    (void)state;
    wsi_rank_gpu t[1];
    t[0].node = 0;
    memset(t[0].uuid, 'a', sizeof t[0].uuid);
    char out[1][96];
    size_t n = 0;
    ws_error err = {0};
    WS_TEST_OK(wsi_meter_gpus_of_node(t, 1, 0, out, &n, &err));
    assert_int_equal(n, 1);
    assert_int_equal(strlen(out[0]), 4 + sizeof t[0].uuid);
}

static void test_gather_single_world(void **state) {
    (void)state;
    ws_world *w = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_world_open(&w, &err));
    wsi_rank_gpu t[1];
    memset(t, 0xFF, sizeof t);
    WS_TEST_OK(wsi_meter_gpus_gather(w, "GPU-aaaaaaaa-0000-0000-0000-000000000001", t, &err));
    assert_int_equal(t[0].node, 0);
    assert_string_equal(t[0].uuid, "GPU-aaaaaaaa-0000-0000-0000-000000000001");
    WS_TEST_OK(wsi_meter_gpus_gather(w, NULL, t, &err));
    assert_string_equal(t[0].uuid, "");
    assert_string_equal(wsi_meter_gpus_name(WS_METER_GPUS_USED), "used");
    assert_string_equal(wsi_meter_gpus_name(WS_METER_GPUS_ALL), "all");
    ws_world_close(w);
}

/* A meter over `n` fake GPUs (UUIDs GPU-aaaaaaaa-...-0000000000<i>), `selected` of them
 * (the first ones) metered; NULL without the fake NVML. */
static ws_meter *fake_meter(const char *dir, int n, int selected) {
    const char *lib = getenv("WATTSCALE_FAKE_NVML");
    if (!lib) return NULL;
    char cfg[600], text[4096] = "", line[160];
    snprintf(cfg, sizeof cfg, "%s/nvml.conf", dir);
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof line, "gpu name=\"Fake\" uuid=GPU-aaaaaaaa-0000-0000-0000-0000000000%02d\n", i);
        strcat(text, line);
    }
    ws_test_write_file(cfg, text);
    setenv("WATTSCALE_FAKE_NVML_CONFIG", cfg, 1);
    static char ids[32][96];
    static const char *uuids[33];
    for (int i = 0; i < selected; i++) {
        snprintf(ids[i], sizeof ids[i], "GPU-aaaaaaaa-0000-0000-0000-0000000000%02d", i);
        uuids[i] = ids[i];
    }
    uuids[selected] = NULL;
    ws_meter_opts o = ws_meter_opts_default();
    o.sensors = WS_SENSOR_NVML;
    o.nvml_library = lib;
    o.gpu_uuids = selected < n ? uuids : NULL;
    ws_meter *m = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_meter_open(&m, &o, &err));
    unsetenv("WATTSCALE_FAKE_NVML_CONFIG");
    return m;
}

/* 3 GPUs, 1 selected: it is listed metered, the other two left out with the meter's reason. */
static void test_node_report_lists_metered_and_left_out(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("node-gpus");
    ws_meter *m = fake_meter(dir, 3, 1);
    if (!m) {
        ws_test_rmtree(dir);
        skip();
    }
    wsi_node_gpus g;
    memset(&g, 0xEE, sizeof g);
    wsi_node_gpus_report(&g, m, 5);
    assert_int_equal(g.has_meter, 1);
    assert_int_equal(g.node, 5);
    assert_int_equal(g.metered, 1);
    assert_int_equal(g.left_out, 2);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.truncated, 0);
    assert_int_equal(g.gpu[0].metered, 1);
    assert_string_equal(g.gpu[0].id, "GPU-aaaaaaaa-0000-0000-0000-000000000000");
    assert_string_equal(g.gpu[0].reason, "");
    assert_int_equal(g.gpu[2].metered, 0);
    assert_string_equal(g.gpu[2].id, "GPU-aaaaaaaa-0000-0000-0000-000000000002");
    assert_string_equal(g.gpu[2].reason, "not selected");
    assert_string_equal(g.gpu[3].id, ""); /* the rest zeroed: no stale bytes travel */
    ws_meter_close(m);
    ws_test_rmtree(dir);
}

/* 18 GPUs, 2 metered: the list keeps both metered and the first 14 left out, says it is
 * truncated and still counts all 16 left out. */
static void test_node_report_caps_the_list(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("node-gpus-cap");
    ws_meter *m = fake_meter(dir, WSI_NODE_GPUS_MAX + 2, 2);
    if (!m) {
        ws_test_rmtree(dir);
        skip();
    }
    wsi_node_gpus g;
    wsi_node_gpus_report(&g, m, 0);
    assert_int_equal(g.metered, 2);
    assert_int_equal(g.left_out, WSI_NODE_GPUS_MAX);
    assert_int_equal(g.n, WSI_NODE_GPUS_MAX);
    assert_int_equal(g.truncated, 1);
    assert_int_equal(g.gpu[0].metered + g.gpu[1].metered, 2);
    assert_int_equal(g.gpu[2].metered, 0);
    assert_string_equal(g.gpu[WSI_NODE_GPUS_MAX - 1].id, "GPU-aaaaaaaa-0000-0000-0000-000000000015");
    ws_meter_close(m);
    ws_test_rmtree(dir);
}

static wsi_node_gpus report(int node, int has_meter, const char *metered_id, const char *left_out_id) {
    wsi_node_gpus g;
    wsi_node_gpus_report(&g, NULL, node);
    g.has_meter = has_meter;
    if (metered_id) {
        snprintf(g.gpu[g.n].id, sizeof g.gpu[0].id, "%s", metered_id);
        g.gpu[g.n++].metered = 1;
        g.metered++;
    }
    if (left_out_id) {
        snprintf(g.gpu[g.n].id, sizeof g.gpu[0].id, "%s", left_out_id);
        snprintf(g.gpu[g.n++].reason, sizeof g.gpu[0].reason, "not selected");
        g.left_out++;
    }
    return g;
}

/* 5 ranks on 3 nodes: each node's list is its meter rank's, wherever that rank is; a rank
 * without a meter adds nothing; a node nobody reported for has none; a report for a node
 * outside the world is ignored. */
static void test_world_reports_sorted_into_nodes(void **state) {
    (void)state;
    wsi_node_gpus r[5] = {
        report(0, 1, "GPU-0", NULL),
        report(1, 0, "GPU-bogus", NULL),      /* no meter: never listed */
        report(1, 1, "GPU-1a", "GPU-1b"),
        report(0, 1, "GPU-other", NULL),      /* a second meter on node 0: the first wins */
        report(7, 1, "GPU-nowhere", NULL),
    };
    wsi_node_gpus per[3];
    memset(per, 0xEE, sizeof per);
    wsi_node_gpus_of_world(per, 3, r, 5);
    assert_int_equal(per[0].has_meter, 1);
    assert_int_equal(per[0].n, 1);
    assert_string_equal(per[0].gpu[0].id, "GPU-0");
    assert_int_equal(per[1].has_meter, 1);
    assert_int_equal(per[1].n, 2);
    assert_int_equal(per[1].node, 1);
    assert_string_equal(per[1].gpu[0].id, "GPU-1a");
    assert_int_equal(per[1].gpu[1].metered, 0);
    assert_string_equal(per[1].gpu[1].reason, "not selected");
    assert_int_equal(per[1].truncated, 0);
    assert_int_equal(per[2].has_meter, 0);
    assert_int_equal(per[2].node, 2);
    assert_int_equal(per[2].n, 0);
}

/* Bytes from another process, filled to the last byte and with a count past the array:
 * bounded and terminated, marked truncated. */
static void test_world_report_garbage_is_bounded(void **state) {
    (void)state;
    wsi_node_gpus r[1];
    memset(r, 'a', sizeof r);
    r[0].has_meter = 1;
    r[0].node = 0;
    r[0].n = 1000;
    r[0].metered = 1000;
    r[0].left_out = -3;
    r[0].truncated = 0;
    wsi_node_gpus per[1];
    wsi_node_gpus_of_world(per, 1, r, 1);
    assert_int_equal(per[0].n, WSI_NODE_GPUS_MAX);
    assert_int_equal(per[0].left_out, 0);
    assert_int_equal(per[0].truncated, 1);
    assert_int_equal(strlen(per[0].gpu[WSI_NODE_GPUS_MAX - 1].id), sizeof per[0].gpu[0].id - 1);
    assert_int_equal(strlen(per[0].gpu[0].reason), sizeof per[0].gpu[0].reason - 1);
    assert_int_equal(per[0].gpu[0].metered, 1);
}

/* The collective in a single world: the one node's list is this rank's meter's. */
static void test_node_gpus_gather_single_world(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("node-gpus-gather");
    ws_meter *m = fake_meter(dir, 2, 2);
    ws_world *w = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_world_open(&w, &err));
    wsi_node_gpus per[1];
    WS_TEST_OK(wsi_node_gpus_gather(w, m, per, 1, 0, &err));
    assert_int_equal(per[0].has_meter, m != NULL);
    if (m) {
        assert_int_equal(per[0].metered, 2);
        assert_int_equal(per[0].left_out, 0);
        assert_string_equal(per[0].gpu[1].id, "GPU-aaaaaaaa-0000-0000-0000-000000000001");
    }
    WS_TEST_OK(wsi_node_gpus_gather(w, NULL, per, 1, 0, &err)); /* no meter: the node has no list */
    assert_int_equal(per[0].has_meter, 0);
    /* the writer needs somewhere to put the lists; a root outside the world is refused */
    assert_int_equal(wsi_node_gpus_gather(w, m, NULL, 1, 0, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "per_node"));
    assert_int_equal(wsi_node_gpus_gather(w, m, per, 1, 1, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "root 1"));
    ws_world_close(w);
    ws_meter_close(m);
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_list_is_its_ranks_gpus_once),
        cmocka_unit_test(test_cpu_ranks_give_no_gpu),
        cmocka_unit_test(test_malformed_uuid_names_the_rank),
        cmocka_unit_test(test_unterminated_entry),
        cmocka_unit_test(test_gather_single_world),
        cmocka_unit_test(test_node_report_lists_metered_and_left_out),
        cmocka_unit_test(test_node_report_caps_the_list),
        cmocka_unit_test(test_world_reports_sorted_into_nodes),
        cmocka_unit_test(test_world_report_garbage_is_bounded),
        cmocka_unit_test(test_node_gpus_gather_single_world),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
