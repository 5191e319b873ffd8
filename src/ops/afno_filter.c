/* src/ops/afno_filter.c - the AFNO spectral filter's descriptor, plans and backend choice.
 * defines: ws_afno_filter_desc_make, ws_afno_filter_kept, ws_afno_filter_saved_floats,
 *          ws_afno_filter_plan_open, ws_afno_filter_plan_close, ws_afno_filter_workspace_bytes,
 *          ws_afno_filter_forward, ws_afno_filter_backward
 * backends: src/ops/afno_filter_cpu.c (reference, FFTW), src/ops/afno_filter_cuda.cu
 * (cuFFT, cuBLAS); contract: src/ops/afno_filter.h. A bad descriptor is WS_EINVAL whatever
 * the device, and so is a plan made for other (H, W, C), another device or another CUDA
 * context; the CPU (fp32) runs the reference, a CUDA exec (fp32 or tf32) the twin; anything
 * else is WS_ENOTSUP. */
#include "ops/afno_filter.h"
#include "core/error.h"
#include "ws_config.h"

#include <stdlib.h>

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

/* What a plan is for, and the backend half that runs it. */
struct ws_afno_filter_plan {
    ws_device device;
    int h, w, c;
    const ws_cuda_ctx *cuda;  /* CUDA: the context the plan was made on */
    wsi_afno_fftw_plan *cpu;
    wsi_afno_cufft_plan *gpu;
};

ws_status ws_afno_filter_plan_open(ws_afno_filter_plan **out, const ws_exec *ex, const ws_afno_filter_desc *d,
                                   ws_error *err) {
    if (!out) return wsi_error(err, WS_EINVAL, "afno filter: no place for the plan");
    *out = NULL;
    if (!ex || !desc_ok(d))
        return wsi_error(err, WS_EINVAL, "afno filter: bad descriptor (sizes, blocks dividing C, kept modes, lambda)");
    wsi_backend run = wsi_exec_run_f32(ex);
    if (run == WSI_RUN_NONE)
        return wsi_error(err, WS_ENOTSUP, "afno filter: no %s backend at %s (the filter runs in fp32, or tf32 on CUDA)",
                         ws_device_name(ex->device), ws_dtype_name(ex->precision));
    ws_afno_filter_plan *p = calloc(1, sizeof *p);
    if (!p) return wsi_error(err, WS_ENOMEM, "afno filter: out of memory for a plan");
    p->device = ex->device, p->h = d->h, p->w = d->w, p->c = d->c, p->cuda = ex->cuda;
    ws_status st = WS_ENOTSUP;
    if (run == WSI_RUN_CPU) st = wsi_afno_filter_plan_open_cpu(&p->cpu, d, err);
#if WS_HAVE_CUDA
    if (run == WSI_RUN_CUDA) st = wsi_afno_filter_plan_open_cuda(&p->gpu, ex, d, err);
#endif
    if (st != WS_OK) {
        free(p);
        return st;
    }
    *out = p;
    return WS_OK;
}

void ws_afno_filter_plan_close(ws_afno_filter_plan *p) {
    if (!p) return;
    wsi_afno_filter_plan_close_cpu(p->cpu);
#if WS_HAVE_CUDA
    wsi_afno_filter_plan_close_cuda(p->gpu);
#endif
    free(p);
}

size_t ws_afno_filter_workspace_bytes(const ws_exec *ex, const ws_afno_filter_desc *d) {
    if (!ex || !desc_ok(d)) return 0;
    switch (wsi_exec_run_f32(ex)) {
    case WSI_RUN_CPU: return ws_afno_filter_workspace_bytes_cpu(d, ex->threads);
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: return ws_afno_filter_workspace_bytes_cuda(d);
#endif
    default: return 0;
    }
}

/* The backend for ex when p was made for it and for d's (H, W, C); else WSI_RUN_NONE. */
static wsi_backend plan_run(const ws_exec *ex, const ws_afno_filter_plan *p, const ws_afno_filter_desc *d) {
    wsi_backend run = wsi_exec_run_f32(ex);
    if (!p || p->h != d->h || p->w != d->w || p->c != d->c || p->device != ex->device) return WSI_RUN_NONE;
    if (run == WSI_RUN_CPU && p->cpu) return run;
    if (run == WSI_RUN_CUDA && p->gpu && p->cuda == ex->cuda) return run;
    return WSI_RUN_NONE;
}

ws_status ws_afno_filter_forward(const ws_exec *ex, const ws_afno_filter_plan *p, const ws_afno_filter_desc *d,
                                 float *y, float *saved, const float *x, const float *w1, const float *b1,
                                 const float *w2, const float *b2, void *workspace) {
    if (!ex || !desc_ok(d) || !y || !saved || !x || !w1 || !b1 || !w2 || !b2 || !workspace) return WS_EINVAL;
    if (wsi_exec_run_f32(ex) == WSI_RUN_NONE) return WS_ENOTSUP;
    switch (plan_run(ex, p, d)) {
    case WSI_RUN_CPU: ws_afno_filter_forward_cpu(p->cpu, d, ex->threads, y, saved, x, w1, b1, w2, b2, workspace); break;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA: ws_afno_filter_forward_cuda(ex, p->gpu, d, y, saved, x, w1, b1, w2, b2, workspace); break;
#endif
    default: return WS_EINVAL; /* a plan for other sizes or another device */
    }
    return WS_OK;
}

ws_status ws_afno_filter_backward(const ws_exec *ex, const ws_afno_filter_plan *p, const ws_afno_filter_desc *d,
                                  float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dy,
                                  const float *saved, const float *w1, const float *w2, void *workspace) {
    if (!ex || !desc_ok(d) || !dx || !dw1 || !db1 || !dw2 || !db2 || !dy || !saved || !w1 || !w2 || !workspace)
        return WS_EINVAL;
    if (wsi_exec_run_f32(ex) == WSI_RUN_NONE) return WS_ENOTSUP;
    switch (plan_run(ex, p, d)) {
    case WSI_RUN_CPU:
        ws_afno_filter_backward_cpu(p->cpu, d, ex->threads, dx, dw1, db1, dw2, db2, dy, saved, w1, w2, workspace);
        break;
#if WS_HAVE_CUDA
    case WSI_RUN_CUDA:
        ws_afno_filter_backward_cuda(ex, p->gpu, d, dx, dw1, db1, dw2, db2, dy, saved, w1, w2, workspace);
        break;
#endif
    default: return WS_EINVAL;
    }
    return WS_OK;
}
