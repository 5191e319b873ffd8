/* core/fileutil.h - writing files so that a reader never sees half of one.
 * defines: ws_write_file_atomic (temp file in the same folder, fsync, rename),
 * ws_read_file (a whole file as NUL-terminated text), ws_make_dirs (mkdir -p). */
#ifndef WS_CORE_FILEUTIL_H
#define WS_CORE_FILEUTIL_H

#include <stddef.h>
#include "wattscale/status.h"

ws_status ws_write_file_atomic(const char *path, const void *data, size_t size, ws_error *err);
/* Reads all of path into *out (malloc'd, NUL-terminated; the caller frees); *size_out
 * (may be NULL) gets the byte count. WS_EIO names the path and errno's words. */
ws_status ws_read_file(const char *path, char **out, size_t *size_out, ws_error *err);
/* Creates path and its missing parents (mode 0777 & ~umask); an existing folder is fine. */
ws_status ws_make_dirs(const char *path, ws_error *err);

#endif
