/* tests/cli/test_cli_train_imagenet.c - `wattscale train --data imagenet:DIR` as a user runs
 * it (src/cli/cmd_train.c, open_data in src/train/train.c): a few steps on a written tree
 * with the crop flags write a completed run record; a missing folder, a missing DIR, a bad
 * --crop-scale and --decoder nvjpeg on the CPU fail with their messages and exit codes (1:
 * the run failed, 2: bad flags). Over several epochs (the loader's next epoch queued behind
 * the current one, src/train/step.c wsi_step_begin_epoch) every step's loss is bitwise the
 * same with 1 and 3 decode threads and after a resume in the middle of an epoch (which
 * restarts the loader there). WATTSCALE_BIN is the program. */
#include "ws_test.h"
#include "core/fileutil.h"
#include "data/jpeg_tree.h"

#include <cjson/cJSON.h>

static int run_train(const char *data, const char *extra, const char *out, char *err, size_t size) {
    const char *bin = getenv("WATTSCALE_BIN");
    assert_non_null(bin);
    const char *args[40] = {"train", "--model", "resnet18", "--width", "4", "--data", data, "--crop-size", "32",
                            "--resize-size", "36", "--global-batch", "8", "--steps", "2", "--warmup-epochs", "0",
                            "--checkpoint-every", "0", "--quiet", "--out", out};
    int n = 22;
    if (extra) {
        static char buf[1024];
        snprintf(buf, sizeof buf, "%s", extra);
        for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 39; t = strtok_r(NULL, " ", &save))
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

static char *read_text(const char *path) {
    char *text = NULL;
    size_t len = 0;
    ws_error err = {0};
    if (ws_read_file(path, &text, &len, &err) != WS_OK) fail_msg("%s", err.msg);
    return text;
}

/* The step log's lines from the k-th (1-based) on. */
static const char *from_line(const char *text, int k) {
    for (int i = 1; i < k && text; i++) {
        text = strchr(text, '\n');
        if (text) text++;
    }
    assert_non_null(text);
    return text;
}

static void test_epochs_same_whatever_the_threads_and_resume(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("cli-imagenet-epochs");
    tree_make(dir); /* 17 images: 2 steps of 8 per epoch, so 7 steps cross 3 epoch ends */
    char data[600], out[4][600], log[4][700], extra[4096], err[8192];
    snprintf(data, sizeof data, "imagenet:%s", dir);
    for (int i = 0; i < 4; i++) {
        snprintf(out[i], sizeof out[i], "%s/run%d", dir, i);
        snprintf(log[i], sizeof log[i], "%s/steps%d.csv", dir, i);
    }
    static const char *runs[4] = {"--steps 7 --data-threads 1", "--steps 7 --data-threads 3",
                                  "--steps 3 --data-threads 2", "--steps 7 --data-threads 2 --resume "};
    for (int i = 0; i < 4; i++) {
        snprintf(extra, sizeof extra, "%s%s --eval-every 0 --schedule-epochs 4 --step-log %s", runs[i],
                 i == 3 ? out[2] : "", log[i]);
        int rc = run_train(data, extra, out[i], err, sizeof err);
        if (rc != 0) fail_msg("run %d (%s): exit %d: %s", i, extra, rc, err);
    }
    char *one = read_text(log[0]), *three = read_text(log[1]), *first = read_text(log[2]), *rest = read_text(log[3]);
    if (strcmp(one, three)) fail_msg("1 and 3 decode threads trained differently:\n%s\n%s", one, three);
    if (strncmp(one, first, strlen(first))) fail_msg("the first 3 steps differ:\n%s\n%s", one, first);
    if (strcmp(from_line(one, 4), rest)) fail_msg("steps 4-7 after the resume differ:\n%s\n%s", one, rest);
    free(one);
    free(three);
    free(first);
    free(rest);
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_on_a_tree),
        cmocka_unit_test(test_epochs_same_whatever_the_threads_and_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
