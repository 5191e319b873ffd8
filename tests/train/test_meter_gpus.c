/* tests/train/test_meter_gpus.c - the GPUs a node's meter reads under --meter-gpus used:
 * the gathered (node, UUID) table of the ranks turned into the node's list, and the gather
 * itself in a single-process world. The CUDA side (ws_cuda_device_uuid of a real GPU) runs
 * only on a GPU machine: tests/train/test_train_cuda.sh. */
#include "ws_test.h"
#include "train/meter_gpus.h"

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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_list_is_its_ranks_gpus_once),
        cmocka_unit_test(test_cpu_ranks_give_no_gpu),
        cmocka_unit_test(test_malformed_uuid_names_the_rank),
        cmocka_unit_test(test_unterminated_entry),
        cmocka_unit_test(test_gather_single_world),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
