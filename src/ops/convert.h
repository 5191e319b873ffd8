/* ops/convert.h - moving tensors between the host's reference form (fp32 NCHW) and an
 * exec's activation form (its layout and storage type), and casting parameter buffers.
 * defines: ws_tensor_upload, ws_tensor_download (synchronous; set-up, tests, checks),
 *          ws_convert_input (device fp32 NCHW -> activation, asynchronous: the step's
 *          input path), ws_convert_input_u8 (device uint8 NHWC pixels -> normalised
 *          activation), ws_cast (between fp32 and the storage types, asynchronous).
 * CPU: fp32 NCHW is already the activation form, so these are copies. CUDA twin:
 * ops/convert_cuda.cu. Shapes: n samples of c x h x w. */
#ifndef WS_OPS_CONVERT_H
#define WS_OPS_CONVERT_H

#include <stdint.h>
#include "ops/ops.h"

ws_status ws_tensor_upload(const ws_exec *ex, void *dst, const float *src_nchw, int n, int c, int h, int w,
                           ws_error *err);
ws_status ws_tensor_download(const ws_exec *ex, float *dst_nchw, const void *src, int n, int c, int h, int w,
                             ws_error *err);
/* src_nchw in ex's device memory. */
ws_status ws_convert_input(const ws_exec *ex, void *dst, const float *src_nchw, int n, int c, int h, int w);
/* src: uint8 pixels [n,h,w,c] in ex's device memory; x = (pixel/255 - mean[c]) / std[c]. */
ws_status ws_convert_input_u8(const ws_exec *ex, void *dst, const uint8_t *src_nhwc, int n, int c, int h, int w,
                              const float *mean, const float *std);
/* dst[i] = (dst_t) src[i], round to nearest even; count elements. The CPU supports
 * fp32 -> fp32 only. */
ws_status ws_cast(const ws_exec *ex, void *dst, ws_dtype dst_t, const void *src, ws_dtype src_t, size_t count);

/* ---- the CUDA twins (ops/convert_cuda.cu) ---- */
ws_status ws_tensor_upload_cuda(const ws_exec *ex, void *dst, const float *src_nchw, int n, int c, int h, int w,
                                ws_error *err);
ws_status ws_tensor_download_cuda(const ws_exec *ex, float *dst_nchw, const void *src, int n, int c, int h, int w,
                                  ws_error *err);
void ws_convert_input_cuda(const ws_exec *ex, void *dst, const float *src_nchw, int n, int c, int h, int w);
void ws_convert_input_u8_cuda(const ws_exec *ex, void *dst, const uint8_t *src_nhwc, int n, int c, int h, int w,
                              const float *mean, const float *std);
void ws_cast_cuda(const ws_exec *ex, void *dst, ws_dtype dst_t, const void *src, ws_dtype src_t, size_t count);

#endif
