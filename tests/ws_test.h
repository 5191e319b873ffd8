/* tests/ws_test.h - what every wattscale test includes: cmocka, plus checks that print
 * both values and refuse NaN.
 * defines: WS_TEST_OK (a ws_status call succeeds, else prints the error line),
 * WS_TEST_NEAR (|got-want| <= atol + rtol*|want|, NaN fails), ws_test_tmpdir, and the
 * fixtures that keep a case's environment its own (ws_test_env_save, ws_test_env_restore). */
#ifndef WS_TEST_H
#define WS_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wattscale/status.h"

/* `call` returns ws_status and takes `&err` somewhere in its arguments. */
#define WS_TEST_OK(call)                                                                    \
    do {                                                                                    \
        ws_status ws_test_st_ = (call);                                                     \
        if (ws_test_st_ != WS_OK)                                                           \
            fail_msg("%s returned %s: %s", #call, ws_status_name(ws_test_st_), err.msg);  \
    } while (0)

#define WS_TEST_NEAR(got, want, rtol, atol)                                                 \
    do {                                                                                    \
        double g_ = (double)(got), w_ = (double)(want);                                     \
        if (!(fabs(g_ - w_) <= (atol) + (rtol) * fabs(w_)))                                 \
            fail_msg("%s = %.9g, want %s = %.9g (rtol %g, atol %g)", #got, g_, #want, w_,  \
                     (double)(rtol), (double)(atol));                                       \
    } while (0)

/* A fresh directory under $TMPDIR (or /tmp), created with mkdtemp; the caller removes it
 * with ws_test_rmtree. Returns a static buffer per call slot (4 slots). */
const char *ws_test_tmpdir(const char *stem);
void ws_test_rmtree(const char *path);
void ws_test_write_file(const char *path, const char *text);

/* A case that sets WATTSCALE_* variables gives ws_test_env_restore as its cmocka teardown
 * (cmocka_unit_test_teardown), its group ws_test_env_save as the group setup. A failed check
 * jumps out of the case past its own unsetenv; the teardown still runs and puts every
 * WATTSCALE_* variable back as the program found it (as ctest set them), so the failure
 * stays in its case instead of cascading into the next ones. Both return 0, or -1 (saying
 * why) when they cannot. */
int ws_test_env_save(void **state);
int ws_test_env_restore(void **state);

/* Runs bin with args (NULL-terminated, without argv[0]); sends `sig` after `sig_after_s`
 * when sig != 0; collects stderr into err (truncated to size). Returns the exit code, or
 * 128+N when signal N ended it. */
int ws_test_run(const char *bin, const char *const *args, int sig, double sig_after_s, char *err, size_t size);
/* Reads a whole JSON file with cJSON; fails the test if it is not JSON. The caller frees
 * with cJSON_Delete (declared as void * so that tests without cJSON need not include it). */
void *ws_test_read_json(const char *path);

#endif
