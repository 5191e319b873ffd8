/* core/log.c - ws_log; contract in core/log.h. One fprintf per line so that lines of
 * several threads (or ranks sharing a terminal) do not interleave mid-line. */
#include "core/log.h"
#include "core/timeutil.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Atomic: the meter's, the loader's and the training threads log concurrently, and the
 * first of them reads the environment (every thread computes the same value). */
static _Atomic int log_level = -1; /* -1: not yet read from the environment */
static _Atomic int log_rank = -1;

static int level_from_env(void) {
    const char *e = getenv("WATTSCALE_LOG");
    if (!e) return WS_LOG_INFO;
    if (!strcmp(e, "error")) return WS_LOG_ERROR;
    if (!strcmp(e, "warn")) return WS_LOG_WARN;
    if (!strcmp(e, "debug")) return WS_LOG_DEBUG;
    return WS_LOG_INFO;
}

void ws_log_set_level(ws_log_level level) { log_level = (int)level; }
ws_log_level ws_log_get_level(void) {
    int level = atomic_load(&log_level);
    if (level < 0) {
        level = level_from_env();
        int unset = -1; /* a concurrent ws_log_set_level wins */
        if (!atomic_compare_exchange_strong(&log_level, &unset, level)) level = atomic_load(&log_level);
    }
    return (ws_log_level)level;
}
void ws_log_set_rank(int rank) { log_rank = rank; }

void ws_log(ws_log_level level, const char *fmt, ...) {
    if ((int)level > (int)ws_log_get_level()) return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    double t = ws_process_elapsed_s();
    int rank = atomic_load(&log_rank);
    if (rank >= 0)
        fprintf(stderr, "[r%d %.1fs] %s: %s\n", rank, t, names[level], msg);
    else
        fprintf(stderr, "[%.1fs] %s: %s\n", t, names[level], msg);
}
