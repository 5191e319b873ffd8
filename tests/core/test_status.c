/* tests/core/test_status.c - the status table, wsi_error and the atomic file writer. */
#include "ws_test.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "wattscale/wattscale.h"

#include <sys/stat.h>

static void test_every_status_has_a_name_and_message(void **state) {
    (void)state;
    for (int s = 0; s >= WS_ELIBRARY; s--) {
        assert_string_not_equal(ws_status_name((ws_status)s), "WS_UNKNOWN");
        assert_string_not_equal(ws_status_message((ws_status)s), "unknown status");
    }
    assert_string_equal(ws_status_name((ws_status)-999), "WS_UNKNOWN");
}

static void test_error_fills_line_and_returns_code(void **state) {
    (void)state;
    ws_error err = {0};
    assert_int_equal(wsi_error(&err, WS_EIO, "open %s: %s", "/x", "No such file"), WS_EIO);
    assert_int_equal(err.code, WS_EIO);
    assert_string_equal(err.msg, "open /x: No such file");
    assert_int_equal(wsi_error(NULL, WS_EPERM, "ignored"), WS_EPERM); /* NULL err is allowed */
}

static void test_atomic_write_replaces_whole_file(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("atomic");
    char path[600];
    snprintf(path, sizeof path, "%s/out.json", dir);
    WS_TEST_OK(ws_write_file_atomic(path, "first\n", 6, &err));
    WS_TEST_OK(ws_write_file_atomic(path, "second\n", 7, &err));
    FILE *f = fopen(path, "r");
    char buf[32] = {0};
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof buf - 1, f), 7);
    fclose(f);
    assert_string_equal(buf, "second\n");
    snprintf(path, sizeof path, "%s/missing-dir/out.json", dir);
    assert_int_equal(ws_write_file_atomic(path, "x", 1, &err), WS_EIO);
    assert_non_null(strstr(err.msg, "missing-dir"));
    ws_test_rmtree(dir);
}

static void test_version_and_features(void **state) {
    (void)state;
    assert_non_null(strstr(ws_build_features(), "cuda"));
    assert_non_null(strstr(ws_build_features(), "mpi"));
    assert_true(strlen(ws_version()) >= 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_status_has_a_name_and_message),
        cmocka_unit_test(test_error_fills_line_and_returns_code),
        cmocka_unit_test(test_atomic_write_replaces_whole_file),
        cmocka_unit_test(test_version_and_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
