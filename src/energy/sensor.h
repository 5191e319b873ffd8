/* energy/sensor.h - the interface every energy sensor implements (internal).
 * defines: wsi_sensor, wsi_sensor_ops, wsi_sensor_sample, and the constructors of the
 * sensors we have: NVML (energy/nvml.c), RAPL through powercap sysfs
 * (energy/rapl_powercap.c), RAPL through the perf_event PMU (energy/rapl_perf.c), and a
 * scripted fake for tests (energy/fake_sensor.c).
 *
 * A sensor owns one or more devices (GPUs, packages, DRAM zones). The meter (energy/meter.c)
 * calls `read` for each device from its sampler thread and at region boundaries, always
 * under its own lock, so sensors need no locking of their own. A new sensor (AMD GPUs,
 * Intel GPUs, a node meter) implements these four functions and adds one line to meter.c.
 *
 * Contract of `read`:
 *   - energy_j is cumulative, monotonic, already unwrapped (the sensor handles counter
 *     wrap-around), in J, from an arbitrary origin; has_energy says whether it is valid.
 *   - power_w is the power now, in W; has_power says whether it is valid. Sensors without
 *     a power reading (RAPL) leave has_power 0 and the meter derives power from energy.
 *   - On failure: a status and one line in err; the meter records it and goes on. */
#ifndef WS_ENERGY_SENSOR_H
#define WS_ENERGY_SENSOR_H

#include "wattscale/energy.h"

typedef struct {
    int has_energy;
    double energy_j;
    int has_power;
    double power_w;
} wsi_sensor_sample;

typedef struct wsi_sensor wsi_sensor;

typedef struct {
    const char *name;                                           /* "nvml", ... */
    size_t (*device_count)(const wsi_sensor *s);
    void (*device_info)(const wsi_sensor *s, size_t i, ws_device_info *out);
    ws_status (*read)(wsi_sensor *s, size_t i, wsi_sensor_sample *out, ws_error *err);
    void (*close)(wsi_sensor *s);                              /* frees s */
    /* Optional (NULL: none): power alone, for sensors whose counter costs far more to read
     * than their power (NVML: ~4 ms of CPU against ~1 us on the H100 machine). The meter
     * then reads the counter only at boundaries and every counter_refresh_ms. Leaves
     * has_energy 0. */
    ws_status (*read_power)(wsi_sensor *s, size_t i, wsi_sensor_sample *out, ws_error *err);
} wsi_sensor_ops;

/* Implementations embed this as their first member. */
struct wsi_sensor {
    const wsi_sensor_ops *ops;
};

/* Constructors. Each returns WS_OK and a sensor with at least one device, or a status
 * (WS_ENOSENSOR: absent; WS_EPERM: present but unreadable; WS_ESENSOR: broken) with the
 * reason and the fix in err, and *out = NULL. Non-fatal oddities (a skipped zone, a GPU
 * without an energy counter) go to `warn(ctx, line)` when warn is non-NULL. */
typedef void (*wsi_warn_fn)(void *ctx, const char *line);

/* Which devices a sensor opens. keep(ctx, info) sees each device's identity (domain, id,
 * name, bus_id filled; nothing else yet) before anything is read from it, and returns 1 to
 * open it, 0 to leave it out: a device left out is never probed or read. */
typedef struct {
    int (*keep)(void *ctx, const ws_device_info *identity);
    void *ctx;
} wsi_device_filter;

/* NVIDIA GPUs. library: path or soname to dlopen (NULL: libnvidia-ml.so.1). filter: NULL
 * opens every GPU; when it leaves every GPU out: WS_ENOSENSOR saying so. */
ws_status wsi_nvml_open(wsi_sensor **out, const char *library, const wsi_device_filter *filter, wsi_warn_fn warn,
                        void *ctx, ws_error *err);

/* RAPL through powercap sysfs. root: NULL means /sys/class/powercap. Finds package-N and
 * dram zones (skips psys and core/uncore; de-duplicates zones seen twice, e.g. under
 * intel-rapl and intel-rapl-mmio). Each device's domain tells CPU from DRAM. */
ws_status wsi_powercap_open(wsi_sensor **out, const char *root, wsi_warn_fn warn, void *ctx, ws_error *err);

/* RAPL through the perf_event "power" PMU (energy-pkg, energy-ram), one counter per
 * package. Needs perf_event_paranoid <= 0 or CAP_PERFMON. sysfs_root: NULL means
 * /sys/bus/event_source/devices (tests point it elsewhere). */
ws_status wsi_rapl_perf_open(wsi_sensor **out, const char *sysfs_root, wsi_warn_fn warn, void *ctx, ws_error *err);

#endif
