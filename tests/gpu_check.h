/* tests/gpu_check.h - what the GPU tests share: a comparison that reports instead of
 * stopping (one run shows every check: GPU time is scarce), and its counters.
 * defines: ws_gpu_tol, ws_gpu_tol_of (the tolerance table by precision), ws_gpu_check,
 *          ws_gpu_expect, ws_gpu_checks, ws_gpu_failures, ws_gpu_must (set-up that must succeed).
 *          Implementation: tests/gpu_check.c.
 * A check passes where |got - ref| <= atol * scale + rtol * |ref|, scale = max |ref| of the
 * tensor (rounding of a cancelling sum's large terms is not held against a small result),
 * written so that NaN fails; it prints one line: ok/FAIL, what, precision, shape, max
 * errors and the worst element. */
#ifndef WS_TESTS_GPU_CHECK_H
#define WS_TESTS_GPU_CHECK_H

#include <stddef.h>
#include "core/error.h"
#include "ops/ops.h"

typedef struct {
    double rtol, atol;
} ws_gpu_tol;

/* fp32 1e-5, tf32 2e-3, bf16 1e-2, fp16 2e-3 (issue #4: fp32 near 1e-5, tf32 near 1e-3,
 * bf16 near 1e-2; bf16's 8-bit mantissa alone rounds an output by up to 2^-9). */
ws_gpu_tol ws_gpu_tol_of(ws_dtype p);
/* Returns 1 when the check passed. */
int ws_gpu_check(const char *what, ws_dtype p, const char *shape, const float *got, const float *ref, size_t n,
                 ws_gpu_tol t);
/* A yes/no check (a plan was made, an error was reported): counted and printed like the
 * above, with detail when it failed. Returns ok. */
int ws_gpu_expect(int ok, const char *what, ws_dtype p, const char *shape, const char *detail);
int ws_gpu_checks(void);
int ws_gpu_failures(void);
/* Set-up that must succeed: otherwise prints FATAL, what, the status and err's message,
 * and exits 1. */
void ws_gpu_must(ws_status st, const char *what, const ws_error *err);

#endif
