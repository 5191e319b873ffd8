/* core/error.h - filling a ws_error, and the fatal path.
 * defines: wsi_error (fill and return a status), ws_fatal (print, then end the process),
 * WS_ASSERT. Implementation: core/error.c; codes and names: core/status.c. */
#ifndef WS_CORE_ERROR_H
#define WS_CORE_ERROR_H

#include "wattscale/status.h"

/* Fills err (if non-NULL) with the formatted line and returns code, so a fallible call
 * ends with `return wsi_error(err, WS_EIO, "open %s: %s", path, strerror(errno));`. */
ws_status wsi_error(ws_error *err, ws_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For failures a run cannot survive (a sticky CUDA error, a broken invariant): prints
 * file:line and the message to stderr with the rank, then aborts. Upper layers install a
 * hook (MPI_Abort) so that no other rank waits forever. */
typedef void (*ws_fatal_hook)(void);
void ws_set_fatal_hook(ws_fatal_hook hook);
void wsi_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define ws_fatal(...) wsi_fatal(__FILE__, __LINE__, __VA_ARGS__)
#define WS_ASSERT(cond) ((cond) ? (void)0 : wsi_fatal(__FILE__, __LINE__, "assertion failed: %s", #cond))

#endif
