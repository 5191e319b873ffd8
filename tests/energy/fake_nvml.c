/* tests/energy/fake_nvml.c - a stand-in libnvidia-ml.so for tests, scripted by a text file.
 * defines (exported, NVML's names and signatures): nvmlInit_v2, nvmlShutdown,
 * nvmlErrorString, nvmlDeviceGetCount_v2, nvmlDeviceGetHandleByIndex_v2, nvmlDeviceGetName,
 * nvmlDeviceGetUUID, nvmlDeviceGetPciInfo_v3, nvmlDeviceGetEnforcedPowerLimit,
 * nvmlDeviceGetTotalEnergyConsumption, nvmlDeviceGetPowerUsage, nvmlDeviceGetFieldValues.
 * Types come from src/energy/nvml_api.h (ours), never nvml.h. Used by tests/energy/test_nvml.c
 * and test_meter.c through wsi_nvml_open(path of this library).
 *
 * Script: the file named by $WATTSCALE_FAKE_NVML_CONFIG, read at nvmlInit (the first of
 * nested inits). Unset: one GPU at a constant 100 W with a counter (all defaults below).
 * One statement a line; '#' starts a comment; words are key=value, a value with spaces in
 * double quotes. Lines:
 *
 *   init=ok|fail|<code>     nvmlInit_v2 succeeds, or returns DRIVER_NOT_LOADED (9) or <code>
 *   gpu <key=value>...      one GPU, in index order; keys (default):
 *     name=<text>           ("NVIDIA H100 80GB HBM3")
 *     uuid=<text>           ("GPU-fa4e0000-0000-0000-0000-00000000000<i>")
 *     bus=<text>            PCI bus id, _v3 form ("00000000:<i+0x18 in hex>:00.0")
 *     limit_mw=<n>          enforced power limit (700000); 0: the call answers NOT_SUPPORTED
 *     power_mw=<n>          power from nvmlInit on (100000)
 *     step_at_s=<t>         from t s after nvmlInit on, power is step_power_mw (never)
 *     step_power_mw=<n>
 *     counter=yes|no        energy counter; no: NOT_SUPPORTED (3) (yes)
 *     counter_start_mj=<n>  counter value at nvmlInit: the real one counts since the driver
 *                           loaded, so code must not assume 0 (123456789)
 *     counter_period_ms=<t> the counter advances only at multiples of t after nvmlInit, as
 *                           the H100's does every 100 ms; 0: continuous (100)
 *     field_energy=yes|no   NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION (83) answers when the GPU
 *                           has a counter (yes)
 *     field_instant=yes|no  NVML_FI_DEV_POWER_INSTANT answers (its per-field return is
 *                           NOT_SUPPORTED when no, like drivers that predate it) (yes)
 *     average_ms=<t>        nvmlDeviceGetPowerUsage returns the mean power of the last t ms
 *                           (H100: about 1000); 0: power now (0)
 *     fail_power=0|1        power and energy calls (and the instant field) return
 *                           UNKNOWN (999) (0)
 *     fail_after_s=<t>      fail_power acts only from t s after nvmlInit on, so a GPU can
 *                           pass the probes at open and fail later (0)
 *
 * Physics: power p(t) is piecewise constant in t = CLOCK_MONOTONIC time since nvmlInit;
 * the counter is counter_start_mj + integral of p, sampled at the last multiple of
 * counter_period_ms, so energy and power always agree. mW x s = mJ.
 * A malformed script makes nvmlInit return UNKNOWN after one line on stderr. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, gettimeofday under -std=c11 */
#endif
#include "energy/nvml_api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_GPUS 32 /* more than a node has: tests go past the 16 GPUs a run record lists per node */

