/* energy/nvml.c - the NVIDIA GPU sensor: NVML loaded at run time with dlopen.
 * defines: wsi_nvml_open (contract in energy/sensor.h).
 * NVML declarations: energy/nvml_api.h (ours; no nvml.h at build time). Test double:
 * tests/energy/fake_nvml.c, a stand-in libnvidia-ml.so scripted by a text file.
 *
 * Per GPU, decided once at open:
 *   - energy: nvmlDeviceGetTotalEnergyConsumption, a 64-bit count of mJ since the driver
 *     loaded (Volta and newer). NOT_SUPPORTED means no counter: the meter then integrates
 *     power instead, and we say so through warn().
 *   - power: the field NVML_FI_DEV_POWER_INSTANT (power now) where the driver has it, else
 *     nvmlDeviceGetPowerUsage, which on H100 is an average over about the last second:
 *     just after a 143 W -> 787 W step the field read 787 W and the call 335 W, reaching
 *     about 700 W a second later (H100 80GB HBM3, driver 580). So the instant field is
 *     preferred; power_kind tells the caller which one it gets.
 * NVML returns one status per call; every failure becomes one line naming the call, the
 * GPU (index and UUID) and nvmlErrorString's words. Nothing here exits. */
#include "energy/sensor.h"

#include "core/error.h"
#include "energy/nvml_api.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIBRARY "libnvidia-ml.so.1"

/* Update period of the energy counter. Measured on an H100 80GB HBM3 (driver 580.159.04):
 * polled every ~5 ms for 6 s, the counter changed 59 times, on average every 0.100 s
 * (0.076 to 0.124 s apart as seen by the poller). The meter turns it into the counter's
 * uncertainty (up to one period of power at each end of an interval). Other GPUs may
 * differ; 0.1 s is what we know. */
#define COUNTER_PERIOD_S 0.1

typedef struct {
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
    wsi_nvml_device_get_field_values_fn get_field_values; /* optional: NULL in old drivers */
    /* Names actually resolved, for messages ("nvmlInit_v2" or "nvmlInit"). */
    const char *init_name;
    int pci_info_version; /* 3: fills bus_id; 2 or 1: the older layout (see nvml_api.h) */
} nvml_fns;

typedef struct {
    wsi_nvml_device handle;
    unsigned int index;      /* NVML's index, as nvidia-smi shows it */
    int power_instant;       /* 1: NVML_FI_DEV_POWER_INSTANT; 0: nvmlDeviceGetPowerUsage */
    int fields_combined;     /* 1: power and energy come from one nvmlDeviceGetFieldValues call */
    ws_device_info info;
} nvml_gpu;

typedef struct {
    wsi_sensor base;         /* first: a wsi_sensor * is a nvml_sensor * */
    void *dl;
    nvml_fns fn;
    size_t n_gpus;
    nvml_gpu gpus[];         /* n_gpus entries, NVML's order */
} nvml_sensor;

/* ---- helpers ---------------------------------------------------------------------- */

