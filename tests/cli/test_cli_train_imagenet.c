/* tests/cli/test_cli_train_imagenet.c - `wattscale train --data imagenet:DIR` as a user runs
 * it (src/cli/cmd_train.c, open_data in src/train/train.c): a few steps on a written tree
 * with the crop flags write a completed run record; a missing folder, a missing DIR, a bad
 * --crop-scale and the not-yet-wired --decoder nvjpeg fail with their messages and exit
 * codes (1: the run failed, 2: bad flags). WATTSCALE_BIN is the program. */
#include "ws_test.h"
#include "data/jpeg_tree.h"

#include <cjson/cJSON.h>

static int run_train(const char *data, const char *extra, const char *out, char *err, size_t size) {
    const char *bin = getenv("WATTSCALE_BIN");
    assert_non_null(bin);
    const char *args[32] = {"train", "--model", "resnet18", "--width", "4", "--data", data, "--crop-size", "32",
                            "--resize-size", "36", "--global-batch", "8", "--steps", "2", "--warmup-epochs", "0",
                            "--checkpoint-every", "0", "--quiet", "--out", out};
    int n = 22;
    if (extra) {
        static char buf[256];
        snprintf(buf, sizeof buf, "%s", extra);
        for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 31; t = strtok_r(NULL, " ", &save))
            args[n++] = t;
    }
    args[n] = NULL;
    return ws_test_run(bin, args, 0, 0, err, size);
}

static void test_train_on_a_tree(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("cli-imagenet");
    tree_make(dir);
    char data[600], out[600], rec[700], err[8192];
    snprintf(data, sizeof data, "imagenet:%s", dir);
    snprintf(out, sizeof out, "%s/run", dir);
    int rc = run_train(data, "--crop-scale 0.5,1 --data-threads 2", out, err, sizeof err);
    if (rc != 0) fail_msg("exit %d: %s", rc, err);
    snprintf(rec, sizeof rec, "%s/run.json", out);
    cJSON *j = ws_test_read_json(rec);
    cJSON *status = cJSON_GetObjectItem(j, "status");
    assert_true(cJSON_IsString(status));
    assert_string_equal(status->valuestring, "completed");
    cJSON_Delete(j);
    assert_non_null(strstr(err, "unreadable")); /* the tree's truncated and PNG files, warned about */

    assert_int_equal(run_train("imagenet:/nonexistent/imagenet", NULL, out, err, sizeof err), 1);
    assert_non_null(strstr(err, "does not exist"));
    assert_int_equal(run_train("imagenet", NULL, out, err, sizeof err), 2);
    assert_non_null(strstr(err, "imagenet:DIR"));
    assert_int_equal(run_train(data, "--crop-scale 0.9,0.1", out, err, sizeof err), 2);
    assert_non_null(strstr(err, "MIN,MAX"));
    assert_int_equal(run_train(data, "--decoder nvjpeg", out, err, sizeof err), 2);
    assert_non_null(strstr(err, "--decoder cpu"));
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_on_a_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
