/* bench/energy/nvml_call_cost.c - what one NVML call costs on this machine, in wall time
 * and in CPU time of the calling thread: the meter's overhead is (calls per sample) x this.
 * usage: ws_nvml_call_cost [CALLS]   (GPU 0; default 200 calls of each kind)
 * One JSON line per call kind on stdout. */
#define _GNU_SOURCE
#include "energy/nvml_api.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define WSI_NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION 83

int main(int argc, char **argv) {
    int calls = argc > 1 ? atoi(argv[1]) : 200;
    void *dl = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "ws_nvml_call_cost: %s\n", dlerror());
        return 1;
    }
    wsi_nvml_init_fn init = (wsi_nvml_init_fn)dlsym(dl, "nvmlInit_v2");
    wsi_nvml_device_get_handle_by_index_fn handle_of =
        (wsi_nvml_device_get_handle_by_index_fn)dlsym(dl, "nvmlDeviceGetHandleByIndex_v2");
    wsi_nvml_device_get_total_energy_consumption_fn energy =
        (wsi_nvml_device_get_total_energy_consumption_fn)dlsym(dl, "nvmlDeviceGetTotalEnergyConsumption");
    wsi_nvml_device_get_power_usage_fn power = (wsi_nvml_device_get_power_usage_fn)dlsym(dl, "nvmlDeviceGetPowerUsage");
    wsi_nvml_device_get_field_values_fn fields =
        (wsi_nvml_device_get_field_values_fn)dlsym(dl, "nvmlDeviceGetFieldValues");
    if (!init || !handle_of || !energy || !power || !fields || init() != 0) {
        fprintf(stderr, "ws_nvml_call_cost: NVML symbols or init failed\n");
        return 1;
    }
    wsi_nvml_device dev;
    if (handle_of(0, &dev) != 0) return 1;
    for (int kind = 0; kind < 4; kind++) {
        static const char *names[] = {"nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage",
                                      "nvmlDeviceGetFieldValues(POWER_INSTANT)",
                                      "nvmlDeviceGetFieldValues(POWER_INSTANT+TOTAL_ENERGY)"};
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), wmax = 0;
        int failures = 0;
        for (int i = 0; i < calls; i++) {
            double t = clock_s(CLOCK_MONOTONIC);
            unsigned long long mj;
            unsigned int mw;
            wsi_nvml_field_value fv[2];
            memset(fv, 0, sizeof fv);
            fv[0].field_id = WSI_NVML_FI_DEV_POWER_INSTANT;
            fv[1].field_id = WSI_NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION;
            int rc = kind == 0 ? energy(dev, &mj) : kind == 1 ? power(dev, &mw) : fields(dev, kind == 2 ? 1 : 2, fv);
            failures += rc != 0;
            double dt = clock_s(CLOCK_MONOTONIC) - t;
            if (dt > wmax) wmax = dt;
        }
        double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        printf("{\"call\": \"%s\", \"calls\": %d, \"failures\": %d, \"wall_ms_mean\": %.4f, \"wall_ms_max\": %.3f, "
               "\"cpu_ms_mean\": %.4f}\n",
               names[kind], calls, failures, 1e3 * wall / calls, 1e3 * wmax, 1e3 * cpu / calls);
    }
    return 0;
}
