/* analysis/stats.c - summaries with GSL's statistics; contract in analysis/stats.h. */
#include "analysis/stats.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>

ws_summary ws_summarize(const double *x, size_t n) {
    ws_summary s = {0, NAN, NAN, NAN, NAN};
    double *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return s;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) v[s.n++] = x[i];
    if (s.n > 0) {
        s.mean = gsl_stats_mean(v, 1, s.n);
        gsl_stats_minmax(&s.min, &s.max, v, 1, s.n);
    }
    if (s.n > 1) s.sd = gsl_stats_sd_m(v, 1, s.n, s.mean);
    free(v);
    return s;
}

double ws_t_quantile(double p, double dof) { return dof > 0 ? gsl_cdf_tdist_Pinv(p, dof) : NAN; }
