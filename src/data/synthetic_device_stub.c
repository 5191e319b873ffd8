/* data/synthetic_device_stub.c - data/synthetic_device.h in builds without CUDA: there is
 * no GPU to generate on. defines: ws_synthetic_fill_device (WS_ENOTSUP). */
#include "data/synthetic_device.h"

ws_status ws_synthetic_fill_device(const ws_exec *ex, void *x, const int64_t *indices, const int32_t *labels, int n,
                                   int c, int h, int w, uint64_t seed, int split, float signal) {
    (void)ex, (void)x, (void)indices, (void)labels, (void)n, (void)c, (void)h, (void)w, (void)seed, (void)split,
        (void)signal;
    return WS_ENOTSUP;
}
