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

ws_status ws_read_file(const char *path, char **out, size_t *size_out, ws_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return wsi_error(err, WS_EIO, "open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        char *more = realloc(buf, cap * 2);
        if (!more) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = more;
        cap *= 2;
    }
    int failed = ferror(f);
    int e = errno;
    fclose(f);
    if (!buf) return wsi_error(err, WS_ENOMEM, "read %s: out of memory", path);
    if (failed) {
        free(buf);
        return wsi_error(err, WS_EIO, "read %s: %s", path, strerror(e));
    }
    buf[n] = 0;
    *out = buf;
    if (size_out) *size_out = n;
    return WS_OK;
}

ws_status ws_make_dirs(const char *path, ws_error *err) {
    if (!path[0]) return wsi_error(err, WS_EINVAL, "mkdir: empty path");
    char *buf = strdup(path);
    if (!buf) return wsi_error(err, WS_ENOMEM, "mkdir %s: out of memory", path);
    ws_status st = WS_OK;
    /* each prefix ending before a '/', then the whole path */
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != 0) continue;
        *p = 0;
        struct stat sb;
        if (mkdir(buf, 0777) != 0 && !(errno == EEXIST && stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode))) {
            st = wsi_error(err, WS_EIO, "mkdir %s: %s", buf, errno == EEXIST ? "exists and is not a folder" : strerror(errno));
            break;
        }
        *p = c;
        if (!c) break;
    }
    free(buf);
    return st;
}
