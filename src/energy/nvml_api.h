/* energy/nvml_api.h - our own declarations of the small part of NVML's ABI that
 * energy/nvml.c uses (internal).
 * defines: wsi_nvml_return and its WSI_NVML_* codes, wsi_nvml_device, wsi_nvml_pci_info,
 * wsi_nvml_value, wsi_nvml_field_value, WSI_NVML_FI_DEV_POWER_INSTANT, the buffer sizes,
 * and one wsi_nvml_*_fn pointer type per NVML function we dlsym.
 *
 * Why our own: libnvidia-ml.so.1 is loaded with dlopen so that one binary runs with or
 * without a driver, and nvml.h (CUDA toolkit) is absent where we build. Names are ours
 * (wsi_, snake case, units in names) so that tests/energy/test_nvml_layout.c can include
 * this file and the real nvml.h together and check, member by member, that each layout
 * and constant here equals NVIDIA's; it is built wherever nvml.h is found.
 *
 * Source of the layouts: nvml.h of NVML 12.2.140 (as vendored in NVIDIA/go-nvml,
 * pkg/nvml/nvml.h), cross-read with other public copies of nvml.h; test_nvml_layout.c
 * passed against CUDA 13.0's nvml.h (NVML API 13). Also used by the fake library
 * tests/energy/fake_nvml.c.
 *
 * ABI notes (x86-64 and aarch64 Linux): NVML's enums (nvmlReturn_t, nvmlValueType_t)
 * are 4-byte ints in structs and arguments, hence `int` here; nvmlDevice_t is an opaque
 * pointer. */
#ifndef WS_ENERGY_NVML_API_H
#define WS_ENERGY_NVML_API_H

/* nvmlReturn_t: the codes we name; any other is shown with nvmlErrorString. */
typedef int wsi_nvml_return;
#define WSI_NVML_SUCCESS 0
#define WSI_NVML_ERROR_UNINITIALIZED 1
#define WSI_NVML_ERROR_INVALID_ARGUMENT 2
#define WSI_NVML_ERROR_NOT_SUPPORTED 3  /* the only answer that means "this GPU lacks it" */
#define WSI_NVML_ERROR_NO_PERMISSION 4
#define WSI_NVML_ERROR_NOT_FOUND 6
#define WSI_NVML_ERROR_INSUFFICIENT_SIZE 7
#define WSI_NVML_ERROR_DRIVER_NOT_LOADED 9
#define WSI_NVML_ERROR_LIBRARY_NOT_FOUND 12
#define WSI_NVML_ERROR_FUNCTION_NOT_FOUND 13
#define WSI_NVML_ERROR_GPU_IS_LOST 15
#define WSI_NVML_ERROR_UNKNOWN 999

/* nvmlDevice_t: a handle owned by the library, valid until nvmlShutdown. */
typedef struct wsi_nvml_device_st *wsi_nvml_device;

/* Buffer sizes guaranteed large enough (NVML_DEVICE_NAME_V2_BUFFER_SIZE,
 * NVML_DEVICE_UUID_V2_BUFFER_SIZE, NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE and _V2_SIZE). */
#define WSI_NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define WSI_NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define WSI_NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE 32
#define WSI_NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE 16

/* nvmlPciInfo_t as filled by nvmlDeviceGetPciInfo_v3: 68 bytes.
 * The older _v2 and unversioned calls fill an older 52-byte layout whose first member is
 * a 16-byte busId (so: bus_id_legacy here) and whose domain, bus, device sit at the same
 * offsets as below; bus_id (offset 36) is not written by them. */
typedef struct {
    char bus_id_legacy[WSI_NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE]; /* "0000:1B:00.0" */
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pci_device_id;     /* 16-bit device id << 16 | 16-bit vendor id */
    unsigned int pci_subsystem_id;
    char bus_id[WSI_NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];           /* "00000000:1B:00.0" */
} wsi_nvml_pci_info;

