/* data/h5util.h - what every HDF5 call in wattscale goes through: one process-wide lock
 * and HDF5's own error text for our error lines. Implementation: data/h5util.c; used by
 * data/fields_h5.c (reader) and data/fields_write.c (writer). Include <hdf5.h> before it.
 * defines: wsi_h5_lock, wsi_h5_unlock, wsi_h5_message.
 *
 * Why a global lock: an HDF5 library built without --enable-threadsafe must never be
 * entered by two threads at once, whatever files they use (its caches, id tables and
 * error stack are global), and one built with it serialises every call anyway. A single
 * mutex of ours is therefore both necessary for the first and free for the second. A
 * thread's first wsi_h5_lock also turns off HDF5's automatic printing of its error stack
 * (per thread in thread-safe builds); we put its innermost message into ws_error instead. */
#ifndef WS_DATA_H5UTIL_H
#define WS_DATA_H5UTIL_H

#include <stddef.h>

void wsi_h5_lock(void);
void wsi_h5_unlock(void);
/* The most specific message on HDF5's current error stack ("unable to open file", ...),
 * or "no HDF5 message"; call with the lock held, right after the failing call. */
const char *wsi_h5_message(char *buf, size_t size);

#endif
