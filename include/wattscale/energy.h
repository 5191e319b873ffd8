/* wattscale/energy.h - the energy meter of libwattscale, usable on its own.
 * defines: ws_meter (opaque), its options, device descriptions, readings and regions.
 *
 * A meter finds the sensors of this machine (NVIDIA GPUs through NVML loaded with
 * dlopen; CPU packages and DRAM through RAPL, powercap sysfs or the perf_event PMU),
 * samples them from one thread at a fixed interval, and reports per device:
 *   - energy from the device's own counter where one exists (the reference),
 *   - energy from integrating sampled power (trapezoids),
 *   - their relative difference, and the uncertainty the counter's update period implies.
 * Domains without a sensor are listed with the reason; no figure is ever invented.
 *
 * Lifecycle: ws_meter_open -> [ws_meter_measure_idle] -> ws_meter_start ->
 *            (regions, readings) -> ws_meter_stop -> ws_meter_close.
 * Thread-safety: all calls on one meter may come from any thread; the meter locks.
 * Units: J, W, s, unless a name says otherwise. */
#ifndef WATTSCALE_ENERGY_H
#define WATTSCALE_ENERGY_H

#include <stddef.h>
#include <stdio.h>
#include "wattscale/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { WS_DOMAIN_GPU = 0, WS_DOMAIN_CPU = 1, WS_DOMAIN_DRAM = 2, WS_DOMAIN_COUNT = 3 } ws_domain;
WS_API const char *ws_domain_name(ws_domain d); /* "gpu", "cpu", "dram" */

/* Where an energy figure comes from. */
typedef enum {
    WS_SOURCE_NONE = 0,           /* no figure */
    WS_SOURCE_COUNTER = 1,        /* the device's cumulative energy counter */
    WS_SOURCE_POWER_INTEGRAL = 2, /* sampled power integrated over time */
    WS_SOURCE_ESTIMATE = 3        /* a model, never mixed silently with measurements */
} ws_source;
WS_API const char *ws_source_name(ws_source s); /* "counter", "power_integral", ... */

/* Sensor identifiers, for ws_meter_opts.sensors. */
enum { WS_SENSOR_NVML = 1u, WS_SENSOR_RAPL_POWERCAP = 2u, WS_SENSOR_RAPL_PERF = 4u, WS_SENSOR_ALL = 7u };

typedef struct {
    ws_domain domain;
    char name[96];             /* "NVIDIA H100 80GB HBM3", "package-0", "dram-0" */
    char id[96];               /* stable key: GPU UUID, "powercap:intel-rapl:0", "perf:pkg:0" */
    char bus_id[32];           /* PCI bus id of a GPU, "" otherwise */
    char backend[24];          /* "nvml", "rapl-powercap", "rapl-perf", "fake" */
    char power_kind[24];       /* what power readings are: "instant", "average", "derived", "" */
    int has_counter;           /* a cumulative energy counter exists */
    int has_power;             /* power can be sampled (or derived from the counter) */
    double power_limit_w;      /* enforced power limit; 0 when unknown */
    double counter_period_s;   /* nominal update period of the counter; 0 when unknown */
    double wrap_after_s;       /* shortest time in which the counter can wrap; 0 = never */
} ws_device_info;

/* A domain with no sensor, and why. */
typedef struct {
    ws_domain domain;
    ws_status code;
    char reason[1040];         /* room for two sensors' ws_error lines */
} ws_missing_domain;

/* One device's figures over an interval (a whole measurement or a region). */
typedef struct {
    double duration_s;
    ws_source source;            /* which of the two below is `energy_j` */
    double energy_j;             /* the reported energy: the counter where it exists */
    int has_counter;
    double counter_energy_j;
    int has_integral;
    double integral_energy_j;
    double difference_rel;       /* (integral - counter) / counter; 0 when either is missing */
    double uncertainty_j;        /* +- from the counter's update period (or the sampling interval) */
    double mean_power_w;         /* energy_j / duration_s */
    double max_power_w;          /* highest sampled (or derived) power */
    size_t samples;
    int has_idle;                /* an idle baseline was measured */
    double idle_power_w;
    double energy_above_idle_j;  /* energy_j - idle_power_w * duration_s */
} ws_device_energy;

