/* energy/gpu_uuid.c - one spelling of GPU UUIDs, so that the CUDA runtime's UUID of a rank's
 * device, a user's list and NVML's nvmlDeviceGetUUID compare equal.
 * defines: ws_gpu_uuid_normalize (contract in include/wattscale/energy.h).
 * NVML writes "GPU-" and 32 lower-case hex digits grouped 8-4-4-4-12 (MIG instances:
 * "MIG-..."); users paste them upper-cased, without the prefix or with a newline. UUIDs,
 * not indices, because CUDA_VISIBLE_DEVICES renumbers CUDA's devices but not NVML's. */
#include "wattscale/energy.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

int ws_gpu_uuid_normalize(char *out, size_t size, const char *in) {
    if (!out || size == 0) return -1;
    out[0] = '\0';
    if (!in) return -1;
    while (isspace((unsigned char)*in)) in++;
    size_t n = strlen(in);
    while (n > 0 && isspace((unsigned char)in[n - 1])) n--;
    const char *prefix = "GPU-";
    int mig = 0;
    if (n >= 4 && !strncasecmp(in, "GPU-", 4)) {
        in += 4, n -= 4;
    } else if (n >= 4 && !strncasecmp(in, "MIG-", 4)) {
        prefix = "MIG-", mig = 1; /* MIG's older form holds "GPU-.../gi/ci": any printable */
        in += 4, n -= 4;
    }
    if (n == 0 || 4 + n + 1 > size) return -1;
    memcpy(out, prefix, 4);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (mig ? !isgraph(c) : !(isxdigit(c) || c == '-')) {
            out[0] = '\0';
            return -1;
        }
        out[4 + i] = (char)tolower(c);
    }
    out[4 + n] = '\0';
    return 0;
}
