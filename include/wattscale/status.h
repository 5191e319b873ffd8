/* wattscale/status.h - the one status convention of libwattscale.
 * defines: ws_status codes, ws_error (a caller-owned one-line message), ws_status_name,
 * ws_status_message. Every call the environment can break returns a ws_status and, when
 * given a non-NULL ws_error, fills one line: the call, the object, the library's own words
 * and, where we know it, the fix. Nothing in the library exits; only the CLI sets exit codes. */
#ifndef WATTSCALE_STATUS_H
#define WATTSCALE_STATUS_H

#include <stddef.h>

#if defined(_WIN32)
#define WS_API __declspec(dllexport)
#else
#define WS_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    WS_OK = 0,
    WS_EINVAL = -1,     /* a bad argument, flag or config value */
    WS_ENOMEM = -2,     /* an allocation failed */
    WS_EIO = -3,        /* a file could not be read or written */
    WS_ENOSENSOR = -4,  /* a sensor (driver, sysfs tree, PMU) is absent */
    WS_EPERM = -5,      /* a sensor exists but may not be read by this user */
    WS_ESENSOR = -6,    /* a sensor answered with an error */
    WS_ENOTSUP = -7,    /* the operation is not supported here */
    WS_ESTATE = -8,     /* called in the wrong state (stop before start, ...) */
    WS_ECHILD = -9,     /* a child process could not be started */
    WS_EFORMAT = -10,   /* a data file or record is malformed */
    WS_ELIBRARY = -11   /* a library call failed (CUDA, cuDNN, NCCL, MPI, SQLite, ...) */
} ws_status;

/* One line, caller-owned, never allocated. `code` repeats the returned status. */
typedef struct {
    ws_status code;
    char msg[512];
} ws_error;

WS_API const char *ws_status_name(ws_status s);    /* "WS_EPERM"; cannot fail */
WS_API const char *ws_status_message(ws_status s); /* "permission denied"; cannot fail */

#ifdef __cplusplus
}
#endif
#endif
