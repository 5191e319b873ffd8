/* energy/footprint.c - CO2 and cost from measured energy (wattscale/energy.h).
 * defines: ws_footprint_opts_default, ws_footprint_of.
 * The defaults are documented in README.md ("Footprint"); none of them is a measurement,
 * so every report prints the factors it used next to the result. */
#include "wattscale/energy.h"

#include <stdlib.h>
#include <string.h>

static double env_double(const char *name, double fallback) {
    const char *v = getenv(name);
    if (!v || !*v) return fallback;
    char *end = NULL;
    double x = strtod(v, &end);
    return (end && *end == '\0' && x >= 0) ? x : fallback;
}

ws_footprint_opts ws_footprint_opts_default(void) {
    ws_footprint_opts o;
    memset(&o, 0, sizeof o);
    o.pue = env_double("WATTSCALE_PUE", 1.0);
    o.carbon_g_per_kwh = env_double("WATTSCALE_CARBON_G_PER_KWH", 475.0);
    o.price_per_kwh = env_double("WATTSCALE_PRICE_PER_KWH", 0.30);
    const char *cur = getenv("WATTSCALE_CURRENCY");
    strncpy(o.currency, cur && *cur ? cur : "EUR", sizeof o.currency - 1);
    return o;
}

ws_footprint ws_footprint_of(double energy_j, const ws_footprint_opts *o) {
    ws_footprint f;
    f.facility_energy_j = energy_j * o->pue;
    double kwh = f.facility_energy_j / 3.6e6;
    f.co2_g = kwh * o->carbon_g_per_kwh;
    f.cost = kwh * o->price_per_kwh;
    return f;
}
