/* tests/core/test_tensorfile.c - .wstf round trip, and clear errors for foreign or
 * truncated files. */
#include "ws_test.h"
#include "core/tensorfile.h"

static void test_round_trip_and_errors(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("wstf");
    char path[600];
    snprintf(path, sizeof path, "%s/a.wstf", dir);
    ws_tensorfile f;
    ws_tensorfile_init(&f);
    float x[6] = {1, -2, 3.5f, 0, 1e-30f, -7};
    int32_t y[3] = {4, -5, 6};
    uint64_t dims[2] = {2, 3};
    WS_TEST_OK(ws_tensorfile_add(&f, "layer.weight", WS_TF_F32, 2, dims, x, 6, &err));
    WS_TEST_OK(ws_tensorfile_add(&f, "labels", WS_TF_I32, 1, NULL, y, 3, &err));
    WS_TEST_OK(ws_tensorfile_add(&f, "meta", WS_TF_U8, 1, NULL, "{}", 2, &err));
    assert_int_equal(ws_tensorfile_add(&f, "bad", WS_TF_F32, 2, dims, x, 5, &err), WS_EINVAL);
    WS_TEST_OK(ws_tensorfile_write(&f, path, &err));
    ws_tensorfile_free(&f);

    ws_tensorfile g;
    WS_TEST_OK(ws_tensorfile_read(&g, path, &err));
    assert_int_equal(g.n, 3);
    const ws_tf_entry *w = ws_tensorfile_find(&g, "layer.weight");
    assert_non_null(w);
    assert_int_equal(w->ndims, 2);
    assert_int_equal(w->dims[1], 3);
    assert_memory_equal(w->data, x, sizeof x);
    assert_memory_equal(ws_tensorfile_find(&g, "labels")->data, y, sizeof y);
    assert_null(ws_tensorfile_find(&g, "nothing"));
    ws_tensorfile_free(&g);

    /* truncated: every prefix of the file is refused, none crashes */
    FILE *fp = fopen(path, "rb");
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    for (size_t cut = 0; cut < n; cut += 7) {
        fp = fopen(path, "wb");
        fwrite(buf, 1, cut, fp);
        fclose(fp);
        assert_int_not_equal(ws_tensorfile_read(&g, path, &err), WS_OK);
    }
    ws_test_write_file(path, "not a tensor file at all");
    assert_int_equal(ws_tensorfile_read(&g, path, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "WSTF"));
    assert_int_equal(ws_tensorfile_read(&g, "/nonexistent/x.wstf", &err), WS_EIO);
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip_and_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