typedef struct {
    char name[WSI_NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    char uuid[WSI_NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char bus[WSI_NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
    unsigned int limit_mw;
    double power_mw;
    double step_at_s; /* < 0: no step */
    double step_power_mw;
    int counter;
    unsigned long long counter_start_mj;
    double counter_period_s;
    int field_instant;
    int field_energy;
    double average_s;
    int fail_power;
    double fail_after_s;
} fake_gpu;

static struct {
    pthread_mutex_t lock; /* guards init_count and the script while (re)loading */
    int init_count;
    int init_rc;
    double t0_s;
    int n_gpus;
    fake_gpu gpus[MAX_GPUS];
} F = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the script ----------------------------------------------------------------------- */

static void gpu_defaults(fake_gpu *g, int i) {
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "NVIDIA H100 80GB HBM3");
    snprintf(g->uuid, sizeof g->uuid, "GPU-fa4e0000-0000-0000-0000-%012d", i);
    snprintf(g->bus, sizeof g->bus, "00000000:%02X:00.0", 0x18 + i);
    g->limit_mw = 700000;
    g->power_mw = 100000;
    g->step_at_s = -1;
    g->counter = 1;
    g->counter_start_mj = 123456789ull;
    g->counter_period_s = 0.1;
    g->field_instant = 1;
    g->field_energy = 1;
}

static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "yes") || !strcmp(v, "1")) *out = 1;
    else if (!strcmp(v, "no") || !strcmp(v, "0")) *out = 0;
    else return 0;
    return 1;
}

static int parse_num(const char *v, double *out) {
    char *end;
    *out = strtod(v, &end);
    return end != v && *end == '\0';
}

/* One key=value of a gpu line; 0 if unknown or malformed. */
static int gpu_set(fake_gpu *g, const char *key, const char *v) {
    double x;
    if (!strcmp(key, "name")) return snprintf(g->name, sizeof g->name, "%s", v) >= 0;
    if (!strcmp(key, "uuid")) return snprintf(g->uuid, sizeof g->uuid, "%s", v) >= 0;
    if (!strcmp(key, "bus")) return snprintf(g->bus, sizeof g->bus, "%s", v) >= 0;
    if (!strcmp(key, "counter")) return parse_bool(v, &g->counter);
    if (!strcmp(key, "field_instant")) return parse_bool(v, &g->field_instant);
    if (!strcmp(key, "field_energy")) return parse_bool(v, &g->field_energy);
    if (!strcmp(key, "fail_power")) return parse_bool(v, &g->fail_power);
    if (!parse_num(v, &x) || x < 0) return 0;
    if (!strcmp(key, "limit_mw")) g->limit_mw = (unsigned int)x;
    else if (!strcmp(key, "power_mw")) g->power_mw = x;
    else if (!strcmp(key, "step_at_s")) g->step_at_s = x;
    else if (!strcmp(key, "step_power_mw")) g->step_power_mw = x;
    else if (!strcmp(key, "counter_start_mj")) g->counter_start_mj = (unsigned long long)x;
    else if (!strcmp(key, "counter_period_ms")) g->counter_period_s = x / 1000.0;
    else if (!strcmp(key, "average_ms")) g->average_s = x / 1000.0;
    else if (!strcmp(key, "fail_after_s")) g->fail_after_s = x;
    else return 0;
    return 1;
}

/* Splits the next word of *p into key and value (in place); 0 at the end of the line. */
static int next_word(char **p, char **key, char **value) {
    char *s = *p;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '\0' || *s == '#') return 0;
    *key = s;
    while (*s && *s != '=' && *s != ' ' && *s != '\t') s++;
    if (*s != '=') { /* a bare word: the line's kind ("gpu") */
        if (*s) *s++ = '\0';
        *value = NULL;
        *p = s;
        return 1;
    }
    *s++ = '\0';
    if (*s == '"') {
        *value = ++s;
        while (*s && *s != '"') s++;
    } else {
        *value = s;
        while (*s && *s != ' ' && *s != '\t') s++;
    }
    if (*s) *s++ = '\0';
    *p = s;
    return 1;
}

static int script_error(const char *path, int line_no, const char *what, const char *word) {
    fprintf(stderr, "fake_nvml: %s:%d: %s '%s'\n", path, line_no, what, word);
    return WSI_NVML_ERROR_UNKNOWN;
}

