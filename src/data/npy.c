/* data/npy.c - .npy reading and writing; contract in data/npy.h. The header is a Python
 * dict literal such as {'descr': '<f8', 'fortran_order': False, 'shape': (1, 6, 1, 1), }
 * padded with spaces and a newline so that the data starts at a multiple of 64 bytes
 * (NumPy's own alignment). */
#include "data/npy.h"
#include "core/error.h"
#include "core/fileutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MAGIC[6] = {(char)0x93, 'N', 'U', 'M', 'P', 'Y'};

ws_status ws_npy_write(const char *path, int f64, int ndims, const uint64_t *dims, const void *data, ws_error *err) {
    if (ndims < 1 || ndims > WS_NPY_MAX_DIMS)
        return wsi_error(err, WS_EINVAL, "ws_npy_write(%s): %d dimensions, want 1..%d", path, ndims, WS_NPY_MAX_DIMS);
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", f64 ? "<f8" : "<f4");
    uint64_t count = 1;
    for (int d = 0; d < ndims; d++) {
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%" PRIu64 ",%s", dims[d], d + 1 < ndims ? " " : "");
        count *= dims[d];
    }
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    size_t header = 10 + (size_t)len + 1; /* magic, version, u16 length, dict, '\n' */
    size_t padded = (header + 63) / 64 * 64;
    size_t elem = f64 ? 8 : 4, bytes = padded + (size_t)count * elem;
    unsigned char *buf = malloc(bytes);
    if (!buf) return wsi_error(err, WS_ENOMEM, "ws_npy_write(%s): out of memory for %zu bytes", path, bytes);
    memcpy(buf, MAGIC, 6);
    buf[6] = 1; /* version 1.0 */
    buf[7] = 0;
    size_t hlen = padded - 10;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)len);
    memset(buf + 10 + len, ' ', padded - 10 - (size_t)len - 1);
    buf[padded - 1] = '\n';
    memcpy(buf + padded, data, (size_t)count * elem); /* x86-64 and aarch64 are little-endian */
    ws_status st = ws_write_file_atomic(path, buf, bytes, err);
    free(buf);
    return st;
}

/* Finds 'key': in the dict and returns what follows (spaces skipped), or NULL. */
static const char *dict_value(const char *dict, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(dict, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    return p;
}

static ws_status parse_header(const char *path, const char *dict, int *f64, int *ndims, uint64_t *dims,
                              ws_error *err) {
    const char *d = dict_value(dict, "descr"), *fo = dict_value(dict, "fortran_order"), *sh = dict_value(dict, "shape");
    if (!d || !fo || !sh)
        return wsi_error(err, WS_EFORMAT, "%s: the .npy header lacks descr, fortran_order or shape: %.120s", path, dict);
    if (!strncmp(d, "'<f8'", 5)) *f64 = 1;
    else if (!strncmp(d, "'<f4'", 5)) *f64 = 0;
    else
        return wsi_error(err, WS_EFORMAT, "%s: dtype %.8s is not little-endian float32/float64; save it with "
                         "arr.astype('<f4')", path, d);
    if (strncmp(fo, "False", 5))
        return wsi_error(err, WS_EFORMAT, "%s: Fortran-ordered array; save it with np.ascontiguousarray", path);
    if (*sh != '(') return wsi_error(err, WS_EFORMAT, "%s: shape is not a tuple: %.40s", path, sh);
    const char *p = sh + 1;
    *ndims = 0;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p) return wsi_error(err, WS_EFORMAT, "%s: cannot read the shape %.40s", path, sh);
        if (*ndims == WS_NPY_MAX_DIMS)
            return wsi_error(err, WS_EFORMAT, "%s: more than %d dimensions", path, WS_NPY_MAX_DIMS);
        dims[(*ndims)++] = v;
        p = end;
    }
    if (*p != ')') return wsi_error(err, WS_EFORMAT, "%s: unterminated shape %.40s", path, sh);
    return WS_OK;
}

ws_status ws_npy_read(const char *path, double **data, int *ndims, uint64_t dims[WS_NPY_MAX_DIMS], ws_error *err) {
    *data = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return wsi_error(err, WS_EIO, "open %s: %s", path, strerror(errno));
    unsigned char pre[10];
    ws_status st = WS_OK;
    char *dict = NULL;
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, MAGIC, 6)) {
        st = wsi_error(err, WS_EFORMAT, "%s is not a .npy file (no \\x93NUMPY magic)", path);
        goto out;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) { /* version 2/3: a 4-byte length */
        unsigned char more[2];
        if (fread(more, 1, 2, fp) != 2) {
            st = wsi_error(err, WS_EIO, "%s: truncated .npy header", path);
            goto out;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)more[0] << 16 | (size_t)more[1] << 24;
    } else {
        st = wsi_error(err, WS_EFORMAT, "%s: .npy version %d.%d is not supported", path, pre[6], pre[7]);
        goto out;
    }
    if (hlen > 1u << 20) {
        st = wsi_error(err, WS_EFORMAT, "%s: implausible .npy header of %zu bytes", path, hlen);
        goto out;
    }
    dict = malloc(hlen + 1);
    if (!dict) {
        st = wsi_error(err, WS_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if (fread(dict, 1, hlen, fp) != hlen) {
        st = wsi_error(err, WS_EIO, "%s: truncated .npy header", path);
        goto out;
    }
    dict[hlen] = '\0';
    int f64 = 0;
    if ((st = parse_header(path, dict, &f64, ndims, dims, err)) != WS_OK) goto out;
    uint64_t count = 1;
    for (int d = 0; d < *ndims; d++) count *= dims[d];
    if (count > ((uint64_t)1 << 34)) {
        st = wsi_error(err, WS_EFORMAT, "%s: %" PRIu64 " elements is implausibly many", path, count);
        goto out;
    }
    size_t elem = f64 ? 8 : 4;
    double *out = malloc((size_t)(count ? count : 1) * sizeof *out);
    void *raw = f64 ? (void *)out : malloc((size_t)(count ? count : 1) * elem);
    if (!out || !raw) {
        free(out);
        if (raw != out) free(raw);
        st = wsi_error(err, WS_ENOMEM, "%s: out of memory for %" PRIu64 " elements", path, count);
        goto out;
    }
    if (fread(raw, elem, (size_t)count, fp) != (size_t)count) {
        free(out);
        if (raw != out) free(raw);
        st = wsi_error(err, WS_EIO, "%s: truncated: fewer than the %" PRIu64 " elements its header announces", path,
                       count);
        goto out;
    }
    if (!f64) {
        const float *fl = raw;
        for (uint64_t k = 0; k < count; k++) out[k] = fl[k];
        free(raw);
    }
    *data = out;
out:
    free(dict);
    fclose(fp);
    return st;
}
