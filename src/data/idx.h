/* data/idx.h - reading IDX files, the format of MNIST and Fashion-MNIST
 * (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"), plain or gzip-compressed.
 * defines: ws_idx (one array, caller-owned struct), ws_idx_read, ws_idx_free,
 *          WS_IDX_MAGIC_IMAGES, WS_IDX_MAGIC_LABELS. Implementation: data/idx.c.
 *
 * Layout: a 4-byte big-endian magic 0x0000TTDD (TT the element type, 0x08 for unsigned
 * byte; DD the number of dimensions), then DD big-endian uint32 sizes, then the elements
 * in row-major order. We read unsigned-byte arrays only (all that MNIST-style data uses). */
#ifndef WS_DATA_IDX_H
#define WS_DATA_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "wattscale/status.h"

#define WS_IDX_MAGIC_IMAGES 0x00000803u /* uint8, 3 dims: [count, rows, cols] */
#define WS_IDX_MAGIC_LABELS 0x00000801u /* uint8, 1 dim: [count] */
#define WS_IDX_MAX_DIMS 3

typedef struct {
    int ndims;
    uint32_t dims[WS_IDX_MAX_DIMS];
    uint8_t *data;     /* dims[0] * ... * dims[ndims-1] bytes, row-major; owned */
    size_t size_bytes; /* of data */
} ws_idx;

/* Reads the whole file at path into out. zlib's gzread reads gzip and plain files alike, so
 * the name's ".gz" does not matter. magic: the expected WS_IDX_MAGIC_*; the file must match
 * it exactly, every size must be >= 1, and the data must be exactly the header's
 * product of sizes: no more, no less.
 * Errors: WS_EIO (cannot open or read: path and strerror), WS_EFORMAT (wrong magic, a zero
 * size, truncated, trailing bytes, a corrupt gzip stream: path and what is wrong), WS_ENOMEM.
 * On error out is zeroed, with nothing to free. */
ws_status ws_idx_read(ws_idx *out, const char *path, uint32_t magic, ws_error *err);

void ws_idx_free(ws_idx *a); /* frees a->data, zeroes a; a zeroed ws_idx is a no-op */

#endif
