/* src/ops/afno_filter.c - the AFNO spectral filter's descriptor, plans and backend choice.
 * defines: ws_afno_filter_desc_make, ws_afno_filter_kept, ws_afno_filter_saved_floats,
 *          ws_afno_filter_plan_open, ws_afno_filter_plan_close, ws_afno_filter_workspace_bytes,
 *          ws_afno_filter_forward, ws_afno_filter_backward
 * backends: src/ops/afno_filter_cpu.c (reference, FFTW), src/ops/afno_filter_cuda.cu
 * (cuFFT, to come); contract: src/ops/afno_filter.h. A bad descriptor is WS_EINVAL whatever
 * the device, and so is a plan made for other (H, W, C); the CPU (fp32 only) runs the
 * reference; any other device or precision is WS_ENOTSUP for now. */
#include "ops/afno_filter.h"
#include "core/error.h"

#include <limits.h>
#include <math.h>

ws_afno_filter_desc ws_afno_filter_desc_make(int n, int h, int w, int c, int blocks, int hidden_factor,
                                             double hard_thresholding_fraction, float lambda) {
    ws_afno_filter_desc d = {.n = n, .h = h, .w = w, .c = c, .blocks = blocks, .hidden_factor = hidden_factor,
                             .lambda = lambda, .kept_modes = -1};
    if (h < 1 || w < 1 || !(hard_thresholding_fraction >= 0.0 && hard_thresholding_fraction <= 1.0)) return d;
    int total = h / 2 + 1;
    /* Python's int(total_modes * fraction): truncation of the double product */
    d.kept_modes = (int)(total * hard_thresholding_fraction);
    /* FourCastNet's slices [total - kept : total + kept] and [:kept], clipped as Python clips */
    d.row0 = total - d.kept_modes;
    d.row1 = total + d.kept_modes < h ? total + d.kept_modes : h;
    if (d.row1 < d.row0) d.row1 = d.row0;
    d.cols = d.kept_modes < w / 2 + 1 ? d.kept_modes : w / 2 + 1;
    return d;
}

static int desc_ok(const ws_afno_filter_desc *d) {
    if (!d || d->n < 1 || d->h < 1 || d->w < 1 || d->c < 1 || d->blocks < 1 || d->c % d->blocks != 0 ||
        d->hidden_factor < 1 || d->kept_modes < 0 || !(d->lambda >= 0.0f) || isinf(d->lambda))
        return 0;
    int total = d->h / 2 + 1;
    if (d->kept_modes > total) return 0;
    int row1 = total + d->kept_modes < d->h ? total + d->kept_modes : d->h;
    if (row1 < total - d->kept_modes) row1 = total - d->kept_modes;
    int cols = d->kept_modes < d->w / 2 + 1 ? d->kept_modes : d->w / 2 + 1;
    if (d->row0 != total - d->kept_modes || d->row1 != row1 || d->cols != cols) return 0;
    /* the products take int dimensions: M = N*K rows, 2*C*F columns */
    size_t k = (size_t)(d->row1 - d->row0) * d->cols;
    return (size_t)d->n * k <= INT_MAX && 2 * (size_t)d->c * d->hidden_factor <= INT_MAX &&
           (size_t)d->h * d->w * d->c <= INT_MAX;
}

size_t ws_afno_filter_kept(const ws_afno_filter_desc *d) {
    return desc_ok(d) ? (size_t)(d->row1 - d->row0) * d->cols : 0;
}

size_t ws_afno_filter_saved_floats(const ws_afno_filter_desc *d) {
    if (!desc_ok(d)) return 0;
    return (size_t)d->n * ws_afno_filter_kept(d) * (4 * (size_t)d->c + 2 * (size_t)d->c * d->hidden_factor);
}

static int cpu_runs(const ws_exec *ex) { return ex->device == WS_DEVICE_CPU && ex->precision == WS_FP32; }

ws_status ws_afno_filter_plan_open(ws_afno_filter_plan **out, const ws_exec *ex, const ws_afno_filter_desc *d,
                                   ws_error *err) {
    if (!out) return wsi_error(err, WS_EINVAL, "afno filter: no place for the plan");
    *out = NULL;
    if (!ex || !desc_ok(d))
        return wsi_error(err, WS_EINVAL, "afno filter: bad descriptor (sizes, blocks dividing C, kept modes, lambda)");
    if (cpu_runs(ex)) return wsi_afno_filter_plan_open_cpu(out, d, err);
    /* TODO(cuda issue): under WS_HAVE_CUDA, cuFFT plans for the CUDA device. */
    return wsi_error(err, WS_ENOTSUP, "afno filter: no %s backend at %s yet", ws_device_name(ex->device),
                     ws_dtype_name(ex->precision));
}

void ws_afno_filter_plan_close(ws_afno_filter_plan *p) { wsi_afno_filter_plan_close_cpu(p); }

size_t ws_afno_filter_workspace_bytes(const ws_exec *ex, const ws_afno_filter_desc *d) {
    if (!ex || !desc_ok(d)) return 0;
    if (cpu_runs(ex)) return ws_afno_filter_workspace_bytes_cpu(d, ex->threads);
    return 0;
}

ws_status ws_afno_filter_forward(const ws_exec *ex, const ws_afno_filter_plan *p, const ws_afno_filter_desc *d,
                                 float *y, float *saved, const float *x, const float *w1, const float *b1,
                                 const float *w2, const float *b2, void *workspace) {
    if (!ex || !desc_ok(d) || !y || !saved || !x || !w1 || !b1 || !w2 || !b2 || !workspace) return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    if (!wsi_afno_filter_plan_fits(p, d)) return WS_EINVAL;
    ws_afno_filter_forward_cpu(p, d, ex->threads, y, saved, x, w1, b1, w2, b2, workspace);
    return WS_OK;
}

ws_status ws_afno_filter_backward(const ws_exec *ex, const ws_afno_filter_plan *p, const ws_afno_filter_desc *d,
                                  float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dy,
                                  const float *saved, const float *w1, const float *w2, void *workspace) {
    if (!ex || !desc_ok(d) || !dx || !dw1 || !db1 || !dw2 || !db2 || !dy || !saved || !w1 || !w2 || !workspace)
        return WS_EINVAL;
    if (!cpu_runs(ex)) return WS_ENOTSUP;
    if (!wsi_afno_filter_plan_fits(p, d)) return WS_EINVAL;
    ws_afno_filter_backward_cpu(p, d, ex->threads, dx, dw1, db1, dw2, db2, dy, saved, w1, w2, workspace);
    return WS_OK;
}
