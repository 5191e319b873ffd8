/* data/idx.c - ws_idx_read and ws_idx_free; contract and format in data/idx.h.
 * One reader for plain and gzip files: gzopen/gzread pass plain files through unchanged
 * ("transparent" mode), so the caller never says which it has. */
#include "data/idx.h"
#include "core/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Data is read into a buffer that doubles from this size up to the header's promise, so a
 * corrupt or hostile header claiming gigabytes costs at most twice the real data, not a
 * giant malloc up front. 64 MiB covers the Fashion-MNIST training images in one go. */
#define FIRST_CHUNK_BYTES ((size_t)64 << 20)

/* gzread takes an unsigned int length: read in pieces well below that */
#define MAX_READ_BYTES ((size_t)1 << 30)

/* zlib's message without the "path: " prefix it puts in front of it */
static const char *zlib_msg(gzFile gz, const char *path, int *errnum) {
    const char *m = gzerror(gz, errnum);
    size_t n = strlen(path);
    if (m && strncmp(m, path, n) == 0 && m[n] == ':' && m[n + 1] == ' ') m += n + 2;
    return m ? m : "";
}

/* Reads up to want bytes; *got < want means end of input (or an error; the caller asks
 * zlib which). A hard read error (Z_ERRNO, EIO) or corrupt deflate data (Z_DATA_ERROR)
 * is reported here. */
static ws_status read_upto(gzFile gz, const char *path, uint8_t *buf, size_t want, size_t *got, ws_error *err) {
    *got = 0;
    while (*got < want) {
        size_t left = want - *got;
        int n = gzread(gz, buf + *got, (unsigned)(left < MAX_READ_BYTES ? left : MAX_READ_BYTES));
        if (n < 0) {
            int errnum;
            const char *m = zlib_msg(gz, path, &errnum);
            if (errnum == Z_ERRNO)
                return wsi_error(err, WS_EIO, "read IDX file %s: %s", path, m);
            return wsi_error(err, WS_EFORMAT, "read IDX file %s: corrupt gzip data (zlib: %s)", path, m);
        }
        if (n == 0) break;
        *got += (size_t)n;
    }
    return WS_OK;
}

/* After a short read: a truncated gzip stream leaves Z_BUF_ERROR ("unexpected end of
 * file"), a short plain file leaves nothing; both are the same fault for the caller. */
static ws_status truncated(gzFile gz, const char *path, const char *what, size_t want, size_t got,
                           ws_error *err) {
    int errnum;
    const char *m = zlib_msg(gz, path, &errnum);
    return wsi_error(err, WS_EFORMAT, "IDX file %s is truncated: the %s needs %zu bytes, the file ends after %zu%s%s%s",
                     path, what, want, got, errnum != Z_OK ? " (zlib: " : "", errnum != Z_OK ? m : "",
                     errnum != Z_OK ? ")" : "");
}

static const char *magic_name(uint32_t magic) {
    if (magic == WS_IDX_MAGIC_IMAGES) return "images: uint8, 3 dims";
    if (magic == WS_IDX_MAGIC_LABELS) return "labels: uint8, 1 dim";
    return "uint8 array";
}

static ws_status read_open(ws_idx *out, gzFile gz, const char *path, uint32_t magic, ws_error *err) {
    int ndims = (int)(magic & 0xffu);
    if (((magic >> 8) & 0xffu) != 0x08u || (magic >> 16) != 0 || ndims < 1 || ndims > WS_IDX_MAX_DIMS)
        return wsi_error(err, WS_EINVAL, "ws_idx_read(%s): expected magic 0x%08x is not a uint8 array of 1 to %d dims",
                         path, magic, WS_IDX_MAX_DIMS);

    uint8_t head[4 + 4 * WS_IDX_MAX_DIMS];
    size_t head_bytes = 4 + 4 * (size_t)ndims, got;
    ws_status st = read_upto(gz, path, head, 4, &got, err);
    if (st != WS_OK) return st;
    if (got < 4) return truncated(gz, path, "magic number", 4, got, err);
    uint32_t file_magic = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
    if (file_magic != magic)
        return wsi_error(err, WS_EFORMAT, "IDX file %s: magic 0x%08x, expected 0x%08x (%s); "
                         "is it the other file of the pair (images for labels or the reverse), or not an IDX file?",
                         path, file_magic, magic, magic_name(magic));
    st = read_upto(gz, path, head + 4, head_bytes - 4, &got, err);
    if (st != WS_OK) return st;
    if (got < head_bytes - 4) return truncated(gz, path, "header", head_bytes, 4 + got, err);

    size_t size = 1;
    out->ndims = ndims;
    for (int i = 0; i < ndims; i++) {
        const uint8_t *p = head + 4 + 4 * i;
        uint32_t dim = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (dim == 0) return wsi_error(err, WS_EFORMAT, "IDX file %s: size of dimension %d is 0", path, i);
        if (size > SIZE_MAX / dim)
            return wsi_error(err, WS_EFORMAT, "IDX file %s: sizes overflow (dimension %d is %u)", path, i, dim);
        size *= dim;
        out->dims[i] = dim;
    }

    size_t cap = size < FIRST_CHUNK_BYTES ? size : FIRST_CHUNK_BYTES, have = 0;
    uint8_t *data = malloc(cap);
    if (!data) return wsi_error(err, WS_ENOMEM, "IDX file %s: out of memory for %zu bytes", path, cap);
    for (;;) {
        st = read_upto(gz, path, data + have, cap - have, &got, err);
        have += got;
        if (st != WS_OK || have < cap || cap == size) break;
        size_t next = cap > size / 2 ? size : cap * 2;
        uint8_t *bigger = realloc(data, next);
        if (!bigger) {
            free(data);
            return wsi_error(err, WS_ENOMEM, "IDX file %s: out of memory for %zu bytes", path, next);
        }
        data = bigger;
        cap = next;
    }
    if (st == WS_OK && have < size)
        st = truncated(gz, path, "header and data", head_bytes + size, head_bytes + have, err);
    if (st == WS_OK) {
        /* one more byte: trailing data means the header's sizes do not describe this file */
        uint8_t extra;
        st = read_upto(gz, path, &extra, 1, &got, err);
        int errnum;
        const char *m = zlib_msg(gz, path, &errnum);
        if (st == WS_OK && got > 0)
            st = wsi_error(err, WS_EFORMAT, "IDX file %s: bytes follow the %zu the header promises "
                           "(wrong sizes in the header, or two files concatenated?)", path, head_bytes + size);
        else if (st == WS_OK && errnum != Z_OK)
            st = wsi_error(err, WS_EFORMAT, "IDX file %s: the data is whole but the gzip stream is cut short "
                           "(zlib: %s)", path, m);
    }
    if (st != WS_OK) {
        free(data);
        return st;
    }
    out->data = data;
    out->size_bytes = size;
    return WS_OK;
}

ws_status ws_idx_read(ws_idx *out, const char *path, uint32_t magic, ws_error *err) {
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return wsi_error(err, WS_EIO, "open IDX file %s: %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(gz, 1u << 20); /* default 8 KiB: a 26 MB gzip would take thousands of read calls */
    ws_status st = read_open(out, gz, path, magic, err);
    gzclose(gz);
    if (st != WS_OK) memset(out, 0, sizeof *out);
    return st;
}

void ws_idx_free(ws_idx *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}