typedef struct {
    double interval_ms;          /* sampling interval; default 100, at least 10 (1 for tests) */
    unsigned sensors;            /* WS_SENSOR_* mask; default WS_SENSOR_ALL */
    const char *powercap_root;   /* NULL: $WATTSCALE_POWERCAP_ROOT or /sys/class/powercap */
    const char *nvml_library;    /* NULL: $WATTSCALE_NVML_LIBRARY or libnvidia-ml.so.1 */
    FILE *csv;                   /* optional stream for the time series; the caller owns it */
    size_t series_capacity;      /* power points kept per device (decimated when full); default 4096 */
    double counter_refresh_ms;   /* between boundaries, read costly counters (NVML: ~4 ms CPU each on
                                  * the H100 machine) at most this often, power every interval;
                                  * boundaries (start, stop, regions, reads) always read them.
                                  * Default 1000; 0: every interval. */
    const char *const *gpu_uuids; /* the GPUs to meter, by NVML UUID ("GPU-8c2f...", as nvidia-smi -L
                                  * shows; spelling normalised by ws_gpu_uuid_normalize), a
                                  * NULL-terminated list; NULL: every GPU (the default); an empty
                                  * list ({NULL}): none. The others are never read (they may be
                                  * another job's) and are listed by ws_meter_left_out. A UUID that
                                  * matches none of the GPUs NVML lists fails ws_meter_open. Read
                                  * only during ws_meter_open. CPU/DRAM (RAPL) cannot be selected:
                                  * a package is shared by everything running on it. */
} ws_meter_opts;

/* A device the meter found and did not meter, and why ("not selected"). */
typedef struct {
    ws_domain domain;
    char name[96];
    char id[96];               /* GPU UUID */
    char bus_id[32];
    char reason[64];
} ws_left_out_device;

typedef struct ws_meter ws_meter;

WS_API ws_meter_opts ws_meter_opts_default(void);

/* Finds the sensors. Succeeds with zero devices (every domain then missing, with reasons);
 * fails only on bad options (a malformed or unmatched gpu_uuids entry: WS_EINVAL naming it)
 * or no memory. Without NVML (no driver) a selection cannot be checked: the GPU domain is
 * then missing, as without one. */
WS_API ws_status ws_meter_open(ws_meter **out, const ws_meter_opts *opts, ws_error *err);
WS_API void ws_meter_close(ws_meter *m); /* NULL is a no-op; stops the sampler if running */

WS_API size_t ws_meter_device_count(const ws_meter *m);
WS_API const ws_device_info *ws_meter_device(const ws_meter *m, size_t i);
WS_API size_t ws_meter_missing_count(const ws_meter *m);
WS_API const ws_missing_domain *ws_meter_missing(const ws_meter *m, size_t i);
/* Devices left out by ws_meter_opts.gpu_uuids, in NVML's order. */
WS_API size_t ws_meter_left_out_count(const ws_meter *m);
WS_API const ws_left_out_device *ws_meter_left_out(const ws_meter *m, size_t i);
/* A GPU UUID in NVML's spelling: blanks around it dropped, the prefix "GPU-" (added when
 * missing) or "MIG-" in upper case, the rest in lower case; CUDA's cudaDeviceProp.uuid
 * printed as 8-4-4-4-12 hex digits and NVML's nvmlDeviceGetUUID then compare equal. Returns
 * 0, or -1 when `in` is no UUID (empty; characters other than hex digits and '-' after a
 * "GPU-" prefix; too long for out). */
WS_API int ws_gpu_uuid_normalize(char *out, size_t size, const char *in);
/* Warnings met while opening sensors or sampling (a skipped zone, a failed read); the
 * strings belong to the meter. */
WS_API size_t ws_meter_warning_count(const ws_meter *m);
WS_API const char *ws_meter_warning(const ws_meter *m, size_t i);

/* Samples `seconds` of idle before start; every later figure then has an idle baseline. */
WS_API ws_status ws_meter_measure_idle(ws_meter *m, double seconds, ws_error *err);

