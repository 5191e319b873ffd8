/* core/tensorfile.h - the wattscale tensor file (.wstf): named arrays in one file, used for
 * checkpoints and for the PyTorch reference fixtures (tools/fixtures/wstf.py reads and
 * writes the same format).
 * defines: ws_tensorfile (entries in memory), ws_tensorfile_add, ws_tensorfile_write
 * (atomic), ws_tensorfile_read, ws_tensorfile_find.
 * Format, little-endian: "WSTF" u32 version(1) u32 count, then per entry: u16 name length,
 * name bytes, u8 dtype (0 f32, 1 i32, 2 u8, 3 f64), u8 ndims, u64 dims[ndims], data. */
#ifndef WS_CORE_TENSORFILE_H
#define WS_CORE_TENSORFILE_H

#include <stddef.h>
#include <stdint.h>
#include "wattscale/status.h"

typedef enum { WS_TF_F32 = 0, WS_TF_I32 = 1, WS_TF_U8 = 2, WS_TF_F64 = 3 } ws_tf_dtype;

typedef struct {
    char *name;
    ws_tf_dtype dtype;
    int ndims;
    uint64_t dims[4];
    size_t count;      /* elements */
    void *data;        /* owned by the file object */
} ws_tf_entry;

typedef struct {
    ws_tf_entry *entries;
    size_t n, cap;
} ws_tensorfile;

void ws_tensorfile_init(ws_tensorfile *f);
void ws_tensorfile_free(ws_tensorfile *f);
/* Copies data in. dims may be NULL for a 1-D array of count elements. */
ws_status ws_tensorfile_add(ws_tensorfile *f, const char *name, ws_tf_dtype dtype, int ndims, const uint64_t *dims,
                            const void *data, size_t count, ws_error *err);
ws_status ws_tensorfile_write(const ws_tensorfile *f, const char *path, ws_error *err);
ws_status ws_tensorfile_read(ws_tensorfile *f, const char *path, ws_error *err);
const ws_tf_entry *ws_tensorfile_find(const ws_tensorfile *f, const char *name);

#endif
