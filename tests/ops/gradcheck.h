/* tests/ops/gradcheck.h - what the operator tests share: buffers, seeded fills, NaN poison,
 * element-wise comparisons that print the worst element, and finite-difference gradients.
 * defines: ws_tol, WS_TOL_FP32, ws_test_floats, ws_test_fill_normal, ws_test_fill, ws_test_poison,
 *          WS_TEST_CLOSE, WS_TEST_CLOSE_F32, WS_TEST_BITWISE, WS_TEST_STATUS, WS_TEST_NO_NAN,
 *          ws_gradcheck_fn, ws_gradcheck_opts, ws_gradcheck_opts_default, ws_gradcheck_dot,
 *          WS_GRADCHECK. Implementation: tests/ops/gradcheck.c.
 *
 * Comparisons pass where |got - want| <= atol + rtol * |want|, written so that NaN fails
 * (style.md section 7). Gradient checks: the op's output y is projected on a fixed random
 * r, L = sum(r * y) in double, so dL/dy = r is the dy handed to backward, and each checked
 * input element is moved by +-h (h relative to |x|); the central difference of L is then
 * compared with the analytic gradient (see WS_GRADCHECK for the tolerance and why). */
#ifndef WS_TESTS_OPS_GRADCHECK_H
#define WS_TESTS_OPS_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "wattscale/status.h"

typedef struct {
    double rtol, atol;
} ws_tol;

/* style.md's table, fp32 row: forward and backward against a double reference */
#define WS_TOL_FP32 ((ws_tol){1e-4, 1e-5})

float *ws_test_floats(size_t n);                       /* malloc'd; fails the test on ENOMEM */
void ws_test_fill_normal(ws_rng *rng, float *x, size_t n, double mean, double std);
void ws_test_fill(float *x, size_t n, float v);
void ws_test_poison(void *p, size_t bytes);            /* 0xFF bytes: NaN as fp32 */

/* got (fp32) against want (double reference), n elements. */
#define WS_TEST_CLOSE(got, want, n, tol) ws_test_close_((got), (want), (n), (tol), #got, __FILE__, __LINE__)
/* got against want, both fp32 (e.g. one thread count against another). */
#define WS_TEST_CLOSE_F32(got, want, n, tol) ws_test_close_f32_((got), (want), (n), (tol), #got, __FILE__, __LINE__)
/* Same bits (so NaN == NaN here: this is about reproducibility, not correctness). */
#define WS_TEST_BITWISE(a, b, n) ws_test_bitwise_((a), (b), (n) * sizeof *(a), #a, #b, __FILE__, __LINE__)
/* A call returns exactly the status wanted; prints both names. */
#define WS_TEST_STATUS(want, call) ws_test_status_((want), (call), #call, __FILE__, __LINE__)
/* No element is NaN (outputs poisoned beforehand were all written). */
#define WS_TEST_NO_NAN(x, n) ws_test_no_nan_((x), (n), #x, __FILE__, __LINE__)

void ws_test_close_(const float *got, const double *want, size_t n, ws_tol tol, const char *what, const char *file,
                    int line);
void ws_test_close_f32_(const float *got, const float *want, size_t n, ws_tol tol, const char *what,
                        const char *file, int line);
void ws_test_bitwise_(const void *a, const void *b, size_t bytes, const char *what_a, const char *what_b,
                      const char *file, int line);
void ws_test_status_(ws_status want, ws_status got, const char *what, const char *file, int line);
void ws_test_no_nan_(const float *x, size_t n, const char *what, const char *file, int line);

/* Runs the op's forward on the current inputs and returns L = ws_gradcheck_dot(r, y, ny). */
typedef double (*ws_gradcheck_fn)(void *ctx);
double ws_gradcheck_dot(const float *r, const float *y, size_t n); /* sum r*y in double */

typedef struct {
    double h_rel;       /* step h = h_rel * max(|x_i|, 1) */
    ws_tol tol;         /* atol is relative to the gradient's scale: see WS_GRADCHECK */
    size_t max_points;  /* 0: every element; else this many, drawn with a fixed seed */
} ws_gradcheck_opts;

/* h_rel 1e-2; rtol 1e-2, atol 1e-3. Why: in fp32 the difference quotient carries a
 * rounding error of about eps32 * |sum of the outputs x_i moves| / h, and a truncation error
 * of about h^2 f''' / 6; for our smooth ops (conv and linear are linear, batch norm and the
 * loss are smooth at unit scale) h = 1e-2 balances the two at ~1e-5..1e-4 of the gradient's
 * scale (measured: see the report of each test with WS_TEST_VERBOSE=1). A wrong formula errs
 * by O(1) of the gradient, 100x above this tolerance. The double-reference checks, at
 * WS_TOL_FP32, are the tight ones; finite differences guard the references themselves. */
ws_gradcheck_opts ws_gradcheck_opts_default(void);

/* Checks analytic (the backward's gradient of L with respect to x, n elements) against
 * central differences of fn, perturbing x in place (restored after each element). Passes
 * where |num - ana| <= atol * scale + rtol * |ana| for every checked element, scale =
 * max(1, max|ana|); NaN fails. On failure prints the count, max abs and rel error, and the
 * worst index with both values. opts NULL: ws_gradcheck_opts_default(). */
#define WS_GRADCHECK(x, n, analytic, fn, ctx, opts) \
    ws_gradcheck_((x), (n), (analytic), (fn), (ctx), (opts), #x, __FILE__, __LINE__)
void ws_gradcheck_(float *x, size_t n, const float *analytic, ws_gradcheck_fn fn, void *ctx,
                   const ws_gradcheck_opts *opts, const char *what, const char *file, int line);

#endif