static void warnf(wsi_warn_fn warn, void *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warnf(wsi_warn_fn warn, void *ctx, const char *fmt, ...) {
    if (!warn) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    warn(ctx, line);
}

/* nvmlErrorString never fails for codes it knows; guard anyway, since a broken or foreign
 * library could return NULL and a NULL %s is undefined behaviour. */
static const char *nvml_text(const nvml_fns *fn, wsi_nvml_return rc) {
    const char *s = fn->error_string ? fn->error_string(rc) : NULL;
    return s ? s : "unknown NVML error";
}

/* Copies a NUL-terminated string into a fixed buffer, always terminating it. */
static void copy_str(char *dst, size_t size, const char *src) {
    snprintf(dst, size, "%s", src);
}

/* dlsym, trying each name in order; returns the symbol and which name matched.
 * POSIX guarantees that a data pointer from dlsym converts to a function pointer; the
 * memcpy in resolve() avoids the ISO C warning about that conversion. */
static void *sym_first(void *dl, const char *const *names, const char **found) {
    for (; *names; names++) {
        void *p = dlsym(dl, *names);
        if (p) {
            if (found) *found = *names;
            return p;
        }
    }
    return NULL;
}

static ws_status resolve_one(void *dl, const char *library, void *fn_ptr, size_t fn_size,
                             const char *const *names, const char **found, int required, ws_error *err) {
    void *p = sym_first(dl, names, found);
    if (!p) {
        if (!required) return WS_OK; /* fn_ptr stays NULL (the struct was zeroed) */
        return wsi_error(err, WS_ESENSOR,
                         "NVIDIA GPUs: %s has no symbol %s: not an NVML library, or one too old "
                         "(point WATTSCALE_NVML_LIBRARY at the driver's libnvidia-ml.so.1)",
                         library, names[0]);
    }
    memcpy(fn_ptr, &p, fn_size);
    return WS_OK;
}

/* Versioned names first: the unversioned ones are kept by NVML for old binaries and may
 * behave as older API versions did (nvmlInit skips GPUs it cannot attach; the old
 * nvmlDeviceGetPciInfo fills the 52-byte layout). */
static ws_status resolve(void *dl, const char *library, nvml_fns *fn, ws_error *err) {
    static const char *const init[] = {"nvmlInit_v2", "nvmlInit", NULL};
    static const char *const shutdown[] = {"nvmlShutdown", NULL};
    static const char *const error_string[] = {"nvmlErrorString", NULL};
    static const char *const count[] = {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount", NULL};
    static const char *const handle[] = {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex", NULL};
    static const char *const name[] = {"nvmlDeviceGetName", NULL};
    static const char *const uuid[] = {"nvmlDeviceGetUUID", NULL};
    static const char *const pci[] = {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo", NULL};
    static const char *const limit[] = {"nvmlDeviceGetEnforcedPowerLimit", NULL};
    static const char *const energy[] = {"nvmlDeviceGetTotalEnergyConsumption", NULL};
    static const char *const power[] = {"nvmlDeviceGetPowerUsage", NULL};
    static const char *const fields[] = {"nvmlDeviceGetFieldValues", NULL};
    const char *pci_name = NULL;
    struct {
        void *fn_ptr;
        size_t fn_size;
        const char *const *names;
        const char **found;
        int required;
    } table[] = {
        {&fn->init, sizeof fn->init, init, &fn->init_name, 1},
        {&fn->shutdown, sizeof fn->shutdown, shutdown, NULL, 1},
        {&fn->error_string, sizeof fn->error_string, error_string, NULL, 1},
        {&fn->get_count, sizeof fn->get_count, count, NULL, 1},
        {&fn->get_handle, sizeof fn->get_handle, handle, NULL, 1},
        {&fn->get_name, sizeof fn->get_name, name, NULL, 1},
        {&fn->get_uuid, sizeof fn->get_uuid, uuid, NULL, 1},
        {&fn->get_pci_info, sizeof fn->get_pci_info, pci, &pci_name, 1},
        {&fn->get_power_limit, sizeof fn->get_power_limit, limit, NULL, 1},
        {&fn->get_total_energy, sizeof fn->get_total_energy, energy, NULL, 1},
        {&fn->get_power_usage, sizeof fn->get_power_usage, power, NULL, 1},
        {&fn->get_field_values, sizeof fn->get_field_values, fields, NULL, 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        ws_status st = resolve_one(dl, library, table[i].fn_ptr, table[i].fn_size, table[i].names,
                                   table[i].found, table[i].required, err);
        if (st != WS_OK) return st;
    }
    fn->pci_info_version = strcmp(pci_name, pci[0]) == 0 ? 3 : strcmp(pci_name, pci[1]) == 0 ? 2 : 1;
    return WS_OK;
}

/* ---- per-GPU discovery ------------------------------------------------------------- */

/* The PCI bus id in the _v3 form ("00000000:1B:00.0"). Older calls do not fill bus_id, so
 * we format it from domain/bus/device the way NVML does (NVML_DEVICE_PCI_BUS_ID_FMT), and
 * a GPU keeps one spelling whichever call the driver offers. "" when the call fails. */
static void probe_bus_id(const nvml_fns *fn, const nvml_gpu *g, char *out, size_t size) {
    wsi_nvml_pci_info pci;
    memset(&pci, 0, sizeof pci);
    out[0] = '\0';
    if (fn->get_pci_info(g->handle, &pci) != WSI_NVML_SUCCESS) return;
    if (fn->pci_info_version == 3) {
        pci.bus_id[sizeof pci.bus_id - 1] = '\0';
        copy_str(out, size, pci.bus_id);
    } else {
        snprintf(out, size, "%08X:%02X:%02X.0", pci.domain, pci.bus, pci.device);
    }
}

/* Asks for the instantaneous power field once; 1 when both the call and the field
 * succeed. A driver without the field fails the call (old libraries) or the field. */
static int probe_power_instant(const nvml_fns *fn, const nvml_gpu *g) {
    if (!fn->get_field_values) return 0;
    wsi_nvml_field_value fv;
    memset(&fv, 0, sizeof fv);
    fv.field_id = WSI_NVML_FI_DEV_POWER_INSTANT;
    fv.scope_id = 0; /* the GPU alone, not the module (Grace Hopper) */
    return fn->get_field_values(g->handle, 1, &fv) == WSI_NVML_SUCCESS && fv.nvml_return == WSI_NVML_SUCCESS;
}

/* Asks for instant power and the energy counter in one call; 1 when both fields answer.
 * Each NVML call costs milliseconds of CPU on some machines (measured on the H100 machine:
 * see docs/results.md), so the sampler's overhead is proportional to the calls per sample. */
static int probe_fields_combined(const nvml_fns *fn, const nvml_gpu *g) {
    if (!fn->get_field_values) return 0;
    wsi_nvml_field_value fv[2];
    memset(fv, 0, sizeof fv);
    fv[0].field_id = WSI_NVML_FI_DEV_POWER_INSTANT;
    fv[1].field_id = WSI_NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION;
    return fn->get_field_values(g->handle, 2, fv) == WSI_NVML_SUCCESS && fv[0].nvml_return == WSI_NVML_SUCCESS &&
           fv[1].nvml_return == WSI_NVML_SUCCESS;
}

/* Fills the sensor part of g->info (after identify_gpu). Returns 0 when the GPU must be
 * skipped (neither energy nor power). Only
 * NOT_SUPPORTED counts as "this GPU has no such sensor"; any other error at open (GPU lost,
 * a driver hiccup) leaves the sensor in place, so that reads report it instead of the GPU
 * silently losing its counter. */
/* Fills the identity part of g->info (UUID, name, PCI bus id): what a filter decides on.
 * Reads no power or energy. */
static void identify_gpu(const nvml_fns *fn, nvml_gpu *g, wsi_warn_fn warn, void *ctx) {
    ws_device_info *info = &g->info;
    memset(info, 0, sizeof *info);
    info->domain = WS_DOMAIN_GPU;
    copy_str(info->backend, sizeof info->backend, "nvml");

    char buf[WSI_NVML_DEVICE_UUID_V2_BUFFER_SIZE > WSI_NVML_DEVICE_NAME_V2_BUFFER_SIZE
                 ? WSI_NVML_DEVICE_UUID_V2_BUFFER_SIZE
                 : WSI_NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    wsi_nvml_return rc = fn->get_uuid(g->handle, buf, sizeof buf);
    if (rc == WSI_NVML_SUCCESS) {
        buf[sizeof buf - 1] = '\0';
        copy_str(info->id, sizeof info->id, buf);
    } else {
        /* The UUID is the stable key of run records; an index is a poor substitute. */
        snprintf(info->id, sizeof info->id, "nvml-index-%u", g->index);
        warnf(warn, ctx, "NVIDIA GPUs: nvmlDeviceGetUUID(gpu %u): %s; identifying it as %s", g->index,
              nvml_text(fn, rc), info->id);
    }
    rc = fn->get_name(g->handle, buf, sizeof buf);
    if (rc == WSI_NVML_SUCCESS) {
        buf[sizeof buf - 1] = '\0';
        copy_str(info->name, sizeof info->name, buf);
    } else {
        snprintf(info->name, sizeof info->name, "NVIDIA GPU %u", g->index);
    }
    probe_bus_id(fn, g, info->bus_id, sizeof info->bus_id);
}

static int describe_gpu(const nvml_fns *fn, nvml_gpu *g, wsi_warn_fn warn, void *ctx) {
    ws_device_info *info = &g->info;
    wsi_nvml_return rc;
    unsigned int limit_mw = 0;
    if (fn->get_power_limit(g->handle, &limit_mw) == WSI_NVML_SUCCESS) info->power_limit_w = limit_mw / 1000.0;

    unsigned long long energy_mj = 0;
    rc = fn->get_total_energy(g->handle, &energy_mj);
    info->has_counter = rc != WSI_NVML_ERROR_NOT_SUPPORTED;
    if (!info->has_counter) {
        warnf(warn, ctx,
              "NVIDIA GPUs: gpu %u (%s, %s) has no energy counter (nvmlDeviceGetTotalEnergyConsumption: %s); "
              "its energy will come from integrating power",
              g->index, info->id, info->name, nvml_text(fn, rc));
    } else if (rc != WSI_NVML_SUCCESS) {
        warnf(warn, ctx, "NVIDIA GPUs: gpu %u (%s): nvmlDeviceGetTotalEnergyConsumption failed at open: %s",
              g->index, info->id, nvml_text(fn, rc));
    }
    if (info->has_counter) {
        info->counter_period_s = COUNTER_PERIOD_S;
        info->wrap_after_s = 0; /* 64 bits of mJ: 2^64 mJ at 1 kW is 585 million years */
    }

    g->power_instant = probe_power_instant(fn, g);
    g->fields_combined = g->power_instant && info->has_counter && probe_fields_combined(fn, g);
    if (g->power_instant) {
        info->has_power = 1;
        copy_str(info->power_kind, sizeof info->power_kind, "instant");
    } else {
        unsigned int power_mw = 0;
        rc = fn->get_power_usage(g->handle, &power_mw);
        info->has_power = rc != WSI_NVML_ERROR_NOT_SUPPORTED;
        if (info->has_power) {
            copy_str(info->power_kind, sizeof info->power_kind, "average");
            if (rc != WSI_NVML_SUCCESS)
                warnf(warn, ctx, "NVIDIA GPUs: gpu %u (%s): nvmlDeviceGetPowerUsage failed at open: %s", g->index,
                      info->id, nvml_text(fn, rc));
        }
    }
    if (!info->has_counter && !info->has_power) {
        warnf(warn, ctx, "NVIDIA GPUs: gpu %u (%s, %s) reports neither energy nor power (%s); skipped", g->index,
              info->id, info->name, nvml_text(fn, rc));
        return 0;
    }
    return 1;
}

/* ---- sensor ops --------------------------------------------------------------------- */

static size_t nvml_device_count(const wsi_sensor *s) { return ((const nvml_sensor *)s)->n_gpus; }

static void nvml_device_info(const wsi_sensor *s, size_t i, ws_device_info *out) {
    *out = ((const nvml_sensor *)s)->gpus[i].info;
}

/* A field's number (power in mW, energy in mJ) from a field value of whatever type the driver chose (unsigned int for
 * power fields today; the others are handled so that a driver change cannot make us
 * read the wrong bytes of the union). */
static int field_to_mw(const wsi_nvml_field_value *fv, double *mw) {
    switch (fv->value_type) {
    case WSI_NVML_VALUE_TYPE_DOUBLE: *mw = fv->value.d_val; return 1;
    case WSI_NVML_VALUE_TYPE_UNSIGNED_INT: *mw = (double)fv->value.ui_val; return 1;
    case WSI_NVML_VALUE_TYPE_UNSIGNED_LONG: *mw = (double)fv->value.ul_val; return 1;
    case WSI_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: *mw = (double)fv->value.ull_val; return 1;
    case WSI_NVML_VALUE_TYPE_SIGNED_LONG_LONG: *mw = (double)fv->value.sll_val; return 1;
    case WSI_NVML_VALUE_TYPE_SIGNED_INT: *mw = (double)fv->value.si_val; return 1;
    case WSI_NVML_VALUE_TYPE_UNSIGNED_SHORT: *mw = (double)fv->value.us_val; return 1;
    default: return 0;
    }
}

/* Fills out->power_w from the instant field, or from the averaged reading where the GPU
 * lacks the field. The per-field return is checked, not only the call's: NVML's call
 * succeeds while a field fails. */
static ws_status read_power_only(const nvml_fns *fn, const nvml_gpu *g, wsi_sensor_sample *out, ws_error *err) {
    wsi_nvml_return rc;
    if (g->power_instant) {
        wsi_nvml_field_value fv;
        memset(&fv, 0, sizeof fv);
        fv.field_id = WSI_NVML_FI_DEV_POWER_INSTANT;
        rc = fn->get_field_values(g->handle, 1, &fv);
        if (rc == WSI_NVML_SUCCESS) rc = fv.nvml_return;
        if (rc != WSI_NVML_SUCCESS)
            return wsi_error(err, WS_ESENSOR, "nvmlDeviceGetFieldValues(gpu %u, %s, NVML_FI_DEV_POWER_INSTANT): %s",
                             g->index, g->info.id, nvml_text(fn, rc));
        double power_mw = 0;
        if (!field_to_mw(&fv, &power_mw))
            return wsi_error(err, WS_ESENSOR,
                             "nvmlDeviceGetFieldValues(gpu %u, %s, NVML_FI_DEV_POWER_INSTANT): unknown value type %d",
                             g->index, g->info.id, fv.value_type);
        out->power_w = power_mw / 1000.0;
    } else {
        unsigned int power_mw = 0;
        rc = fn->get_power_usage(g->handle, &power_mw);
        if (rc != WSI_NVML_SUCCESS)
            return wsi_error(err, WS_ESENSOR, "nvmlDeviceGetPowerUsage(gpu %u, %s): %s", g->index, g->info.id,
                             nvml_text(fn, rc));
        out->power_w = power_mw / 1000.0;
    }
    out->has_power = 1;
    return WS_OK;
}

static ws_status nvml_read(wsi_sensor *s, size_t i, wsi_sensor_sample *out, ws_error *err) {
    nvml_sensor *nv = (nvml_sensor *)s;
    const nvml_gpu *g = &nv->gpus[i];
    const nvml_fns *fn = &nv->fn;
    wsi_nvml_return rc;
    memset(out, 0, sizeof *out);

    if (g->fields_combined) {
        wsi_nvml_field_value fv[2];
        memset(fv, 0, sizeof fv);
        fv[0].field_id = WSI_NVML_FI_DEV_POWER_INSTANT;
        fv[1].field_id = WSI_NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION;
        rc = fn->get_field_values(g->handle, 2, fv);
        for (int k = 0; k < 2 && rc == WSI_NVML_SUCCESS; k++) rc = fv[k].nvml_return;
        if (rc != WSI_NVML_SUCCESS)
            return wsi_error(err, WS_ESENSOR,
                             "nvmlDeviceGetFieldValues(gpu %u, %s, POWER_INSTANT + TOTAL_ENERGY_CONSUMPTION): %s",
                             g->index, g->info.id, nvml_text(fn, rc));
        double power_mw = 0, energy_mj = 0;
        if (!field_to_mw(&fv[0], &power_mw) || !field_to_mw(&fv[1], &energy_mj))
            return wsi_error(err, WS_ESENSOR, "nvmlDeviceGetFieldValues(gpu %u, %s): unknown value type %d/%d",
                             g->index, g->info.id, fv[0].value_type, fv[1].value_type);
        out->power_w = power_mw / 1000.0;
        out->has_power = 1;
        out->energy_j = energy_mj / 1000.0; /* mJ as unsigned long long: exact in a double up to 2^53 */
        out->has_energy = 1;
        return WS_OK;
    }

    if (g->info.has_counter) {
        unsigned long long energy_mj = 0; /* since the driver loaded: an arbitrary origin */
        rc = fn->get_total_energy(g->handle, &energy_mj);
        if (rc != WSI_NVML_SUCCESS)
            return wsi_error(err, WS_ESENSOR, "nvmlDeviceGetTotalEnergyConsumption(gpu %u, %s): %s", g->index,
                             g->info.id, nvml_text(fn, rc));
        out->energy_j = (double)energy_mj / 1000.0; /* exact in a double up to 2^53 mJ */
        out->has_energy = 1;
    }

    if (!g->info.has_power) return WS_OK;
    return read_power_only(fn, g, out, err);
}

/* Power alone: the instant field (or the averaged reading), never the counter, whose read
 * costs thousands of times more CPU (bench/energy/nvml_call_cost.c). */
static ws_status nvml_read_power(wsi_sensor *s, size_t i, wsi_sensor_sample *out, ws_error *err) {
    nvml_sensor *nv = (nvml_sensor *)s;
    const nvml_gpu *g = &nv->gpus[i];
    memset(out, 0, sizeof *out);
    if (!g->info.has_power) return nvml_read(s, i, out, err);
    return read_power_only(&nv->fn, g, out, err);
}

static void nvml_close(wsi_sensor *s) {
    if (!s) return;
    nvml_sensor *nv = (nvml_sensor *)s;
    nv->fn.shutdown(); /* NVML counts inits: this undoes ours only */
    dlclose(nv->dl);
    free(nv);
}

static const wsi_sensor_ops nvml_ops = {
    .name = "nvml",
    .device_count = nvml_device_count,
    .device_info = nvml_device_info,
    .read = nvml_read,
    .close = nvml_close,
    .read_power = nvml_read_power,
};

/* ---- open --------------------------------------------------------------------------- */

/* nvmlInit's failure as a status: no driver is an absent sensor, no permission an
 * unreadable one, anything else a broken one. */
static ws_status init_status(wsi_nvml_return rc) {
    switch (rc) {
    case WSI_NVML_ERROR_DRIVER_NOT_LOADED:
    case WSI_NVML_ERROR_LIBRARY_NOT_FOUND: return WS_ENOSENSOR;
    case WSI_NVML_ERROR_NO_PERMISSION: return WS_EPERM;
    default: return WS_ESENSOR;
    }
}

ws_status wsi_nvml_open(wsi_sensor **out, const char *library, const wsi_device_filter *filter, wsi_warn_fn warn,
                        void *ctx, ws_error *err) {
    *out = NULL;
    if (!library || !*library) library = DEFAULT_LIBRARY;

    /* RTLD_NOW: a library missing a symbol it needs fails here, not mid-run.
     * RTLD_LOCAL: NVML's symbols stay out of the global namespace of the host program. */
    dlerror();
    void *dl = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        return wsi_error(err, WS_ENOSENSOR,
                         "NVIDIA GPUs: cannot load %s (%s): no NVIDIA driver on this machine, or set "
                         "WATTSCALE_NVML_LIBRARY to its path",
                         library, why ? why : "unknown dlopen error");
    }

    nvml_fns fn;
    memset(&fn, 0, sizeof fn);
    ws_status st = resolve(dl, library, &fn, err);
    if (st != WS_OK) {
        dlclose(dl);
        return st;
    }

    wsi_nvml_return rc = fn.init();
    if (rc != WSI_NVML_SUCCESS) {
        st = wsi_error(err, init_status(rc), "NVIDIA GPUs: %s (%s): %s%s", fn.init_name, library, nvml_text(&fn, rc),
                       rc == WSI_NVML_ERROR_DRIVER_NOT_LOADED ? ": is the nvidia kernel module loaded (nvidia-smi)?"
                       : rc == WSI_NVML_ERROR_NO_PERMISSION  ? ": this user may not open /dev/nvidia*"
                                                             : "");
        dlclose(dl);
        return st;
    }

    unsigned int count = 0;
    rc = fn.get_count(&count);
    if (rc != WSI_NVML_SUCCESS || count == 0) {
        st = rc != WSI_NVML_SUCCESS
                 ? wsi_error(err, WS_ESENSOR, "NVIDIA GPUs: nvmlDeviceGetCount: %s", nvml_text(&fn, rc))
                 : wsi_error(err, WS_ENOSENSOR, "NVIDIA GPUs: NVML found no GPU (driver loaded, no device visible)");
        fn.shutdown();
        dlclose(dl);
        return st;
    }

    nvml_sensor *nv = calloc(1, sizeof *nv + (size_t)count * sizeof nv->gpus[0]);
    if (!nv) {
        fn.shutdown();
        dlclose(dl);
        return wsi_error(err, WS_ENOMEM, "NVIDIA GPUs: no memory for %u GPUs", count);
    }
    nv->base.ops = &nvml_ops;
    nv->dl = dl;
    nv->fn = fn;

    /* A GPU NVML cannot hand us (NO_PERMISSION when a container hides it, GPU_IS_LOST) is
     * skipped with a warning; the others are still measured. */
    wsi_nvml_return last_rc = WSI_NVML_SUCCESS;
    unsigned int n_left_out = 0;
    for (unsigned int i = 0; i < count; i++) {
        nvml_gpu *g = &nv->gpus[nv->n_gpus];
        g->index = i;
        rc = fn.get_handle(i, &g->handle);
        if (rc != WSI_NVML_SUCCESS) {
            last_rc = rc;
            warnf(warn, ctx, "NVIDIA GPUs: nvmlDeviceGetHandleByIndex(gpu %u): %s; skipped", i, nvml_text(&fn, rc));
            continue;
        }
        identify_gpu(&fn, g, warn, ctx);
        /* a GPU the caller did not select is never probed or read: it may be another job's */
        if (filter && !filter->keep(filter->ctx, &g->info)) {
            n_left_out++;
            continue;
        }
        if (describe_gpu(&fn, g, warn, ctx)) nv->n_gpus++;
    }
    if (nv->n_gpus == 0 && n_left_out > 0 && last_rc == WSI_NVML_SUCCESS) {
        st = wsi_error(err, WS_ENOSENSOR, "NVIDIA GPUs: %u of the %u GPUs NVML lists left out (not selected)%s",
                       n_left_out, count, n_left_out < count ? ", the others unmeasurable" : "");
        nvml_close(&nv->base);
        return st;
    }
    if (nv->n_gpus == 0) {
        st = wsi_error(err, last_rc != WSI_NVML_SUCCESS ? WS_ESENSOR : WS_ENOSENSOR,
                       "NVIDIA GPUs: none of the %u GPUs NVML lists could be measured%s%s", count,
                       last_rc != WSI_NVML_SUCCESS ? ": " : " (no energy counter, no power reading)",
                       last_rc != WSI_NVML_SUCCESS ? nvml_text(&fn, last_rc) : "");
        nvml_close(&nv->base);
        return st;
    }
    *out = &nv->base;
    return WS_OK;
}
