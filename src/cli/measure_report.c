/* cli/measure_report.c - the stderr table and the JSON report of `wattscale measure`;
 * contract in cli/measure_report.h. */
#include "cli/measure_report.h"
#include "core/error.h"
#include "core/json.h"
#include "energy/energy_json.h"
#include "wattscale/wattscale.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void print_command(FILE *f, char *const *argv) {
    for (size_t i = 0; argv[i]; i++)
        fprintf(f, "%s%s", i ? " " : "", argv[i]);
}

void ws_measure_print_table(FILE *f, const ws_measure_result *r) {
    const ws_meter *m = r->meter;
    size_t n = ws_meter_device_count(m);
    fprintf(f, "\nwattscale measure: `");
    print_command(f, r->command);
    if (r->term_signal)
        fprintf(f, "` killed by signal %d after %.2f s\n", r->term_signal, r->duration_s);
    else
        fprintf(f, "` exited %d after %.2f s\n", r->exit_code, r->duration_s);
    fprintf(f, "%-34s %-4s %-14s %12s %9s %8s %8s %9s %9s\n", "device", "kind", "source", "energy J", "Wh", "mean W",
            "max W", "+-J", "int-cnt");
    for (size_t i = 0; i < n; i++) {
        const ws_device_info *info = ws_meter_device(m, i);
        const ws_device_energy *e = &r->energy[i];
        char label[64];
        snprintf(label, sizeof label, "%.33s", info->name);
        if (e->source == WS_SOURCE_NONE) {
            fprintf(f, "%-34s %-4s %-14s %12s   (no readings: see warnings)\n", label, ws_domain_name(info->domain),
                    "none", "-");
            continue;
        }
        char diff[16] = "-";
        if (e->has_counter && e->has_integral) snprintf(diff, sizeof diff, "%+.1f%%", 100.0 * e->difference_rel);
        fprintf(f, "%-34s %-4s %-14s %12.1f %9.4f %8.1f %8.1f %9.1f %9s\n", label, ws_domain_name(info->domain),
                ws_source_name(e->source), e->energy_j, e->energy_j / 3600.0, e->mean_power_w, e->max_power_w,
                e->uncertainty_j, diff);
        if (e->has_idle)
            fprintf(f, "%-34s idle %.1f W, above idle %.1f J\n", "", e->idle_power_w, e->energy_above_idle_j);
    }
    double by[WS_DOMAIN_COUNT], unc = 0;
    double total = wsi_energy_sum(m, r->energy, n, by, &unc);
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= r->energy[i].source != WS_SOURCE_NONE;
    if (any)
        fprintf(f, "%-34s %-4s %-14s %12.1f %9.4f %8.1f %8s %9.1f\n", "total (measured domains)", "", "", total,
                total / 3600.0, r->duration_s > 0 ? total / r->duration_s : 0.0, "", unc);
    else
        fprintf(f, "total: nothing measured: this machine has no readable energy sensor (reasons below)\n");
    for (size_t i = 0; i < ws_meter_missing_count(m); i++) {
        const ws_missing_domain *x = ws_meter_missing(m, i);
        fprintf(f, "not measured: %s: %s\n", ws_domain_name(x->domain), x->reason);
    }
    for (size_t i = 0; i < ws_meter_left_out_count(m); i++) {
        const ws_left_out_device *x = ws_meter_left_out(m, i);
        fprintf(f, "left out: %s %s (%s): %s (--gpus)\n", ws_domain_name(x->domain), x->name, x->id, x->reason);
    }
    ws_footprint fp = ws_footprint_of(total, &r->footprint);
    if (any)
        fprintf(f,
                "footprint: %.6f kWh x PUE %.2f -> %.3f gCO2e at %.0f g/kWh, %.5f %s at %.2f %s/kWh (factors, not "
                "measurements)\n",
                total / 3.6e6, r->footprint.pue, fp.co2_g, r->footprint.carbon_g_per_kwh, fp.cost,
                r->footprint.currency, r->footprint.price_per_kwh, r->footprint.currency);
    double cpu = ws_meter_sampler_cpu_s(m);
    fprintf(f, "meter: %zu devices every %.0f ms; its thread used %.3f s CPU (%.3f%% of one core)\n", n, r->interval_ms,
            cpu, r->duration_s > 0 ? 100.0 * cpu / r->duration_s : 0.0);
}

