/* ops/afno_filter.h - the AFNO spectral filter, FourCastNet's AFNO2D (networks/afnonet.py):
 * token mixing in the Fourier domain with a block-diagonal complex two-layer MLP.
 * defines: ws_afno_filter_desc, ws_afno_filter_desc_make, ws_afno_filter_kept,
 *          ws_afno_filter_saved_floats, ws_afno_filter_plan (opaque) with
 *          ws_afno_filter_plan_open/close, ws_afno_filter_workspace_bytes,
 *          ws_afno_filter_forward, ws_afno_filter_backward (dispatch, ops/afno_filter.c), the
 *          CPU reference (FFTW) in ops/afno_filter_cpu.c and the CUDA twin (cuFFT, cuBLAS) in
 *          ops/afno_filter_cuda.cu.
 *
 * Shapes: x, y, dx, dy [N, H, W, C] channels last (the token grid of one sample is H x W,
 *   C = embed dim); C = NB blocks of BS = C/NB; F = hidden_size_factor.
 *   w1 [2, NB, BS, BS*F], b1 [2, NB, BS*F], w2 [2, NB, BS*F, BS], b2 [2, NB, BS]:
 *   index 0 the real part, 1 the imaginary part (PyTorch's parameter layout).
 * forward, per sample, exactly as AFNO2D.forward:
 *   X = rfft2(x, dims (H, W), norm "ortho")                [H, W/2+1, C] complex
 *   on the kept modes only (rows [TM-KM, TM+KM) clipped to [0, H), columns [0, KM) clipped
 *   to [0, W/2+1), TM = H/2 + 1, KM = int(TM * hard_thresholding_fraction)), per block b:
 *     O1 = relu_c(X_b W1_b + B1_b),  O2 = O1 W2_b + B2_b   (complex products: Re and Im of
 *     z W = (zr w[0] - zi w[1]) + i (zi w[0] + zr w[1]); relu_c applies ReLU to Re and Im)
 *   S = softshrink(O2, lambda) on Re and Im; S = 0 outside the kept modes
 *   y = irfft2(S, s = (H, W), norm "ortho") + x             (AFNO2D returns x + bias)
 * Note the column cut: even with fraction 1 only columns [0, H/2+1) of the W/2+1 are kept,
 *   as FourCastNet's slice [:kept_modes] does (90 x 180 tokens keep 46 of 91 columns); and
 *   with a fraction below 1 the kept rows are the middle ones, which in FFT order are the
 *   highest frequencies along H: FourCastNet's slice as written, kept as it is.
 * irfft2 of a spectrum that is not Hermitian (the MLP does not keep the symmetry of
 *   column 0 or of the Nyquist column) is defined as PyTorch computes it: an inverse
 *   complex DFT along H, then a real inverse DFT along W that reads only the real part of
 *   columns 0 and W/2 (W even):  y = Re(sum_kl c_l S_kl e^{+i theta}) / sqrt(HW), with
 *   c_l = 1 for l = 0 and l = W/2, else 2. Its gradient is therefore dS = c_l rfft2(dy),
 *   not rfft2(dy) (the Hermitian-symmetry subtlety), and rfft2's gradient is
 *   dx = irfft2(dX / c_l); tests/ops/test_afno_filter.c checks both by finite differences.
 * backward: dx (=) = dy + (the spectral path's gradient); dw1, db1, dw2, db2 (+=).
 * saved: N*K*(4C + 2CF) floats (K = kept modes per sample; ws_afno_filter_saved_floats):
 *   forward writes the kept spectrum X, O1 and O2 there; backward reads them (same N). x may not
 *   alias y; dx may not alias dy.
 * Plans: for (H, W, C), made once by ws_afno_filter_plan_open (not in a step), valid for
 *   any N. CPU: FFTW plans, FFTW_ESTIMATE, so the same plan, and the same bits, on every
 *   run. CUDA: cuFFT plans over channel-major planes for the descriptor's N (one call for
 *   all samples) and for one sample (run per sample for any other N; afno_filter_cuda.cu
 *   says why), with their work area, on ex's context.
 * Devices: every buffer (x, y, saved, weights, workspace) is fp32 in ex's device memory,
 *   whatever the run precision; the CPU runs at fp32, CUDA at fp32 or tf32 (the FFTs stay
 *   fp32 in both, as FourCastNet's); bf16/fp16 are WS_ENOTSUP. The block MLP's products run
 *   in full fp32 unless the descriptor's mlp_tf32 asks for TF32 tensor cores: the AFNO's
 *   bf16 and tf32 runs do, because FourCastNet's AFNO2D, although it casts x to float, runs
 *   its einsums under the caller's autocast, i.e. in bf16 on tensor cores (PyTorch 2.11's
 *   profile of tools/fixtures/afnonet_torch.py under autocast shows bf16 GEMM kernels and
 *   casts there); TF32 keeps 3 more mantissa bits than that and fp32 outputs. In full fp32
 *   these products took 12 of the 92 ms of a full-size bf16 step on an H200 (2026-12-01). On CUDA, saved
 *   must be 8-byte aligned (it is read as complex pairs; any ws_mem_alloc'd buffer, or one
 *   carved at an even float offset from one, is), and cuFFT's work area belongs to the plan
 *   (allocated at open), not to the workspace. */
#ifndef WS_OPS_AFNO_FILTER_H
#define WS_OPS_AFNO_FILTER_H

#include "ops/ops.h"

