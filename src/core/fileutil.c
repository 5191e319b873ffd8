/* core/fileutil.c - ws_write_file_atomic; contract in core/fileutil.h. A crash at any
 * moment leaves either the old file or the new one, never a mix: completed results are
 * never lost to a torn write. */
#include "core/fileutil.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ws_status ws_write_file_atomic(const char *path, const void *data, size_t size, ws_error *err) {
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return wsi_error(err, WS_ENOMEM, "write %s: out of memory", path);
    snprintf(tmp, n, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return wsi_error(err, WS_EIO, "write %s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return wsi_error(err, WS_EIO, "write %s: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    /* mkstemp makes 0600; results are meant to be shared like any file the user writes */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return wsi_error(err, WS_EIO, "write %s: %s", path, strerror(e));
    }
    free(tmp);
    return WS_OK;
}
