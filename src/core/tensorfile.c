/* core/tensorfile.c - reading and writing .wstf files; format and contract in
 * core/tensorfile.h. Reads check every length against the file size, so a truncated or
 * foreign file is a WS_EFORMAT naming the file, never a crash. */
#include "core/tensorfile.h"
#include "core/error.h"
#include "core/fileutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t dtype_size(ws_tf_dtype t) { return t == WS_TF_U8 ? 1 : t == WS_TF_F64 ? 8 : 4; }

void ws_tensorfile_init(ws_tensorfile *f) { memset(f, 0, sizeof *f); }

void ws_tensorfile_free(ws_tensorfile *f) {
    for (size_t i = 0; i < f->n; i++) {
        free(f->entries[i].name);
        free(f->entries[i].data);
    }
    free(f->entries);
    memset(f, 0, sizeof *f);
}

ws_status ws_tensorfile_add(ws_tensorfile *f, const char *name, ws_tf_dtype dtype, int ndims, const uint64_t *dims,
                            const void *data, size_t count, ws_error *err) {
    if (ndims < 1 || ndims > 4 || strlen(name) > 65535)
        return wsi_error(err, WS_EINVAL, "tensor file: bad entry '%s'", name);
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        ws_tf_entry *e = realloc(f->entries, cap * sizeof *e);
        if (!e) return wsi_error(err, WS_ENOMEM, "tensor file: out of memory");
        f->entries = e;
        f->cap = cap;
    }
    ws_tf_entry *e = &f->entries[f->n];
    memset(e, 0, sizeof *e);
    e->dtype = dtype;
    e->ndims = ndims;
    size_t c = 1;
    for (int i = 0; i < ndims; i++) {
        e->dims[i] = dims ? dims[i] : count;
        c *= (size_t)e->dims[i];
    }
    if (c != count) return wsi_error(err, WS_EINVAL, "tensor file: '%s' dims give %zu elements, not %zu", name, c, count);
    e->count = count;
    e->name = strdup(name);
    e->data = malloc(count * dtype_size(dtype) + 1);
    if (!e->name || !e->data) {
        free(e->name);
        free(e->data);
        return wsi_error(err, WS_ENOMEM, "tensor file: out of memory for '%s'", name);
    }
    memcpy(e->data, data, count * dtype_size(dtype));
    f->n++;
    return WS_OK;
}

ws_status ws_tensorfile_write(const ws_tensorfile *f, const char *path, ws_error *err) {
    size_t size = 12;
    for (size_t i = 0; i < f->n; i++)
        size += 2 + strlen(f->entries[i].name) + 2 + 8 * (size_t)f->entries[i].ndims +
                f->entries[i].count * dtype_size(f->entries[i].dtype);
    unsigned char *buf = malloc(size), *p = buf;
    if (!buf) return wsi_error(err, WS_ENOMEM, "write %s: out of memory (%zu bytes)", path, size);
    uint32_t version = 1, count = (uint32_t)f->n;
    memcpy(p, "WSTF", 4);
    memcpy(p + 4, &version, 4);
    memcpy(p + 8, &count, 4);
    p += 12;
    for (size_t i = 0; i < f->n; i++) {
        const ws_tf_entry *e = &f->entries[i];
        uint16_t len = (uint16_t)strlen(e->name);
        memcpy(p, &len, 2);
        memcpy(p + 2, e->name, len);
        p += 2 + len;
        *p++ = (unsigned char)e->dtype;
        *p++ = (unsigned char)e->ndims;
        memcpy(p, e->dims, 8 * (size_t)e->ndims);
        p += 8 * (size_t)e->ndims;
        memcpy(p, e->data, e->count * dtype_size(e->dtype));
        p += e->count * dtype_size(e->dtype);
    }
    ws_status st = ws_write_file_atomic(path, buf, size, err);
    free(buf);
    return st;
}

ws_status ws_tensorfile_read(ws_tensorfile *f, const char *path, ws_error *err) {
    ws_tensorfile_init(f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return wsi_error(err, WS_EIO, "open %s: %s", path, strerror(errno));
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = size > 0 ? malloc((size_t)size) : NULL;
    if (!buf || fread(buf, 1, (size_t)size, fp) != (size_t)size) {
        fclose(fp);
        free(buf);
        return wsi_error(err, WS_EIO, "read %s: %s", path, buf ? "short read" : "empty or out of memory");
    }
    fclose(fp);
    const unsigned char *p = buf, *end = buf + size;
    ws_status st = WS_OK;
    uint32_t version = 0, count = 0;
    if (size < 12 || memcmp(p, "WSTF", 4) != 0) {
        st = wsi_error(err, WS_EFORMAT, "%s: not a wattscale tensor file (no WSTF magic)", path);
        goto out;
    }
    memcpy(&version, p + 4, 4);
    memcpy(&count, p + 8, 4);
    p += 12;
    if (version != 1) {
        st = wsi_error(err, WS_EFORMAT, "%s: tensor file version %u, this build reads 1", path, version);
        goto out;
    }
    for (uint32_t i = 0; i < count && st == WS_OK; i++) {
        uint16_t len;
        if (end - p < 2) goto truncated;
        memcpy(&len, p, 2);
        p += 2;
        if (end - p < len + 2) goto truncated;
        char name[65536];
        memcpy(name, p, len);
        name[len] = 0;
        p += len;
        int dtype = *p++, ndims = *p++;
        if (dtype > 3 || ndims < 1 || ndims > 4) {
            st = wsi_error(err, WS_EFORMAT, "%s: entry '%s' has a bad dtype or rank", path, name);
            break;
        }
        uint64_t dims[4];
        if (end - p < 8 * ndims) goto truncated;
        memcpy(dims, p, 8 * (size_t)ndims);
        p += 8 * ndims;
        size_t n = 1;
        for (int d = 0; d < ndims; d++) n *= (size_t)dims[d];
        size_t bytes = n * dtype_size((ws_tf_dtype)dtype);
        if ((size_t)(end - p) < bytes) goto truncated;
        st = ws_tensorfile_add(f, name, (ws_tf_dtype)dtype, ndims, dims, p, n, err);
        p += bytes;
    }
    goto out;
truncated:
    st = wsi_error(err, WS_EFORMAT, "%s: truncated tensor file", path);
out:
    free(buf);
    if (st != WS_OK) ws_tensorfile_free(f);
    return st;
}

const ws_tf_entry *ws_tensorfile_find(const ws_tensorfile *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->entries[i].name, name)) return &f->entries[i];
    return NULL;
}
