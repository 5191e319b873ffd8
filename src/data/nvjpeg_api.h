/* data/nvjpeg_api.h - our declarations of the few nvJPEG types and functions the GPU
 * decoder uses (data/jpeg_nvjpeg.cu), so that it builds without nvjpeg.h (absent from the
 * CUDA toolkit on the CPU machine) and loads libnvjpeg with dlopen where it exists.
 * tests/data/test_nvjpeg_layout.c checks every constant, layout and signature against
 * NVIDIA's nvjpeg.h wherever the build finds one (WS_HAVE_NVJPEG_H).
 * defines: wsi_nvjpeg_status and its codes, wsi_nvjpeg_handle, wsi_nvjpeg_state,
 *          wsi_nvjpeg_image, the backend and output-format codes, the function pointer
 *          types wsi_nvjpeg_*_fn. */
#ifndef WS_DATA_NVJPEG_API_H
#define WS_DATA_NVJPEG_API_H

#include <stddef.h>

typedef int wsi_nvjpeg_status; /* nvjpegStatus_t (an enum: int-sized) */
#define WSI_NVJPEG_STATUS_SUCCESS 0
#define WSI_NVJPEG_STATUS_NOT_INITIALIZED 1
#define WSI_NVJPEG_STATUS_INVALID_PARAMETER 2
#define WSI_NVJPEG_STATUS_BAD_JPEG 3
#define WSI_NVJPEG_STATUS_JPEG_NOT_SUPPORTED 4
#define WSI_NVJPEG_STATUS_ALLOCATOR_FAILURE 5
#define WSI_NVJPEG_STATUS_EXECUTION_FAILED 6
#define WSI_NVJPEG_STATUS_ARCH_MISMATCH 7
#define WSI_NVJPEG_STATUS_INTERNAL_ERROR 8
#define WSI_NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED 9
#define WSI_NVJPEG_STATUS_INCOMPLETE_BITSTREAM 10

typedef int wsi_nvjpeg_backend_t; /* nvjpegBackend_t */
#define WSI_NVJPEG_BACKEND_DEFAULT 0
#define WSI_NVJPEG_BACKEND_HARDWARE 3

typedef int wsi_nvjpeg_output_format; /* nvjpegOutputFormat_t */
#define WSI_NVJPEG_OUTPUT_RGBI 5       /* interleaved RGB in channel[0] */

#define WSI_NVJPEG_MAX_COMPONENT 4
typedef struct { /* nvjpegImage_t */
    unsigned char *channel[WSI_NVJPEG_MAX_COMPONENT];
    size_t pitch[WSI_NVJPEG_MAX_COMPONENT];
} wsi_nvjpeg_image;

typedef struct wsi_nvjpeg_handle_st *wsi_nvjpeg_handle; /* nvjpegHandle_t */
typedef struct wsi_nvjpeg_state_st *wsi_nvjpeg_state;   /* nvjpegJpegState_t */
typedef struct CUstream_st *wsi_cuda_stream;            /* cudaStream_t */

/* nvjpegCreateEx(backend, dev_allocator, pinned_allocator, flags, handle); we pass NULL
 * allocators (the library's cudaMalloc/cudaMallocHost), declared as void *. */
typedef wsi_nvjpeg_status (*wsi_nvjpeg_create_ex_fn)(wsi_nvjpeg_backend_t backend, void *dev_allocator,
                                                    void *pinned_allocator, unsigned int flags,
                                                    wsi_nvjpeg_handle *handle);
typedef wsi_nvjpeg_status (*wsi_nvjpeg_destroy_fn)(wsi_nvjpeg_handle handle);
typedef wsi_nvjpeg_status (*wsi_nvjpeg_state_create_fn)(wsi_nvjpeg_handle handle, wsi_nvjpeg_state *state);
typedef wsi_nvjpeg_status (*wsi_nvjpeg_state_destroy_fn)(wsi_nvjpeg_state state);
typedef wsi_nvjpeg_status (*wsi_nvjpeg_decode_batched_initialize_fn)(wsi_nvjpeg_handle handle, wsi_nvjpeg_state state,
                                                                     int batch_size, int max_cpu_threads,
                                                                     wsi_nvjpeg_output_format output_format);
typedef wsi_nvjpeg_status (*wsi_nvjpeg_decode_batched_fn)(wsi_nvjpeg_handle handle, wsi_nvjpeg_state state,
                                                          const unsigned char *const *data, const size_t *lengths,
                                                          wsi_nvjpeg_image *destinations, wsi_cuda_stream stream);

#endif
