/* tests/ws_test.c - helpers of tests/ws_test.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ws_test.h"

#include <ftw.h>
#include <unistd.h>

const char *ws_test_tmpdir(const char *stem) {
    static char slots[4][512];
    static int next;
    char *buf = slots[next++ % 4];
    const char *base = getenv("TMPDIR");
    snprintf(buf, 512, "%s/ws-%s-XXXXXX", base && *base ? base : "/tmp", stem);
    if (!mkdtemp(buf)) fail_msg("mkdtemp %s failed", buf);
    return buf;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void ws_test_rmtree(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

void ws_test_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) fail_msg("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}
