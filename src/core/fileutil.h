/* core/fileutil.h - writing files so that a reader never sees half of one.
 * defines: ws_write_file_atomic (temp file in the same folder, fsync, rename). */
#ifndef WS_CORE_FILEUTIL_H
#define WS_CORE_FILEUTIL_H

#include <stddef.h>
#include "wattscale/status.h"

ws_status ws_write_file_atomic(const char *path, const void *data, size_t size, ws_error *err);

#endif