/* Loads the script into F; returns the code nvmlInit will answer. */
static int load_script(void) {
    F.init_rc = WSI_NVML_SUCCESS;
    F.n_gpus = 0;
    const char *path = getenv("WATTSCALE_FAKE_NVML_CONFIG");
    if (!path || !*path) {
        gpu_defaults(&F.gpus[0], 0);
        F.n_gpus = 1;
        return WSI_NVML_SUCCESS;
    }
    FILE *f = fopen(path, "r");
    if (!f) return script_error(path, 0, "cannot open", path);
    char line[1024];
    int line_no = 0, rc = WSI_NVML_SUCCESS;
    while (rc == WSI_NVML_SUCCESS && fgets(line, sizeof line, f)) {
        line_no++;
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line, *key, *value;
        if (!next_word(&p, &key, &value)) continue;
        if (value && !strcmp(key, "init")) {
            if (!strcmp(value, "ok")) F.init_rc = WSI_NVML_SUCCESS;
            else if (!strcmp(value, "fail")) F.init_rc = WSI_NVML_ERROR_DRIVER_NOT_LOADED;
            else F.init_rc = atoi(value);
        } else if (!value && !strcmp(key, "gpu")) {
            if (F.n_gpus == MAX_GPUS) { rc = script_error(path, line_no, "too many GPUs at", key); break; }
            fake_gpu *g = &F.gpus[F.n_gpus];
            gpu_defaults(g, F.n_gpus);
            while (rc == WSI_NVML_SUCCESS && next_word(&p, &key, &value))
                if (!value || !gpu_set(g, key, value)) rc = script_error(path, line_no, "bad gpu setting", key);
            F.n_gpus++;
        } else {
            rc = script_error(path, line_no, "unknown statement", key);
        }
    }
    fclose(f);
    return rc != WSI_NVML_SUCCESS ? rc : F.init_rc;
}

/* ---- the physics ---------------------------------------------------------------------- */

static double now_s(void) { return mono_s() - F.t0_s; }

static double power_at_mw(const fake_gpu *g, double t) {
    return g->step_at_s >= 0 && t >= g->step_at_s ? g->step_power_mw : g->power_mw;
}

/* Integral of p from 0 to t, in mJ; before nvmlInit (t < 0) power was power_mw. */
static double energy_to_mj(const fake_gpu *g, double t) {
    if (g->step_at_s < 0 || t <= g->step_at_s) return g->power_mw * t;
    return g->power_mw * g->step_at_s + g->step_power_mw * (t - g->step_at_s);
}

static int failing(const fake_gpu *g) { return g->fail_power && now_s() >= g->fail_after_s; }

static unsigned long long counter_mj(const fake_gpu *g, double t) {
    if (g->counter_period_s > 0) t = (double)(long long)(t / g->counter_period_s) * g->counter_period_s;
    return g->counter_start_mj + (unsigned long long)(energy_to_mj(g, t) + 0.5);
}

/* ---- NVML ----------------------------------------------------------------------------- */

/* The handle is the address of our record; anything else is rejected, as NVML does. */
static fake_gpu *gpu_of(wsi_nvml_device d) {
    for (int i = 0; i < F.n_gpus; i++)
        if ((void *)d == (void *)&F.gpus[i]) return &F.gpus[i];
    return NULL;
}

/* Common checks of the per-device calls. */
static int check(wsi_nvml_device d, const void *out, fake_gpu **g) {
    if (F.init_count == 0) return WSI_NVML_ERROR_UNINITIALIZED;
    if (!out || !(*g = gpu_of(d))) return WSI_NVML_ERROR_INVALID_ARGUMENT;
    return WSI_NVML_SUCCESS;
}

EXPORT wsi_nvml_return nvmlInit_v2(void) {
    pthread_mutex_lock(&F.lock);
    int rc = WSI_NVML_SUCCESS;
    if (F.init_count == 0) {
        rc = load_script();
        F.t0_s = mono_s();
    }
    if (rc == WSI_NVML_SUCCESS) F.init_count++;
    pthread_mutex_unlock(&F.lock);
    return rc;
}

EXPORT wsi_nvml_return nvmlShutdown(void) {
    pthread_mutex_lock(&F.lock);
    int rc = WSI_NVML_ERROR_UNINITIALIZED;
    if (F.init_count > 0) {
        F.init_count--;
        rc = WSI_NVML_SUCCESS;
    }
    pthread_mutex_unlock(&F.lock);
    return rc;
}

