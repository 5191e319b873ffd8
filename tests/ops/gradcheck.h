/* tests/ops/gradcheck.h - what the operator tests share: buffers, seeded fills, NaN poison,
 * element-wise comparisons that print the worst element, and finite-difference gradients.
 * defines: ws_tol, WS_TOL_FP32, ws_test_floats, ws_test_fill_normal, ws_test_fill,
 *          ws_test_poison, ws_test_compare, ws_test_compare_to, WS_TEST_CLOSE, WS_TEST_CLOSE_MAG,
 *          WS_TEST_CLOSE_F32, WS_TEST_BITWISE, WS_TEST_STATUS, WS_TEST_NO_NAN,
 *          ws_gradcheck_fn, ws_gradcheck_dot, ws_gradcheck_opts, ws_gradcheck_opts_default,
 *          ws_gradcheck_result, ws_gradcheck_measure, WS_GRADCHECK.
 * Implementation: tests/ops/gradcheck.c.
 *
 * Comparisons pass where got == want (inf included) or |got - want| <= atol + rtol * |want|,
 * written so that NaN fails (style.md section 7). Gradient checks: the op's output y is
 * projected on a fixed random r, L = sum(r * y) in double, so dL/dy = r is the dy handed to
 * backward; each checked input element is moved by +-h (h relative to |x|) and the central
 * difference of L is compared with the analytic gradient (WS_GRADCHECK: tolerance and why).
 * These macros capture file, line and expression only; the work is in functions. */
#ifndef WS_TESTS_OPS_GRADCHECK_H
#define WS_TESTS_OPS_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "wattscale/status.h"

typedef struct {
    double rtol, atol;
} ws_tol;

/* style.md's table, fp32 row: fp32 results against a double reference */
#define WS_TOL_FP32 ((ws_tol){1e-4, 1e-5})

float *ws_test_floats(size_t n);                       /* malloc'd; fails the test on ENOMEM */
void ws_test_fill_normal(ws_rng *rng, float *x, size_t n, double mean, double std);
void ws_test_fill(float *x, size_t n, float v);
void ws_test_poison(void *p, size_t bytes);            /* 0xFF bytes: NaN as fp32 */

/* What a comparison found: elements off, the largest errors, the worst element. */
typedef struct {
    size_t bad, worst;
    double max_abs, max_rel;
} ws_test_compare;

/* got (fp32) against want (a double reference), n elements; the bound uses |want[i]|, or
 * mag[i] where mag is non-NULL. Never fails the test itself: the macros below do. */
ws_test_compare ws_test_compare_to(const float *got, const double *want, const double *mag, size_t n, ws_tol tol);

/* got (fp32) against want (double reference). */
#define WS_TEST_CLOSE(got, want, n, tol) ws_test_close_((got), (want), NULL, (n), (tol), #got, __FILE__, __LINE__)
/* got against a double reference of a sum, mag[i] the sum of its terms' absolute values:
 * passes where |got - want| <= atol + rtol * mag. For reductions (conv, linear, dw): a sum
 * that cancels to near 0 keeps the rounding error of its large terms, which is bounded
 * relative to mag, not to the small result. */
#define WS_TEST_CLOSE_MAG(got, want, mag, n, tol) \
    ws_test_close_((got), (want), (mag), (n), (tol), #got, __FILE__, __LINE__)
/* got against want, both fp32 (e.g. one thread count against another). */
#define WS_TEST_CLOSE_F32(got, want, n, tol) ws_test_close_f32_((got), (want), (n), (tol), #got, __FILE__, __LINE__)
/* Same bits (so NaN == NaN here: this is about reproducibility, not correctness). */
#define WS_TEST_BITWISE(a, b, n) ws_test_bitwise_((a), (b), (n) * sizeof *(a), #a, #b, __FILE__, __LINE__)
/* A call returns exactly the status wanted; prints both names. */
#define WS_TEST_STATUS(want, call) ws_test_status_((want), (call), #call, __FILE__, __LINE__)
/* No element is NaN (outputs poisoned beforehand were all written). */
#define WS_TEST_NO_NAN(x, n) ws_test_no_nan_((x), (n), #x, __FILE__, __LINE__)

void ws_test_close_(const float *got, const double *want, const double *mag, size_t n, ws_tol tol, const char *what,
                    const char *file, int line);
void ws_test_close_f32_(const float *got, const float *want, size_t n, ws_tol tol, const char *what,
                        const char *file, int line);
void ws_test_bitwise_(const void *a, const void *b, size_t bytes, const char *what_a, const char *what_b,
                      const char *file, int line);
void ws_test_status_(ws_status want, ws_status got, const char *what, const char *file, int line);
void ws_test_no_nan_(const float *x, size_t n, const char *what, const char *file, int line);

/* Runs the op's forward on the current inputs and returns L, e.g. ws_gradcheck_dot(r, y, ny). */
typedef double (*ws_gradcheck_fn)(void *ctx);
double ws_gradcheck_dot(const float *r, const float *y, size_t n); /* sum r*y in double */

typedef struct {
    double h_rel;       /* step h = h_rel * max(|x_i|, 1) */
    ws_tol tol;         /* atol is a fraction of the gradient's scale: see WS_GRADCHECK */
    size_t max_points;  /* 0: every element; else this many, drawn with a fixed seed */
} ws_gradcheck_opts;

/* h_rel 1e-2; rtol 1e-2, atol 1e-3 (of the gradient's scale). Why so much looser than
 * WS_TOL_FP32: the op runs in fp32, so L carries rounding of ~eps32 (6e-8) times the outputs
 * x_i moves, which the difference quotient divides by 2h; its truncation error is ~h^2
 * f'''/6. h = 1e-2 |x| keeps both near 1e-5 of the gradient's scale for our ops (conv and
 * linear are linear in each input, batch norm and the loss smooth at unit scale). Measured
 * worst |num - ana| / scale over tests/ops: 8.1e-5 (loss, K = 1000), 3.4e-5 (conv2d, 7x7/2;
 * linear), 2.1e-5 (batch norm): 12x inside atol, while a wrong formula errs by O(1) of the
 * scale. The double references, at WS_TOL_FP32, are the tight checks; finite differences
 * check those references' formulas. */
ws_gradcheck_opts ws_gradcheck_opts_default(void);

typedef struct {
    size_t bad, points, worst;   /* worst: the index with the largest error/bound */
    double scale, max_abs, max_rel, worst_numeric;
} ws_gradcheck_result;

/* Compares analytic (the backward's gradient of L with respect to x, n elements) with
 * central differences of fn, moving x in place (each element restored after use). An
 * element passes where |num - ana| <= atol * scale + rtol * |ana|, scale = max|ana| over
 * all n (1 if all are 0); NaN never passes. opts NULL: ws_gradcheck_opts_default(). Never
 * fails the test itself: WS_GRADCHECK does, printing the count, the max abs and rel error
 * and the worst index with both values. */
ws_gradcheck_result ws_gradcheck_measure(float *x, size_t n, const float *analytic, ws_gradcheck_fn fn, void *ctx,
                                         const ws_gradcheck_opts *opts);
#define WS_GRADCHECK(x, n, analytic, fn, ctx, opts) \
    ws_gradcheck_((x), (n), (analytic), (fn), (ctx), (opts), #x, __FILE__, __LINE__)
void ws_gradcheck_(float *x, size_t n, const float *analytic, ws_gradcheck_fn fn, void *ctx,
                   const ws_gradcheck_opts *opts, const char *what, const char *file, int line);

#endif
