/* energy/energy_json.c - meter figures as JSON; contract in energy/energy_json.h.
 * Absent figures are written as null, never as 0: a reader must not mistake "no sensor"
 * for "no energy". */
#include "energy/energy_json.h"
#include "core/json.h"

#include <math.h>

cJSON *wsi_energy_device_json(const ws_device_info *info, const ws_device_energy *e, double observed_period_s) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int has = e->source != WS_SOURCE_NONE;
    cJSON_AddStringToObject(o, "kind", ws_domain_name(info->domain));
    cJSON_AddStringToObject(o, "name", info->name);
    cJSON_AddStringToObject(o, "id", info->id);
    if (info->bus_id[0]) cJSON_AddStringToObject(o, "bus_id", info->bus_id);
    cJSON_AddStringToObject(o, "backend", info->backend);
    cJSON_AddStringToObject(o, "source", ws_source_name(e->source));
    cJSON_AddItemToObject(o, "energy_j", ws_json_num_or_null(has, e->energy_j));
    cJSON_AddItemToObject(o, "energy_wh", ws_json_num_or_null(has, e->energy_j / 3600.0));
    cJSON_AddItemToObject(o, "uncertainty_j", ws_json_num_or_null(has, e->uncertainty_j));
    cJSON_AddItemToObject(o, "mean_power_w", ws_json_num_or_null(has, e->mean_power_w));
    cJSON_AddItemToObject(o, "max_power_w", ws_json_num_or_null(has, e->max_power_w));
    cJSON_AddItemToObject(o, "counter_energy_j", ws_json_num_or_null(e->has_counter, e->counter_energy_j));
    cJSON_AddItemToObject(o, "integral_energy_j", ws_json_num_or_null(e->has_integral, e->integral_energy_j));
    cJSON_AddItemToObject(o, "counter_vs_integral_rel",
                          ws_json_num_or_null(e->has_counter && e->has_integral, e->difference_rel));
    cJSON_AddStringToObject(o, "power_kind", info->power_kind);
    cJSON_AddNumberToObject(o, "samples", (double)e->samples);
    cJSON_AddNumberToObject(o, "duration_s", e->duration_s);
    cJSON_AddItemToObject(o, "power_limit_w", ws_json_num_or_null(info->power_limit_w > 0, info->power_limit_w));
    cJSON_AddItemToObject(o, "counter_period_s",
                          ws_json_num_or_null(info->has_counter && info->counter_period_s > 0, info->counter_period_s));
    cJSON_AddItemToObject(o, "observed_counter_period_s",
                          ws_json_num_or_null(observed_period_s > 0, observed_period_s));
    cJSON_AddItemToObject(o, "idle_power_w", ws_json_num_or_null(e->has_idle, e->idle_power_w));
    cJSON_AddItemToObject(o, "energy_above_idle_j", ws_json_num_or_null(e->has_idle, e->energy_above_idle_j));
    return o;
}

cJSON *wsi_energy_missing_json(const ws_meter *m) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < ws_meter_missing_count(m); i++) {
        const ws_missing_domain *x = ws_meter_missing(m, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", ws_domain_name(x->domain));
        cJSON_AddStringToObject(o, "status", ws_status_name(x->code));
        cJSON_AddStringToObject(o, "reason", x->reason);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

cJSON *wsi_energy_left_out_json(const ws_meter *m) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < ws_meter_left_out_count(m); i++) {
        const ws_left_out_device *x = ws_meter_left_out(m, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", ws_domain_name(x->domain));
        cJSON_AddStringToObject(o, "name", x->name);
        cJSON_AddStringToObject(o, "id", x->id);
        if (x->bus_id[0]) cJSON_AddStringToObject(o, "bus_id", x->bus_id);
        cJSON_AddStringToObject(o, "reason", x->reason);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

double wsi_energy_sum(const ws_meter *m, const ws_device_energy *e, size_t n, double by_domain[WS_DOMAIN_COUNT],
                      double *uncertainty_j) {
    double total = 0, unc = 0;
    for (int d = 0; d < WS_DOMAIN_COUNT; d++)
        by_domain[d] = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].source == WS_SOURCE_NONE) continue;
        const ws_device_info *info = ws_meter_device(m, i);
        total += e[i].energy_j;
        unc += e[i].uncertainty_j; /* linear sum: the end effects of devices are correlated */
        by_domain[info->domain] += e[i].energy_j;
    }
    if (uncertainty_j) *uncertainty_j = unc;
    return total;
}

cJSON *wsi_energy_totals_json(const ws_meter *m, const ws_device_energy *e, size_t n, double duration_s) {
    double by[WS_DOMAIN_COUNT], unc = 0;
    double total = wsi_energy_sum(m, e, n, by, &unc);
    int present[WS_DOMAIN_COUNT] = {0};
    double above = 0;
    int all_idle = n > 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].source == WS_SOURCE_NONE) continue;
        present[ws_meter_device(m, i)->domain] = 1;
        if (e[i].has_idle)
            above += e[i].energy_above_idle_j;
        else
            all_idle = 0;
    }
    /* With no device measured the total is unknown, not zero. */
    int any = present[WS_DOMAIN_GPU] || present[WS_DOMAIN_CPU] || present[WS_DOMAIN_DRAM];
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddItemToObject(o, "energy_j", ws_json_num_or_null(any, total));
    cJSON_AddItemToObject(o, "energy_wh", ws_json_num_or_null(any, total / 3600.0));
    cJSON_AddItemToObject(o, "energy_kwh", ws_json_num_or_null(any, total / 3.6e6));
    cJSON_AddItemToObject(o, "uncertainty_j", ws_json_num_or_null(any, unc));
    cJSON_AddItemToObject(o, "mean_power_w", ws_json_num_or_null(any && duration_s > 0, total / duration_s));
    cJSON_AddItemToObject(o, "energy_above_idle_j", ws_json_num_or_null(any && all_idle, above));
    cJSON_AddStringToObject(o, "domains_measured",
                            present[WS_DOMAIN_GPU] && present[WS_DOMAIN_CPU] && present[WS_DOMAIN_DRAM] ? "all"
                            : any                                                                       ? "partial"
                                                                                                        : "none");
    cJSON *bd = cJSON_AddObjectToObject(o, "by_domain_j");
    for (int d = 0; d < WS_DOMAIN_COUNT; d++)
        cJSON_AddItemToObject(bd, ws_domain_name((ws_domain)d), ws_json_num_or_null(present[d], by[d]));
    return o;
}