typedef struct {
    int n, h, w, c;      /* tokens [N, H, W, C] */
    int blocks;          /* num_blocks, divides C */
    int hidden_factor;   /* hidden_size_factor (1 in FourCastNet) */
    int kept_modes;      /* KM = int((H/2 + 1) * hard_thresholding_fraction) */
    float lambda;        /* softshrink threshold = sparsity_threshold */
    /* the kept region, filled by ws_afno_filter_desc_make */
    int row0, row1, cols;
    /* CUDA: the block MLP's products on TF32 tensor cores (fp32 buffers and accumulation),
     * not in full fp32; 0 from ws_afno_filter_desc_make; the CPU ignores it (see top) */
    int mlp_tf32;
} ws_afno_filter_desc;

/* fraction in [0, 1] (PyTorch slicing would wrap around for more); lambda >= 0. A bad
 * argument gives a descriptor that every call rejects. */
ws_afno_filter_desc ws_afno_filter_desc_make(int n, int h, int w, int c, int blocks, int hidden_factor,
                                             double hard_thresholding_fraction, float lambda);
/* Kept modes per sample: (row1 - row0) * cols; 0 for a bad descriptor. */
size_t ws_afno_filter_kept(const ws_afno_filter_desc *d);
/* Floats the forward saves for the backward, for d->n samples. */
size_t ws_afno_filter_saved_floats(const ws_afno_filter_desc *d);

typedef struct ws_afno_filter_plan ws_afno_filter_plan;

/* Plans for d's H, W, C on ex's device (the CPU: FFTW, single precision; CUDA: cuFFT).
 * WS_ENOTSUP with the fix in err when the build has no FFTW (CPU), for another device or a
 * bf16/fp16 precision, and on CUDA for a grid one column wide (W = 1); WS_EINVAL for a bad
 * descriptor; WS_ELIBRARY when cuFFT fails. */
ws_status ws_afno_filter_plan_open(ws_afno_filter_plan **out, const ws_exec *ex, const ws_afno_filter_desc *d,
                                   ws_error *err);
void ws_afno_filter_plan_close(ws_afno_filter_plan *p); /* NULL is a no-op */

/* Scratch for forward and backward (per-thread spectra, expanded weights, gradients of the
 * MLP) for d->n samples and ex->threads threads: pass the same threads to the calls. CUDA:
 * N samples' channel-major planes and spectra and the same MLP sections (ex->threads does
 * not apply), in device memory; a workspace for N samples serves every smaller N. 0 for a bad descriptor or a
 * device that does not run the filter. */
size_t ws_afno_filter_workspace_bytes(const ws_exec *ex, const ws_afno_filter_desc *d);

ws_status ws_afno_filter_forward(const ws_exec *ex, const ws_afno_filter_plan *p, const ws_afno_filter_desc *d,
                                 float *y, float *saved, const float *x, const float *w1, const float *b1,
                                 const float *w2, const float *b2, void *workspace);
ws_status ws_afno_filter_backward(const ws_exec *ex, const ws_afno_filter_plan *p, const ws_afno_filter_desc *d,
                                  float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dy,
                                  const float *saved, const float *w1, const float *w2, void *workspace);

/* The backends' halves of a plan: ws_afno_filter_plan (ops/afno_filter.c) holds one of
 * them with the (H, W, C) it was made for and, on CUDA, its context. */
typedef struct wsi_afno_fftw_plan wsi_afno_fftw_plan;   /* ops/afno_filter_cpu.c */
typedef struct wsi_afno_cufft_plan wsi_afno_cufft_plan; /* ops/afno_filter_cuda.cu */

/* CPU reference (ops/afno_filter_cpu.c, FFTW). */
ws_status wsi_afno_filter_plan_open_cpu(wsi_afno_fftw_plan **out, const ws_afno_filter_desc *d, ws_error *err);
void wsi_afno_filter_plan_close_cpu(wsi_afno_fftw_plan *p);
size_t ws_afno_filter_workspace_bytes_cpu(const ws_afno_filter_desc *d, int threads);
void ws_afno_filter_forward_cpu(const wsi_afno_fftw_plan *p, const ws_afno_filter_desc *d, int threads, float *y,
                                float *saved, const float *x, const float *w1, const float *b1, const float *w2,
                                const float *b2, void *workspace);
void ws_afno_filter_backward_cpu(const wsi_afno_fftw_plan *p, const ws_afno_filter_desc *d, int threads,
                                 float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dy,
                                 const float *saved, const float *w1, const float *w2, void *workspace);

/* CUDA twin (ops/afno_filter_cuda.cu, cuFFT + cuBLAS), built with WS_HAVE_CUDA. The plan
 * belongs to ex's context (its stream; its FFT work area is allocated there at open) and
 * must be closed before the context. */
ws_status wsi_afno_filter_plan_open_cuda(wsi_afno_cufft_plan **out, const ws_exec *ex, const ws_afno_filter_desc *d,
                                         ws_error *err);
void wsi_afno_filter_plan_close_cuda(wsi_afno_cufft_plan *p);
size_t ws_afno_filter_workspace_bytes_cuda(const ws_afno_filter_desc *d);
void ws_afno_filter_forward_cuda(const ws_exec *ex, const wsi_afno_cufft_plan *p, const ws_afno_filter_desc *d,
                                 float *y, float *saved, const float *x, const float *w1, const float *b1,
                                 const float *w2, const float *b2, void *workspace);
void ws_afno_filter_backward_cuda(const ws_exec *ex, const wsi_afno_cufft_plan *p, const ws_afno_filter_desc *d,
                                  float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dy,
                                  const float *saved, const float *w1, const float *w2, void *workspace);

#endif
