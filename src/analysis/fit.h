/* analysis/fit.h - least-squares fits with 95% intervals (GSL underneath).
 * defines: ws_linfit, ws_fit_line, ws_linfit_band, ws_multifit, ws_fit_multi, WS_MULTIFIT_MAX.
 * Implementation: analysis/fit.c.
 *
 * Intervals are Student-t intervals from the fit's own residual variance: a line of n
 * points has n - 2 degrees of freedom, so a fit needs n >= 3 points (with distinct x) to
 * have an interval at all; fewer points give valid = 0 and NAN figures, never a line
 * drawn through two points as if it were certain. */
#ifndef WS_ANALYSIS_FIT_H
#define WS_ANALYSIS_FIT_H

#include <stddef.h>
#include "wattscale/status.h"

typedef struct {
    int valid; /* n >= 3 and x not constant */
    size_t n;
    double slope, intercept;
    double slope_se, intercept_se; /* standard errors */
    double cov_intercept_slope;
    double slope_lo, slope_hi; /* 95% confidence interval */
    double intercept_lo, intercept_hi;
    double r2; /* coefficient of determination */
    double residual_sd;
} ws_linfit;

/* y = intercept + slope x over the points where both are finite (gsl_fit_linear). */
ws_linfit ws_fit_line(const double *x, const double *y, size_t n);
/* Half width of the 95% confidence band of the fitted mean at x (NAN when not valid). */
double ws_linfit_band(const ws_linfit *f, double x);

#define WS_MULTIFIT_MAX 8

typedef struct {
    int valid;     /* n > k and the columns of X independent */
    int collinear; /* the design has rank < k (e.g. proportional regressors) */
    size_t n, k, rank;
    double coef[WS_MULTIFIT_MAX], se[WS_MULTIFIT_MAX], lo[WS_MULTIFIT_MAX], hi[WS_MULTIFIT_MAX];
    double r2, adj_r2;
} ws_multifit;

/* y = X c with X row-major n x k (put a column of ones in for an intercept); rows with a
 * non-finite value are dropped. Rank from a truncated SVD (gsl_multifit_linear_tsvd). */
ws_status ws_fit_multi(const double *X, const double *y, size_t n, size_t k, ws_multifit *out, ws_error *err);

#endif
