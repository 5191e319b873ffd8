/* core/error.c - wsi_error and the fatal path; contract in core/error.h. */
#include "core/error.h"
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

ws_status wsi_error(ws_error *err, ws_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

static ws_fatal_hook fatal_hook;

void ws_set_fatal_hook(ws_fatal_hook hook) { fatal_hook = hook; }

void wsi_fatal(const char *file, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ws_log(WS_LOG_ERROR, "fatal: %s:%d: %s", file, line, msg);
    fflush(NULL);
    if (fatal_hook) fatal_hook(); /* e.g. MPI_Abort: the other ranks must not hang */
    abort();
}