/* nvmlValueType_t: which member of wsi_nvml_value is valid. */
#define WSI_NVML_VALUE_TYPE_DOUBLE 0
#define WSI_NVML_VALUE_TYPE_UNSIGNED_INT 1
#define WSI_NVML_VALUE_TYPE_UNSIGNED_LONG 2
#define WSI_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG 3
#define WSI_NVML_VALUE_TYPE_SIGNED_LONG_LONG 4
#define WSI_NVML_VALUE_TYPE_SIGNED_INT 5
#define WSI_NVML_VALUE_TYPE_UNSIGNED_SHORT 6 /* in 13.0, not in 12.2; same union size */

/* nvmlValue_t: 8 bytes, 8-aligned. */
typedef union {
    double d_val;
    int si_val;
    unsigned int ui_val;
    unsigned long ul_val;
    unsigned long long ull_val;
    signed long long sll_val;
    unsigned short us_val;
} wsi_nvml_value;

/* nvmlFieldValue_t: 40 bytes. The caller sets field_id and scope_id; NVML fills the rest.
 * nvml_return is per field and must be checked: the call itself can succeed while a field
 * fails. */
typedef struct {
    unsigned int field_id;
    unsigned int scope_id;     /* 0: the GPU alone (for power fields; 1 = module) */
    long long timestamp_us;    /* CPU time of the value, us since 1970 */
    long long latency_us;      /* how long NVML took to update it */
    int value_type;            /* WSI_NVML_VALUE_TYPE_* */
    wsi_nvml_return nvml_return;
    wsi_nvml_value value;
} wsi_nvml_field_value;

/* NVML_FI_DEV_POWER_INSTANT: current GPU power in mW (value type unsigned int), scope 0 =
 * the GPU alone. A recent field (in the 12.2 header): drivers that predate it fail it
 * through the per-field nvml_return, so energy/nvml.c probes it once at open. */
#define WSI_NVML_FI_DEV_POWER_INSTANT 186

/* NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION: the same counter as
 * nvmlDeviceGetTotalEnergyConsumption, in mJ (unsigned long long). Asking for it together
 * with POWER_INSTANT makes one sample one driver call instead of two. */
#define WSI_NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION 83

/* The functions we resolve with dlsym, one pointer type each (same signatures as nvml.h;
 * `unsigned long long` energy in mJ, `unsigned int` power and limits in mW). */
typedef wsi_nvml_return (*wsi_nvml_init_fn)(void);                  /* nvmlInit_v2, nvmlInit */
typedef wsi_nvml_return (*wsi_nvml_shutdown_fn)(void);
typedef const char *(*wsi_nvml_error_string_fn)(wsi_nvml_return result);
typedef wsi_nvml_return (*wsi_nvml_device_get_count_fn)(unsigned int *device_count);
typedef wsi_nvml_return (*wsi_nvml_device_get_handle_by_index_fn)(unsigned int index, wsi_nvml_device *device);
typedef wsi_nvml_return (*wsi_nvml_device_get_name_fn)(wsi_nvml_device device, char *name, unsigned int length);
typedef wsi_nvml_return (*wsi_nvml_device_get_uuid_fn)(wsi_nvml_device device, char *uuid, unsigned int length);
typedef wsi_nvml_return (*wsi_nvml_device_get_pci_info_fn)(wsi_nvml_device device, wsi_nvml_pci_info *pci);
typedef wsi_nvml_return (*wsi_nvml_device_get_enforced_power_limit_fn)(wsi_nvml_device device, unsigned int *limit_mw);
typedef wsi_nvml_return (*wsi_nvml_device_get_total_energy_consumption_fn)(wsi_nvml_device device,
                                                                          unsigned long long *energy_mj);
typedef wsi_nvml_return (*wsi_nvml_device_get_power_usage_fn)(wsi_nvml_device device, unsigned int *power_mw);
typedef wsi_nvml_return (*wsi_nvml_device_get_field_values_fn)(wsi_nvml_device device, int values_count,
                                                              wsi_nvml_field_value *values);

#endif
