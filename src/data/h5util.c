/* data/h5util.c - the HDF5 lock and error text; why a global lock: data/h5util.h. */
#include <hdf5.h>

#include "data/h5util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;
/* thread-safe HDF5 builds keep one error stack, and its printing switch, per thread */
static _Thread_local int h5_quiet;

void wsi_h5_lock(void) {
    pthread_mutex_lock(&h5_mutex);
    if (!h5_quiet) { /* under the lock: H5Eset_auto2 is an HDF5 call too */
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        h5_quiet = 1;
    }
}

void wsi_h5_unlock(void) { pthread_mutex_unlock(&h5_mutex); }

typedef struct {
    char *buf;
    size_t size;
} walk_ctx;

/* Walking downward visits the API call first and the innermost cause last: keep the last. */
static herr_t keep_message(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    walk_ctx *c = data;
    if (e->desc && e->desc[0]) snprintf(c->buf, c->size, "%s", e->desc);
    return 0;
}

const char *wsi_h5_message(char *buf, size_t size) {
    snprintf(buf, size, "no HDF5 message");
    walk_ctx c = {buf, size};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_message, &c);
    return buf;
}
