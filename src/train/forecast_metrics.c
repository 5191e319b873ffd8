/* train/forecast_metrics.c - latitude-weighted RMSE and ACC; definitions and the
 * differences from FourCastNet in train/forecast_metrics.h. Double accumulators. */
#include "train/forecast_metrics.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

struct ws_forecast_metrics {
    int c, h, w;
    double *lat_weight;     /* [h] */
    double *mean, *std;     /* [c] */
    float *clim;            /* [c, h, w] or NULL */
    double *a, *b;          /* [h, w] anomaly scratch */
    double *sums;           /* [2c+1] */
};

void ws_lat_weights(double *w, const double *lat_deg, int h) {
    double sum = 0.0;
    for (int j = 0; j < h; j++) sum += (w[j] = cos(lat_deg[j] * PI / 180.0));
    for (int j = 0; j < h; j++) w[j] *= h / sum;
}

double ws_weighted_rmse(const float *pred, const float *target, int h, int w, const double *lat_weight, double scale) {
    double acc = 0.0;
    for (int j = 0; j < h; j++) {
        double row = 0.0;
        for (int i = 0; i < w; i++) {
            double d = (double)pred[(size_t)j * w + i] - (double)target[(size_t)j * w + i];
            row += d * d;
        }
        acc += lat_weight[j] * row;
    }
    return sqrt(acc / ((double)h * w)) * scale;
}

double ws_weighted_acc(const double *a, const double *b, int h, int w, const double *lat_weight) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            double x = a[(size_t)j * w + i], y = b[(size_t)j * w + i];
            ab += lat_weight[j] * x * y;
            aa += lat_weight[j] * x * x;
            bb += lat_weight[j] * y * y;
        }
    return aa > 0.0 && bb > 0.0 ? ab / sqrt(aa * bb) : NAN;
}

ws_status ws_forecast_metrics_open(ws_forecast_metrics **out, int c, int h, int w, const double *lat_deg,
                                   const double *mean, const double *std, const float *clim, ws_error *err) {
    *out = NULL;
    if (c < 1 || h < 1 || w < 1 || !lat_deg)
        return wsi_error(err, WS_EINVAL, "ws_forecast_metrics_open: %d channels on %dx%d, latitudes %s: need a "
                         "positive shape and the rows' latitudes", c, h, w, lat_deg ? "given" : "missing");
    for (int k = 0; std && k < c; k++)
        if (!(std[k] > 0.0 && isfinite(std[k])))
            return wsi_error(err, WS_EINVAL, "ws_forecast_metrics_open: std[%d] = %g is not positive", k, std[k]);
    ws_forecast_metrics *m = calloc(1, sizeof *m);
    size_t plane = (size_t)h * w;
    if (m) {
        m->lat_weight = malloc((size_t)h * sizeof *m->lat_weight);
        m->mean = malloc((size_t)c * sizeof *m->mean);
        m->std = malloc((size_t)c * sizeof *m->std);
        m->a = malloc(plane * sizeof *m->a);
        m->b = malloc(plane * sizeof *m->b);
        m->sums = calloc(2 * (size_t)c + 1, sizeof *m->sums);
        m->clim = clim ? malloc((size_t)c * plane * sizeof *m->clim) : NULL;
    }
    if (!m || !m->lat_weight || !m->mean || !m->std || !m->a || !m->b || !m->sums || (clim && !m->clim)) {
        ws_forecast_metrics_close(m);
        return wsi_error(err, WS_ENOMEM, "ws_forecast_metrics_open: out of memory");
    }
    m->c = c;
    m->h = h;
    m->w = w;
    ws_lat_weights(m->lat_weight, lat_deg, h);
    for (int k = 0; k < c; k++) {
        m->mean[k] = mean ? mean[k] : 0.0;
        m->std[k] = std ? std[k] : 1.0;
    }
    if (clim) memcpy(m->clim, clim, (size_t)c * plane * sizeof *clim);
    *out = m;
    return WS_OK;
}

void ws_forecast_metrics_add(ws_forecast_metrics *m, const float *pred, const float *target, size_t n) {
    size_t plane = (size_t)m->h * m->w;
    for (size_t s = 0; s < n; s++)
        for (int c = 0; c < m->c; c++) {
            const float *p = pred + (s * m->c + c) * plane, *t = target + (s * m->c + c) * plane;
            m->sums[c] += ws_weighted_rmse(p, t, m->h, m->w, m->lat_weight, m->std[c]);
            if (!m->clim) continue;
            const float *cl = m->clim + (size_t)c * plane;
            for (size_t k = 0; k < plane; k++) { /* de-normalise, then take the anomaly */
                m->a[k] = (double)p[k] * m->std[c] + m->mean[c] - cl[k];
                m->b[k] = (double)t[k] * m->std[c] + m->mean[c] - cl[k];
            }
            m->sums[m->c + c] += ws_weighted_acc(m->a, m->b, m->h, m->w, m->lat_weight);
        }
    m->sums[2 * m->c] += (double)n;
}

double *ws_forecast_metrics_sums(ws_forecast_metrics *m, size_t *len) {
    *len = 2 * (size_t)m->c + 1;
    return m->sums;
}

double ws_forecast_metrics_samples(const ws_forecast_metrics *m) { return m->sums[2 * m->c]; }

void ws_forecast_metrics_result(const ws_forecast_metrics *m, double *rmse, double *acc) {
    double n = m->sums[2 * m->c];
    for (int c = 0; c < m->c; c++) {
        if (rmse) rmse[c] = n > 0 ? m->sums[c] / n : NAN;
        if (acc) acc[c] = n > 0 && m->clim ? m->sums[m->c + c] / n : NAN;
    }
}

void ws_forecast_metrics_reset(ws_forecast_metrics *m) { memset(m->sums, 0, (2 * (size_t)m->c + 1) * sizeof *m->sums); }

void ws_forecast_metrics_close(ws_forecast_metrics *m) {
    if (!m) return;
    free(m->lat_weight);
    free(m->mean);
    free(m->std);
    free(m->clim);
    free(m->a);
    free(m->b);
    free(m->sums);
    free(m);
}