static cJSON *command_json(char *const *argv) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && argv[i]; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
    return a;
}

ws_status ws_measure_write_json(const char *path, const ws_measure_result *r, ws_error *err) {
    const ws_meter *m = r->meter;
    size_t n = ws_meter_device_count(m);
    cJSON *root = cJSON_CreateObject();
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    cJSON_AddStringToObject(root, "schema", "wattscale.measure/1");
    cJSON_AddStringToObject(root, "wattscale_version", ws_version());
    cJSON_AddStringToObject(root, "host", host);
    cJSON_AddStringToObject(root, "start_time", r->start_time);
    cJSON_AddItemToObject(root, "command", command_json(r->command));
    cJSON_AddNumberToObject(root, "duration_s", r->duration_s);
    cJSON_AddNumberToObject(root, "exit_code", r->exit_code);
    if (r->term_signal) cJSON_AddNumberToObject(root, "signal", r->term_signal);
    cJSON_AddNumberToObject(root, "interval_ms", r->interval_ms);
    cJSON_AddNumberToObject(root, "idle_seconds", r->idle_seconds);
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(devs, wsi_energy_device_json(ws_meter_device(m, i), &r->energy[i],
                                                          ws_meter_observed_counter_period_s(m, i)));
    cJSON_AddItemToObject(root, "missing", wsi_energy_missing_json(m));
    cJSON_AddItemToObject(root, "left_out", wsi_energy_left_out_json(m));
    cJSON *totals = wsi_energy_totals_json(m, r->energy, n, r->duration_s);
    cJSON_AddItemToObject(root, "totals", totals);
    double by[WS_DOMAIN_COUNT];
    double total = wsi_energy_sum(m, r->energy, n, by, NULL);
    ws_footprint fp = ws_footprint_of(total, &r->footprint);
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= r->energy[i].source != WS_SOURCE_NONE;
    cJSON *f = any ? cJSON_AddObjectToObject(root, "footprint") : NULL;
    if (!any) cJSON_AddNullToObject(root, "footprint");
    if (f) {
        cJSON_AddNumberToObject(f, "pue", r->footprint.pue);
        cJSON_AddNumberToObject(f, "carbon_g_per_kwh", r->footprint.carbon_g_per_kwh);
        cJSON_AddNumberToObject(f, "price_per_kwh", r->footprint.price_per_kwh);
        cJSON_AddStringToObject(f, "currency", r->footprint.currency);
        cJSON_AddNumberToObject(f, "facility_energy_j", fp.facility_energy_j);
        cJSON_AddNumberToObject(f, "co2_g", fp.co2_g);
        cJSON_AddNumberToObject(f, "cost", fp.cost);
        cJSON_AddStringToObject(f, "note", "derived with the factors above, which are assumptions, not measurements");
    }
    cJSON *meter = cJSON_AddObjectToObject(root, "meter");
    double cpu = ws_meter_sampler_cpu_s(m);
    cJSON_AddNumberToObject(meter, "sampler_cpu_s", cpu);
    cJSON_AddNumberToObject(meter, "sampler_cpu_fraction_of_core", r->duration_s > 0 ? cpu / r->duration_s : 0.0);
    cJSON *w = cJSON_AddArrayToObject(root, "warnings");
    for (size_t i = 0; i < ws_meter_warning_count(m); i++)
        cJSON_AddItemToArray(w, cJSON_CreateString(ws_meter_warning(m, i)));
    ws_status st = ws_json_write_file(path, root, err);
    cJSON_Delete(root);
    return st;
}
