/* energy/names.c - printable names of domains and energy sources (wattscale/energy.h). */
#include "wattscale/energy.h"

const char *ws_domain_name(ws_domain d) {
    switch (d) {
    case WS_DOMAIN_GPU: return "gpu";
    case WS_DOMAIN_CPU: return "cpu";
    case WS_DOMAIN_DRAM: return "dram";
    default: return "unknown";
    }
}

const char *ws_source_name(ws_source s) {
    switch (s) {
    case WS_SOURCE_COUNTER: return "counter";
    case WS_SOURCE_POWER_INTEGRAL: return "power_integral";
    case WS_SOURCE_ESTIMATE: return "estimate";
    default: return "none";
    }
}
