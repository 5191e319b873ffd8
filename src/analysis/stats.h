/* analysis/stats.h - summaries over repetitions (GSL underneath).
 * defines: ws_summary, ws_summarize, ws_t_quantile. Implementation: analysis/stats.c. */
#ifndef WS_ANALYSIS_STATS_H
#define WS_ANALYSIS_STATS_H

#include <stddef.h>

typedef struct {
    size_t n;        /* finite values summarised (NANs, i.e. "not measured", are skipped) */
    double mean;     /* NAN when n == 0 */
    double sd;       /* sample standard deviation (n - 1); NAN when n < 2 */
    double min, max; /* NAN when n == 0 */
} ws_summary;

ws_summary ws_summarize(const double *x, size_t n);

/* The p-quantile of Student's t with dof degrees of freedom (gsl_cdf_tdist_Pinv); NAN for
 * dof <= 0. ws_t_quantile(0.975, n - 2) is the factor of a 95% interval of a line's slope. */
double ws_t_quantile(double p, double dof);

#endif
