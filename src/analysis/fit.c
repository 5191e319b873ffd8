/* analysis/fit.c - lines and multiple regressions with GSL; contract in analysis/fit.h. */
#include "analysis/fit.h"
#include "analysis/stats.h"
#include "core/error.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void nan_fit(ws_linfit *f) {
    f->slope = f->intercept = f->slope_se = f->intercept_se = f->cov_intercept_slope = NAN;
    f->slope_lo = f->slope_hi = f->intercept_lo = f->intercept_hi = f->r2 = f->residual_sd = NAN;
}

ws_linfit ws_fit_line(const double *x, const double *y, size_t n) {
    ws_linfit f = {0};
    nan_fit(&f);
    double *xs = malloc((n ? n : 1) * sizeof *xs), *ys = malloc((n ? n : 1) * sizeof *ys);
    if (!xs || !ys) {
        free(xs);
        free(ys);
        return f;
    }
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            xs[f.n] = x[i];
            ys[f.n++] = y[i];
        }
    double xmin = 0, xmax = 0;
    if (f.n > 0) gsl_stats_minmax(&xmin, &xmax, xs, 1, f.n);
    if (f.n >= 3 && xmax > xmin) {
        double c0, c1, c00, c01, c11, sumsq;
        gsl_fit_linear(xs, 1, ys, 1, f.n, &c0, &c1, &c00, &c01, &c11, &sumsq);
        double t = ws_t_quantile(0.975, (double)f.n - 2);
        double tss = gsl_stats_tss(ys, 1, f.n);
        f.valid = 1;
        f.intercept = c0;
        f.slope = c1;
        f.intercept_se = sqrt(c00);
        f.slope_se = sqrt(c11);
        f.cov_intercept_slope = c01;
        f.slope_lo = c1 - t * f.slope_se;
        f.slope_hi = c1 + t * f.slope_se;
        f.intercept_lo = c0 - t * f.intercept_se;
        f.intercept_hi = c0 + t * f.intercept_se;
        f.r2 = tss > 0 ? 1 - sumsq / tss : 1;
        f.residual_sd = sqrt(sumsq / ((double)f.n - 2));
    }
    free(xs);
    free(ys);
    return f;
}

double ws_linfit_band(const ws_linfit *f, double x) {
    if (!f->valid) return NAN;
    double var = f->intercept_se * f->intercept_se + 2 * x * f->cov_intercept_slope + x * x * f->slope_se * f->slope_se;
    return ws_t_quantile(0.975, (double)f->n - 2) * sqrt(var > 0 ? var : 0);
}

ws_status ws_fit_multi(const double *X, const double *y, size_t n, size_t k, ws_multifit *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    out->k = k;
    out->r2 = out->adj_r2 = NAN;
    for (size_t j = 0; j < WS_MULTIFIT_MAX; j++)
        out->coef[j] = out->se[j] = out->lo[j] = out->hi[j] = NAN;
    if (k < 1 || k > WS_MULTIFIT_MAX)
        return wsi_error(err, WS_EINVAL, "ws_fit_multi: 1 to %d regressors, not %zu", WS_MULTIFIT_MAX, k);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = isfinite(y[i]);
        for (size_t j = 0; j < k; j++)
            ok &= isfinite(X[i * k + j]);
        m += ok;
    }
    out->n = m;
    if (m <= k) return WS_OK; /* no degrees of freedom: no fit, no interval */
    gsl_matrix *A = gsl_matrix_alloc(m, k), *cov = gsl_matrix_alloc(k, k);
    gsl_vector *b = gsl_vector_alloc(m), *c = gsl_vector_alloc(k);
    gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc(m, k);
    ws_status st = WS_OK;
    if (!A || !cov || !b || !c || !w) {
        st = wsi_error(err, WS_ENOMEM, "ws_fit_multi: out of memory");
        goto out;
    }
    /* columns scaled to a largest |value| of 1 (undone below): regressors of very different
     * magnitude (1 vs 1e6 samples per hour) then do not look rank deficient to the SVD */
    double scale[WS_MULTIFIT_MAX];
    for (size_t j = 0; j < k; j++)
        scale[j] = 0;
    for (size_t i = 0, r = 0; i < n; i++) {
        int ok = isfinite(y[i]);
        for (size_t j = 0; j < k; j++)
            ok &= isfinite(X[i * k + j]);
        if (!ok) continue;
        for (size_t j = 0; j < k; j++) {
            gsl_matrix_set(A, r, j, X[i * k + j]);
            if (fabs(X[i * k + j]) > scale[j]) scale[j] = fabs(X[i * k + j]);
        }
        gsl_vector_set(b, r++, y[i]);
    }
    for (size_t j = 0; j < k; j++) {
        if (!(scale[j] > 0)) scale[j] = 1;
        gsl_vector_view col = gsl_matrix_column(A, j);
        gsl_vector_scale(&col.vector, 1 / scale[j]);
    }
    double chisq = 0;
    size_t rank = 0;
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int rc = gsl_multifit_linear_tsvd(A, b, 1e-10, c, cov, &chisq, &rank, w);
    gsl_set_error_handler(old);
    if (rc) {
        st = wsi_error(err, WS_ELIBRARY, "gsl_multifit_linear_tsvd: %s", gsl_strerror(rc));
        goto out;
    }
    out->rank = rank;
    out->collinear = rank < k;
    if (!out->collinear) {
        double t = ws_t_quantile(0.975, (double)(m - k));
        double mean = 0, tss = 0;
        for (size_t i = 0; i < m; i++)
            mean += gsl_vector_get(b, i) / (double)m;
        for (size_t i = 0; i < m; i++)
            tss += (gsl_vector_get(b, i) - mean) * (gsl_vector_get(b, i) - mean);
        out->valid = 1;
        for (size_t j = 0; j < k; j++) {
            out->coef[j] = gsl_vector_get(c, j) / scale[j];
            out->se[j] = sqrt(gsl_matrix_get(cov, j, j)) / scale[j];
            out->lo[j] = out->coef[j] - t * out->se[j];
            out->hi[j] = out->coef[j] + t * out->se[j];
        }
        out->r2 = tss > 0 ? 1 - chisq / tss : 1;
        out->adj_r2 = 1 - (1 - out->r2) * (double)(m - 1) / (double)(m - k);
    }
out:
    gsl_multifit_linear_free(w);
    gsl_matrix_free(A);
    gsl_matrix_free(cov);
    gsl_vector_free(b);
    gsl_vector_free(c);
    return st;
}
