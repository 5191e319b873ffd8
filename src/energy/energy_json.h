/* energy/energy_json.h - meter figures as cJSON objects, shared by `wattscale measure`
 * and the run records of `wattscale train` (internal).
 * defines: wsi_energy_device_json, wsi_energy_missing_json, wsi_energy_left_out_json,
 * wsi_energy_totals_json. */
#ifndef WS_ENERGY_JSON_H
#define WS_ENERGY_JSON_H

#include <cjson/cJSON.h>
#include "wattscale/energy.h"

/* {"kind","name","id",...,"source","energy_j","mean_power_w",...}; NULL on no memory. */
cJSON *wsi_energy_device_json(const ws_device_info *info, const ws_device_energy *e, double observed_period_s);
/* [{"kind","status","reason"}] for every domain of the meter without a sensor. */
cJSON *wsi_energy_missing_json(const ws_meter *m);
/* [{"kind","name","id","bus_id","reason"}] for every device the GPU selection left out. */
cJSON *wsi_energy_left_out_json(const ws_meter *m);
/* {"energy_j","energy_wh","uncertainty_j","by_domain":{...},...} over n devices. */
cJSON *wsi_energy_totals_json(const ws_meter *m, const ws_device_energy *e, size_t n, double duration_s);
/* Sums of the devices' energies: all, and per domain (index ws_domain). */
double wsi_energy_sum(const ws_meter *m, const ws_device_energy *e, size_t n, double by_domain[WS_DOMAIN_COUNT],
                      double *uncertainty_j);

#endif
