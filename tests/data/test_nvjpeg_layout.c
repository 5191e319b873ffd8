/* tests/data/test_nvjpeg_layout.c - our nvJPEG declarations (src/data/nvjpeg_api.h) against
 * NVIDIA's nvjpeg.h, wherever the build finds one (WS_HAVE_NVJPEG_H: the GPU machine's
 * toolkit has it, the CPU machine's has not). data/jpeg_nvjpeg.cu calls libnvjpeg through
 * those declarations, so a wrong constant or layout would misbehave silently; here the
 * compiler refuses instead. The runtime part writes through NVIDIA's nvjpegImage_t and
 * reads back through ours. */
#include "ws_test.h"

#include "data/nvjpeg_api.h"

#include <nvjpeg.h>
#include <stdalign.h>

#define SAME_OFFSET(ours, m_ours, theirs, m_theirs) \
    _Static_assert(offsetof(ours, m_ours) == offsetof(theirs, m_theirs), #ours "." #m_ours " is misplaced")
#define SAME_LAYOUT(ours, theirs)                                                            \
    _Static_assert(sizeof(ours) == sizeof(theirs), "sizeof " #ours " != sizeof " #theirs); \
    _Static_assert(alignof(ours) == alignof(theirs), "alignof " #ours " != alignof " #theirs)
#define SAME_VALUE(ours, theirs) _Static_assert((ours) == (theirs), #ours " != " #theirs)
#define SAME_SIGNATURE(fn, type) _Static_assert(_Generic(&fn, type: 1, default: 0), #fn ": nvjpeg.h's signature changed")

/* the enums we declare as int, the handles and the stream as pointers */
SAME_LAYOUT(wsi_nvjpeg_status, nvjpegStatus_t);
SAME_LAYOUT(wsi_nvjpeg_backend_t, nvjpegBackend_t);
SAME_LAYOUT(wsi_nvjpeg_output_format, nvjpegOutputFormat_t);
SAME_LAYOUT(wsi_nvjpeg_handle, nvjpegHandle_t);
SAME_LAYOUT(wsi_nvjpeg_state, nvjpegJpegState_t);
SAME_LAYOUT(wsi_cuda_stream, cudaStream_t);
SAME_LAYOUT(void *, nvjpegDevAllocator_t *);

SAME_LAYOUT(wsi_nvjpeg_image, nvjpegImage_t);
SAME_OFFSET(wsi_nvjpeg_image, channel, nvjpegImage_t, channel);
SAME_OFFSET(wsi_nvjpeg_image, pitch, nvjpegImage_t, pitch);
SAME_VALUE(WSI_NVJPEG_MAX_COMPONENT, NVJPEG_MAX_COMPONENT);

SAME_VALUE(WSI_NVJPEG_STATUS_SUCCESS, NVJPEG_STATUS_SUCCESS);
SAME_VALUE(WSI_NVJPEG_STATUS_NOT_INITIALIZED, NVJPEG_STATUS_NOT_INITIALIZED);
SAME_VALUE(WSI_NVJPEG_STATUS_INVALID_PARAMETER, NVJPEG_STATUS_INVALID_PARAMETER);
SAME_VALUE(WSI_NVJPEG_STATUS_BAD_JPEG, NVJPEG_STATUS_BAD_JPEG);
SAME_VALUE(WSI_NVJPEG_STATUS_JPEG_NOT_SUPPORTED, NVJPEG_STATUS_JPEG_NOT_SUPPORTED);
SAME_VALUE(WSI_NVJPEG_STATUS_ALLOCATOR_FAILURE, NVJPEG_STATUS_ALLOCATOR_FAILURE);
SAME_VALUE(WSI_NVJPEG_STATUS_EXECUTION_FAILED, NVJPEG_STATUS_EXECUTION_FAILED);
SAME_VALUE(WSI_NVJPEG_STATUS_ARCH_MISMATCH, NVJPEG_STATUS_ARCH_MISMATCH);
SAME_VALUE(WSI_NVJPEG_STATUS_INTERNAL_ERROR, NVJPEG_STATUS_INTERNAL_ERROR);
SAME_VALUE(WSI_NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED, NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED);
SAME_VALUE(WSI_NVJPEG_STATUS_INCOMPLETE_BITSTREAM, NVJPEG_STATUS_INCOMPLETE_BITSTREAM);
SAME_VALUE(WSI_NVJPEG_BACKEND_DEFAULT, NVJPEG_BACKEND_DEFAULT);
SAME_VALUE(WSI_NVJPEG_BACKEND_HARDWARE, NVJPEG_BACKEND_HARDWARE);
SAME_VALUE(WSI_NVJPEG_OUTPUT_RGBI, NVJPEG_OUTPUT_RGBI);

/* each function we dlsym, as nvjpeg.h declares it (our pointer types take the same
 * arguments in the same ABI classes: enums as int, typed pointers as void * or ours) */
SAME_SIGNATURE(nvjpegCreateEx, nvjpegStatus_t (*)(nvjpegBackend_t, nvjpegDevAllocator_t *, nvjpegPinnedAllocator_t *,
                                                  unsigned int, nvjpegHandle_t *));
SAME_SIGNATURE(nvjpegDestroy, nvjpegStatus_t (*)(nvjpegHandle_t));
SAME_SIGNATURE(nvjpegJpegStateCreate, nvjpegStatus_t (*)(nvjpegHandle_t, nvjpegJpegState_t *));
SAME_SIGNATURE(nvjpegJpegStateDestroy, nvjpegStatus_t (*)(nvjpegJpegState_t));
SAME_SIGNATURE(nvjpegDecodeBatchedInitialize,
               nvjpegStatus_t (*)(nvjpegHandle_t, nvjpegJpegState_t, int, int, nvjpegOutputFormat_t));
SAME_SIGNATURE(nvjpegDecodeBatched, nvjpegStatus_t (*)(nvjpegHandle_t, nvjpegJpegState_t, const unsigned char *const *,
                                                       const size_t *, nvjpegImage_t *, cudaStream_t));

static void test_image_struct_round_trip(void **state) {
    (void)state;
    nvjpegImage_t theirs;
    memset(&theirs, 0, sizeof theirs);
    unsigned char byte;
    theirs.channel[0] = &byte;
    theirs.pitch[0] = 1503;
    theirs.pitch[3] = 7;
    wsi_nvjpeg_image ours;
    memcpy(&ours, &theirs, sizeof ours);
    assert_ptr_equal(ours.channel[0], &byte);
    assert_int_equal(ours.pitch[0], 1503);
    assert_int_equal(ours.pitch[3], 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_struct_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