/* The real library's words for the codes we produce (as driver 580's nvmlErrorString spells them). */
EXPORT const char *nvmlErrorString(wsi_nvml_return result) {
    switch (result) {
    case WSI_NVML_SUCCESS: return "Success";
    case WSI_NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case WSI_NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case WSI_NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case WSI_NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case WSI_NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case WSI_NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case WSI_NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case WSI_NVML_ERROR_UNKNOWN: return "Unknown Error";
    default: return "Unknown Error";
    }
}

EXPORT wsi_nvml_return nvmlDeviceGetCount_v2(unsigned int *device_count) {
    if (F.init_count == 0) return WSI_NVML_ERROR_UNINITIALIZED;
    if (!device_count) return WSI_NVML_ERROR_INVALID_ARGUMENT;
    *device_count = (unsigned int)F.n_gpus;
    return WSI_NVML_SUCCESS;
}

EXPORT wsi_nvml_return nvmlDeviceGetHandleByIndex_v2(unsigned int index, wsi_nvml_device *device) {
    if (F.init_count == 0) return WSI_NVML_ERROR_UNINITIALIZED;
    if (!device || index >= (unsigned int)F.n_gpus) return WSI_NVML_ERROR_INVALID_ARGUMENT;
    *device = (wsi_nvml_device)(void *)&F.gpus[index];
    return WSI_NVML_SUCCESS;
}

static wsi_nvml_return copy_out(const char *src, char *dst, unsigned int length) {
    if (strlen(src) + 1 > length) return WSI_NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return WSI_NVML_SUCCESS;
}

EXPORT wsi_nvml_return nvmlDeviceGetName(wsi_nvml_device device, char *name, unsigned int length) {
    fake_gpu *g;
    int rc = check(device, name, &g);
    return rc != WSI_NVML_SUCCESS ? rc : copy_out(g->name, name, length);
}

EXPORT wsi_nvml_return nvmlDeviceGetUUID(wsi_nvml_device device, char *uuid, unsigned int length) {
    fake_gpu *g;
    int rc = check(device, uuid, &g);
    return rc != WSI_NVML_SUCCESS ? rc : copy_out(g->uuid, uuid, length);
}

EXPORT wsi_nvml_return nvmlDeviceGetPciInfo_v3(wsi_nvml_device device, wsi_nvml_pci_info *pci) {
    fake_gpu *g;
    int rc = check(device, pci, &g);
    if (rc != WSI_NVML_SUCCESS) return rc;
    memset(pci, 0, sizeof *pci);
    snprintf(pci->bus_id, sizeof pci->bus_id, "%s", g->bus);
    /* "00000000:1B:00.0" -> domain, bus, device, and the legacy "0000:1B:00.0" */
    if (sscanf(g->bus, "%x:%x:%x", &pci->domain, &pci->bus, &pci->device) == 3)
        snprintf(pci->bus_id_legacy, sizeof pci->bus_id_legacy, "%04X:%02X:%02X.0", pci->domain & 0xFFFFu,
                 pci->bus & 0xFFu, pci->device & 0x1Fu);
    pci->pci_device_id = 0x233010DE; /* H100 SXM5 80GB: device 0x2330, vendor NVIDIA */
    return WSI_NVML_SUCCESS;
}

EXPORT wsi_nvml_return nvmlDeviceGetEnforcedPowerLimit(wsi_nvml_device device, unsigned int *limit_mw) {
    fake_gpu *g;
    int rc = check(device, limit_mw, &g);
    if (rc != WSI_NVML_SUCCESS) return rc;
    if (g->limit_mw == 0) return WSI_NVML_ERROR_NOT_SUPPORTED;
    *limit_mw = g->limit_mw;
    return WSI_NVML_SUCCESS;
}

EXPORT wsi_nvml_return nvmlDeviceGetTotalEnergyConsumption(wsi_nvml_device device, unsigned long long *energy_mj) {
    fake_gpu *g;
    int rc = check(device, energy_mj, &g);
    if (rc != WSI_NVML_SUCCESS) return rc;
    if (!g->counter) return WSI_NVML_ERROR_NOT_SUPPORTED;
    if (failing(g)) return WSI_NVML_ERROR_UNKNOWN;
    *energy_mj = counter_mj(g, now_s());
    return WSI_NVML_SUCCESS;
}