WS_API ws_status ws_meter_start(ws_meter *m, ws_error *err);
/* Stops the sampler after one last sample; the totals are then fixed. */
WS_API ws_status ws_meter_stop(ws_meter *m, ws_error *err);

/* Per-device figures since start (up to stop once stopped); `out` has
 * ws_meter_device_count entries. While running, takes a fresh sample first. */
WS_API ws_status ws_meter_read(ws_meter *m, ws_device_energy *out, ws_error *err);
WS_API double ws_meter_elapsed_s(const ws_meter *m);
/* CPU time the sampler thread has used, s: the meter's own overhead. */
WS_API double ws_meter_sampler_cpu_s(const ws_meter *m);
/* Mean time between observed changes of device i's counter since start, s; 0 when it
 * never changed twice. Only meaningful when the counter is read (counter_refresh_ms 0) at an
 * interval shorter than its period. */
WS_API double ws_meter_observed_counter_period_s(const ws_meter *m, size_t i);

/* Regions: named intervals, nested or overlapping, opened and closed while running.
 * Each boundary takes a fresh sample. Results stay in the meter until close. */
WS_API ws_status ws_meter_region_begin(ws_meter *m, const char *name, int *region_id, ws_error *err);
WS_API ws_status ws_meter_region_end(ws_meter *m, int region_id, ws_error *err);
WS_API size_t ws_meter_region_count(const ws_meter *m);
WS_API const char *ws_meter_region_name(const ws_meter *m, int region_id);
WS_API int ws_meter_region_depth(const ws_meter *m, int region_id);
/* `out` has ws_meter_device_count entries; WS_ESTATE while the region is open. */
WS_API ws_status ws_meter_region_energy(const ws_meter *m, int region_id, ws_device_energy *out, ws_error *err);

/* Phases: label stretches of time (data loading, compute, waiting for the all-reduce, ...)
 * so that the energy sampled meanwhile is attributed to them. Entering a phase reads no
 * sensor (it only notes the time); each sample interval's energy (from the power samples:
 * the integral, or the counter-derived power of RAPL) is split among the phases in
 * proportion to the time each held in that interval, so the attribution is as fine as the
 * sampling interval. Phase 0 is "none" (time in no defined phase). Energies accumulate from
 * start; take differences for intervals. */
enum { WS_METER_MAX_PHASES = 8 };
/* Returns the new phase's id (1..WS_METER_MAX_PHASES-1), or -1 when all are taken. */
WS_API int ws_meter_phase_define(ws_meter *m, const char *name);
WS_API void ws_meter_phase_enter(ws_meter *m, int id); /* cheap; any thread */
WS_API const char *ws_meter_phase_name(const ws_meter *m, int id);
/* energy_j: ws_meter_device_count entries, J per device attributed to phase id so far;
 * *time_s: the time spent in it. */
WS_API ws_status ws_meter_phase_energy(ws_meter *m, int id, double *energy_j, double *time_s, ws_error *err);

/* The kept power series of device i: up to series_capacity points (time since start, s;
 * power, W), evenly decimated when the run was longer. Returns the number of points. */
WS_API size_t ws_meter_series(const ws_meter *m, size_t i, const double **t_s, const double **power_w);

/* CO2 and cost from energy. Defaults (ws_footprint_opts_default): PUE 1.0 (what the meters
 * see, no facility overhead), 475 gCO2e/kWh (world average, as CodeCarbon uses), 0.30 per
 * kWh in EUR; each overridable by flag or WATTSCALE_PUE, WATTSCALE_CARBON_G_PER_KWH,
 * WATTSCALE_PRICE_PER_KWH, WATTSCALE_CURRENCY. */
typedef struct {
    double pue;
    double carbon_g_per_kwh;
    double price_per_kwh;
    char currency[8];
} ws_footprint_opts;
typedef struct {
    double facility_energy_j; /* energy x PUE */
    double co2_g;
    double cost;
} ws_footprint;
WS_API ws_footprint_opts ws_footprint_opts_default(void); /* reads the environment overrides */
WS_API ws_footprint ws_footprint_of(double energy_j, const ws_footprint_opts *o);

#ifdef __cplusplus
}
#endif
#endif
