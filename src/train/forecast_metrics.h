/* train/forecast_metrics.h - FourCastNet's forecast skill scores, in physical units:
 * latitude-weighted RMSE and anomaly correlation coefficient (ACC) per channel, averaged
 * over samples, and the persistence baseline (the same scores for "tomorrow = today").
 * defines: ws_lat_weights, ws_weighted_rmse, ws_weighted_acc, ws_forecast_metrics
 *          (opaque accumulator), ws_forecast_metrics_open, _add, _sums, _samples, _result,
 *          _reset, _close. Implementation: train/forecast_metrics.c.
 *
 * Definitions (NVlabs/FourCastNet utils/weighted_acc_rmse.py):
 *   w_j    = cos(lat_j) / mean_j cos(lat_j)                   (mean 1 over the rows)
 *   RMSE_c = sqrt( mean_{j,i} w_j (pred - target)^2 )          per sample and channel
 *   ACC_c  = sum w_j a b / sqrt(sum w_j a^2 * sum w_j b^2),    a = pred - clim, b = target - clim
 * (no further mean removal, as weighted_acc_torch_channels), each then averaged over the
 * samples (the mean of per-sample scores, not the score of pooled errors), reported per
 * channel. One difference, deliberate: w uses each row's true latitude (ws_fields_info
 * lat_deg), where FourCastNet recomputes 90 - j*180/(H-1) from the row count after
 * dropping ERA5's 721st row (off by < 0.13 degrees at 0.25-degree ERA5).
 * Physical units: predictions and targets arrive normalised, (x - mean)/std as
 * data/fields.h loads them; RMSE is multiplied back by std (FourCastNet's `mult`), ACC is
 * computed on de-normalised fields against the climatology in physical units.
 * Persistence: feed the inputs as predictions (ws_forecast_metrics_add(m, x, y, n) with y
 * the first target step). */
#ifndef WS_TRAIN_FORECAST_METRICS_H
#define WS_TRAIN_FORECAST_METRICS_H

#include <stddef.h>

#include "wattscale/status.h"

/* w [h] from the rows' latitudes in degrees; the weights' mean is 1. */
void ws_lat_weights(double *w, const double *lat_deg, int h);

/* RMSE of one [h, w] plane, times scale (the channel's std; 1 for physical inputs). */
double ws_weighted_rmse(const float *pred, const float *target, int h, int w, const double *lat_weight, double scale);

/* ACC of one plane from anomalies a and b; NaN when either has no variance. */
double ws_weighted_acc(const double *a, const double *b, int h, int w, const double *lat_weight);

typedef struct ws_forecast_metrics ws_forecast_metrics;

/* c channels on an h x w grid with rows at lat_deg [h]. mean, std [c]: the normalisation
 * of the inputs (NULL: inputs are physical). clim [c, h, w] physical climatology
 * (ws_fields_climatology), copied; NULL: no ACC (reported NaN). Errors: WS_EINVAL (a
 * dimension < 1, lat_deg NULL, std not positive), WS_ENOMEM. */
ws_status ws_forecast_metrics_open(ws_forecast_metrics **out, int c, int h, int w, const double *lat_deg,
                                   const double *mean, const double *std, const float *clim, ws_error *err);

/* Adds n samples: pred and target [n, c, h, w], normalised like the inputs. Allocates
 * nothing. Not thread-safe on one accumulator. */
void ws_forecast_metrics_add(ws_forecast_metrics *m, const float *pred, const float *target, size_t n);

/* The running sums, 2c+1 doubles: [0, c) sum of RMSE, [c, 2c) sum of ACC, [2c] samples.
 * Sum them across ranks in place (MPI_Allreduce with MPI_SUM) before ws_forecast_metrics_result. */
double *ws_forecast_metrics_sums(ws_forecast_metrics *m, size_t *len);
double ws_forecast_metrics_samples(const ws_forecast_metrics *m);

/* Per-channel means over the samples added (and reduced): rmse [c] in physical units, acc
 * [c] (either may be NULL). NaN when no sample was added. */
void ws_forecast_metrics_result(const ws_forecast_metrics *m, double *rmse, double *acc);

void ws_forecast_metrics_reset(ws_forecast_metrics *m);
void ws_forecast_metrics_close(ws_forecast_metrics *m); /* NULL is a no-op */

#endif