EXPORT wsi_nvml_return nvmlDeviceGetPowerUsage(wsi_nvml_device device, unsigned int *power_mw) {
    fake_gpu *g;
    int rc = check(device, power_mw, &g);
    if (rc != WSI_NVML_SUCCESS) return rc;
    if (failing(g)) return WSI_NVML_ERROR_UNKNOWN;
    double t = now_s();
    double mw = g->average_s > 0 ? (energy_to_mj(g, t) - energy_to_mj(g, t - g->average_s)) / g->average_s
                                 : power_at_mw(g, t);
    *power_mw = (unsigned int)(mw + 0.5);
    return WSI_NVML_SUCCESS;
}

/* Only POWER_INSTANT and TOTAL_ENERGY_CONSUMPTION are known; other fields fail per field, as unknown ids do
 * in the real library, while the call itself succeeds. */
EXPORT wsi_nvml_return nvmlDeviceGetFieldValues(wsi_nvml_device device, int values_count,
                                                wsi_nvml_field_value *values) {
    fake_gpu *g;
    int rc = check(device, values, &g);
    if (rc != WSI_NVML_SUCCESS) return rc;
    if (values_count <= 0) return WSI_NVML_ERROR_INVALID_ARGUMENT;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    for (int i = 0; i < values_count; i++) {
        wsi_nvml_field_value *v = &values[i];
        v->timestamp_us = (long long)tv.tv_sec * 1000000 + tv.tv_usec;
        v->latency_us = 0;
        if (v->field_id == WSI_NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION && g->field_energy && g->counter) {
            v->nvml_return = failing(g) ? WSI_NVML_ERROR_UNKNOWN : WSI_NVML_SUCCESS;
            v->value_type = WSI_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
            v->value.ull_val = failing(g) ? 0 : counter_mj(g, now_s());
        } else if (v->field_id != WSI_NVML_FI_DEV_POWER_INSTANT || !g->field_instant) {
            v->nvml_return = WSI_NVML_ERROR_NOT_SUPPORTED;
        } else if (failing(g)) {
            v->nvml_return = WSI_NVML_ERROR_UNKNOWN;
        } else {
            v->nvml_return = WSI_NVML_SUCCESS;
            v->value_type = WSI_NVML_VALUE_TYPE_UNSIGNED_INT;
            v->value.ui_val = (unsigned int)(power_at_mw(g, now_s()) + 0.5);
        }
    }
    return WSI_NVML_SUCCESS;
}

/* Each export has exactly the type energy/nvml.c casts its dlsym result to: a mismatch is
 * an incompatible-pointer warning here (-Werror in CI), not a wrong call at run time. */
__attribute__((unused)) static const struct {
    wsi_nvml_init_fn init;
    wsi_nvml_shutdown_fn shutdown;
    wsi_nvml_error_string_fn error_string;
    wsi_nvml_device_get_count_fn get_count;
    wsi_nvml_device_get_handle_by_index_fn get_handle;
    wsi_nvml_device_get_name_fn get_name;
    wsi_nvml_device_get_uuid_fn get_uuid;
    wsi_nvml_device_get_pci_info_fn get_pci_info;
    wsi_nvml_device_get_enforced_power_limit_fn get_power_limit;
    wsi_nvml_device_get_total_energy_consumption_fn get_total_energy;
    wsi_nvml_device_get_power_usage_fn get_power_usage;
    wsi_nvml_device_get_field_values_fn get_field_values;
} signatures_match = {
    nvmlInit_v2,
    nvmlShutdown,
    nvmlErrorString,
    nvmlDeviceGetCount_v2,
    nvmlDeviceGetHandleByIndex_v2,
    nvmlDeviceGetName,
    nvmlDeviceGetUUID,
    nvmlDeviceGetPciInfo_v3,
    nvmlDeviceGetEnforcedPowerLimit,
    nvmlDeviceGetTotalEnergyConsumption,
    nvmlDeviceGetPowerUsage,
    nvmlDeviceGetFieldValues,
};
