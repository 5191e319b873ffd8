/* tests/ops/test_conv_choices.c - the file of convolution choices (src/ops/conv_choices.c):
 * where it is, entries surviving a reopen, the last line of a key winning, lines that are
 * not entries ignored and counted (garbled, too long, cut short), bad keys refused, a file
 * that cannot be written or read, and processes appending at once without mixing lines.
 * The CUDA side (what the values say, a choice reloaded instead of timed) is tested on the
 * GPU by tests/ops/test_ops_cuda.c. */
#include "ws_test.h"
#include "ops/conv_choices.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void set_env(const char *name, const char *value) {
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

/* Each case starts from none of the variables the path depends on. */
static int clean_env(void **state) {
    (void)state;
    unsetenv("WATTSCALE_CONV_CHOICES");
    unsetenv("XDG_CACHE_HOME");
    return 0;
}

/* The path wsi_conv_choices_path gives with variable `name` set to value (NULL: unset). */
static void expect_path(const char *name, const char *value, const char *want) {
    char buf[256];
    set_env(name, value);
    assert_int_equal(wsi_conv_choices_path(buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

static void test_path(void **state) {
    (void)state;
    char buf[256];
    const char *home = getenv("HOME");
    char *saved_home = home ? strdup(home) : NULL;
    expect_path("HOME", "/h", "/h/.cache/wattscale/conv-choices.txt");
    expect_path("XDG_CACHE_HOME", "/x", "/x/wattscale/conv-choices.txt");
    expect_path("WATTSCALE_CONV_CHOICES", "/p/c.txt", "/p/c.txt");
    expect_path("WATTSCALE_CONV_CHOICES", "off", "");
    expect_path("WATTSCALE_CONV_CHOICES", "", "");
    set_env("WATTSCALE_CONV_CHOICES", NULL);
    set_env("XDG_CACHE_HOME", NULL);
    expect_path("HOME", NULL, ""); /* nowhere to keep it */
    set_env("HOME", "/a/rather/long/home");
    assert_int_equal(wsi_conv_choices_path(buf, 16), -1);
    assert_string_equal(buf, "");
    set_env("HOME", saved_home);
    free(saved_home);
}

static void test_round_trip_and_last_wins(void **state) {
    (void)state;
    ws_error err = {WS_OK, ""};
    const char *dir = ws_test_tmpdir("ws-cc");
    char path[512];
    snprintf(path, sizeof path, "%s/not/yet/there/choices.txt", dir);
    wsi_conv_choices *cc;
    WS_TEST_OK(wsi_conv_choices_open(&cc, path, &err));
    assert_int_equal(wsi_conv_choices_count(cc), 0);
    assert_null(wsi_conv_choices_find(cc, "a"));
    WS_TEST_OK(wsi_conv_choices_add(cc, "v1|gpu|256x64x56x56 k64 3x3/1 pad 1", "L 1:1 1:1 0:1|G0 eng70 k(2=4,18=0)", &err));
    WS_TEST_OK(wsi_conv_choices_add(cc, "b", "second", &err));
    WS_TEST_OK(wsi_conv_choices_add(cc, "c", "third", &err));
    WS_TEST_OK(wsi_conv_choices_add(cc, "b", "second, again", &err)); /* in memory: replaced */
    assert_string_equal(wsi_conv_choices_find(cc, "b"), "second, again");
    assert_int_equal(wsi_conv_choices_count(cc), 3);
    assert_string_equal(wsi_conv_choices_file(cc), path);
    wsi_conv_choices_close(cc);

    WS_TEST_OK(wsi_conv_choices_open(&cc, path, &err));
    assert_int_equal(wsi_conv_choices_count(cc), 3);
    assert_int_equal(wsi_conv_choices_ignored(cc), 0);
    assert_string_equal(wsi_conv_choices_find(cc, "v1|gpu|256x64x56x56 k64 3x3/1 pad 1"),
                        "L 1:1 1:1 0:1|G0 eng70 k(2=4,18=0)");
    assert_string_equal(wsi_conv_choices_find(cc, "b"), "second, again"); /* the file's last line of b */
    assert_string_equal(wsi_conv_choices_find(cc, "c"), "third");
    assert_null(wsi_conv_choices_find(cc, "v1|gpu"));                      /* whole keys only */
    wsi_conv_choices_close(cc);
    ws_test_rmtree(dir);
}

static void test_lines_that_are_not_entries(void **state) {
    (void)state;
    ws_error err = {WS_OK, ""};
    const char *dir = ws_test_tmpdir("ws-cc");
    char path[512], text[4096], longkey[600];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    snprintf(path, sizeof path, "%s/choices.txt", dir);
    snprintf(text, sizeof text,
             "# a comment\n"
             "\n"
             "good1\tvalue one\n"
             "no tab at all\n"          /* ignored 1 */
             "\tno key\n"               /* 2 */
             "no value\t\n"             /* 3 */
             "two\ttabs\there\n"        /* 4 */
             "%s\tlong key\n"           /* 5 */
             "good2\tvalue two\n"
             "cut\tshort", longkey); /* 6: a writer that died mid-line */
    ws_test_write_file(path, text);
    wsi_conv_choices *cc;
    WS_TEST_OK(wsi_conv_choices_open(&cc, path, &err));
    assert_int_equal(wsi_conv_choices_ignored(cc), 6);
    assert_int_equal(wsi_conv_choices_count(cc), 2);
    assert_string_equal(wsi_conv_choices_find(cc, "good1"), "value one");
    assert_string_equal(wsi_conv_choices_find(cc, "good2"), "value two");
    assert_null(wsi_conv_choices_find(cc, "cut"));
    /* the refused keys and values never reach the file */
    assert_int_equal(wsi_conv_choices_add(cc, "a\tb", "v", &err), WS_EINVAL);
    assert_int_equal(wsi_conv_choices_add(cc, "a", "v\n", &err), WS_EINVAL);
    assert_int_equal(wsi_conv_choices_add(cc, "", "v", &err), WS_EINVAL);
    assert_int_equal(wsi_conv_choices_add(cc, longkey, "v", &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "longer than"));
    wsi_conv_choices_close(cc);
    ws_test_rmtree(dir);
}

static void test_unwritable_and_unreadable(void **state) {
    (void)state;
    ws_error err = {WS_OK, ""};
    const char *dir = ws_test_tmpdir("ws-cc");
    char file[512], under_file[600];
    snprintf(file, sizeof file, "%s/plain", dir);
    ws_test_write_file(file, "x");
    snprintf(under_file, sizeof under_file, "%s/choices.txt", file); /* a folder that is a file */
    wsi_conv_choices *cc;
    assert_int_equal(wsi_conv_choices_open(&cc, under_file, &err), WS_EIO);
    assert_non_null(strstr(err.msg, under_file));
    /* missing and cannot be made (as root too: /proc takes no new files) */
    WS_TEST_OK(wsi_conv_choices_open(&cc, "/proc/self/ws-conv-choices.txt", &err));
    assert_int_equal(wsi_conv_choices_count(cc), 0);
    assert_int_equal(wsi_conv_choices_add(cc, "k", "v", &err), WS_EIO);
    assert_non_null(strstr(err.msg, "/proc/self/ws-conv-choices.txt"));
    assert_string_equal(wsi_conv_choices_find(cc, "k"), "v"); /* still used by this process */
    wsi_conv_choices_close(cc);
    /* a folder where the file should be */
    assert_int_equal(wsi_conv_choices_open(&cc, dir, &err), WS_EIO);
    assert_null(cc);
    assert_non_null(strstr(err.msg, dir));
    assert_non_null(strstr(err.msg, "WATTSCALE_CONV_CHOICES"));
    assert_int_equal(wsi_conv_choices_open(&cc, "", &err), WS_EINVAL);
    ws_test_rmtree(dir);
}

/* Ranks of one job on one node share the file: whole lines, none lost. */
static void test_concurrent_appends(void **state) {
    (void)state;
    enum { PROCS = 4, EACH = 150 };
    ws_error err = {WS_OK, ""};
    const char *dir = ws_test_tmpdir("ws-cc");
    char path[512];
    snprintf(path, sizeof path, "%s/choices.txt", dir);
    pid_t pid[PROCS];
    for (int p = 0; p < PROCS; p++) {
        if ((pid[p] = fork()) == 0) {
            wsi_conv_choices *cc;
            ws_error e = {WS_OK, ""};
            if (wsi_conv_choices_open(&cc, path, &e) != WS_OK) _exit(2);
            char key[64], value[WSI_CONV_CHOICES_FIELD_MAX + 1];
            for (int i = 0; i < EACH; i++) {
                snprintf(key, sizeof key, "proc%d-entry%d", p, i);
                memset(value, 'a' + p, WSI_CONV_CHOICES_FIELD_MAX); /* long lines: more chance to interleave */
                value[WSI_CONV_CHOICES_FIELD_MAX] = '\0';
                if (wsi_conv_choices_add(cc, key, value, &e) != WS_OK) _exit(3);
            }
            wsi_conv_choices_close(cc);
            _exit(0);
        }
        assert_true(pid[p] > 0);
    }
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        assert_int_equal(waitpid(pid[p], &status, 0), pid[p]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    wsi_conv_choices *cc;
    WS_TEST_OK(wsi_conv_choices_open(&cc, path, &err));
    assert_int_equal(wsi_conv_choices_ignored(cc), 0);
    assert_int_equal(wsi_conv_choices_count(cc), PROCS * EACH);
    char key[64];
    for (int p = 0; p < PROCS; p++) {
        snprintf(key, sizeof key, "proc%d-entry%d", p, EACH - 1);
        const char *v = wsi_conv_choices_find(cc, key);
        assert_non_null(v);
        assert_int_equal(strlen(v), WSI_CONV_CHOICES_FIELD_MAX);
        assert_int_equal(strspn(v, (char[]){(char)('a' + p), 0}), WSI_CONV_CHOICES_FIELD_MAX);
    }
    wsi_conv_choices_close(cc);
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_path, clean_env),
        cmocka_unit_test_setup(test_round_trip_and_last_wins, clean_env),
        cmocka_unit_test_setup(test_lines_that_are_not_entries, clean_env),
        cmocka_unit_test_setup(test_unwritable_and_unreadable, clean_env),
        cmocka_unit_test_setup(test_concurrent_appends, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
