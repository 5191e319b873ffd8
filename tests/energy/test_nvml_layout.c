/* tests/energy/test_nvml_layout.c - our NVML declarations (src/energy/nvml_api.h) against
 * NVIDIA's nvml.h, wherever the build finds one (WS_HAVE_NVML_H; the GPU machine).
 * energy/nvml.c calls libnvidia-ml through those declarations, so a wrong offset or
 * constant would read the wrong bytes silently; here the compiler refuses instead.
 * Checks: size, alignment and every member's offset of the structs we pass to NVML, the
 * constants we use, the sizes of the enum and handle types, and that each function we
 * dlsym has, in nvml.h, the signature our pointer type assumes. The runtime part writes a
 * value through NVIDIA's struct and reads it back through ours. */
#include "ws_test.h"

#include "energy/nvml_api.h"

#include <nvml.h>
#include <stdalign.h>

#define SAME_OFFSET(ours, m_ours, theirs, m_theirs)                                                         \
    _Static_assert(offsetof(ours, m_ours) == offsetof(theirs, m_theirs), #ours "." #m_ours " is not at " \
                                                                         #theirs "." #m_theirs "'s offset")
#define SAME_LAYOUT(ours, theirs)                                                            \
    _Static_assert(sizeof(ours) == sizeof(theirs), "sizeof " #ours " != sizeof " #theirs); \
    _Static_assert(alignof(ours) == alignof(theirs), "alignof " #ours " != alignof " #theirs)
#define SAME_VALUE(ours, theirs) _Static_assert((ours) == (theirs), #ours " != " #theirs)
/* The real function, as nvml.h declares it, has exactly this type (then, with the sizes
 * checked below, our pointer type calls it with the same ABI). */
#define SAME_SIGNATURE(fn, type) _Static_assert(_Generic(&fn, type: 1, default: 0), #fn ": nvml.h's signature changed")

/* Scalars: the enums we declare as int, the opaque handle as a pointer. */
SAME_LAYOUT(wsi_nvml_return, nvmlReturn_t);
SAME_LAYOUT(int, nvmlValueType_t);
SAME_LAYOUT(wsi_nvml_device, nvmlDevice_t);

/* nvmlPciInfo_t (filled by nvmlDeviceGetPciInfo_v3). */
SAME_LAYOUT(wsi_nvml_pci_info, nvmlPciInfo_t);
SAME_OFFSET(wsi_nvml_pci_info, bus_id_legacy, nvmlPciInfo_t, busIdLegacy);
SAME_OFFSET(wsi_nvml_pci_info, domain, nvmlPciInfo_t, domain);
SAME_OFFSET(wsi_nvml_pci_info, bus, nvmlPciInfo_t, bus);
SAME_OFFSET(wsi_nvml_pci_info, device, nvmlPciInfo_t, device);
SAME_OFFSET(wsi_nvml_pci_info, pci_device_id, nvmlPciInfo_t, pciDeviceId);
SAME_OFFSET(wsi_nvml_pci_info, pci_subsystem_id, nvmlPciInfo_t, pciSubSystemId);
SAME_OFFSET(wsi_nvml_pci_info, bus_id, nvmlPciInfo_t, busId);
_Static_assert(sizeof(((wsi_nvml_pci_info *)0)->bus_id) == sizeof(((nvmlPciInfo_t *)0)->busId), "busId size");
_Static_assert(sizeof(((wsi_nvml_pci_info *)0)->bus_id_legacy) == sizeof(((nvmlPciInfo_t *)0)->busIdLegacy),
               "busIdLegacy size");

/* nvmlValue_t and nvmlFieldValue_t (nvmlDeviceGetFieldValues). */
SAME_LAYOUT(wsi_nvml_value, nvmlValue_t);
SAME_OFFSET(wsi_nvml_value, d_val, nvmlValue_t, dVal);
SAME_OFFSET(wsi_nvml_value, ui_val, nvmlValue_t, uiVal);
SAME_OFFSET(wsi_nvml_value, ull_val, nvmlValue_t, ullVal);
SAME_LAYOUT(wsi_nvml_field_value, nvmlFieldValue_t);
SAME_OFFSET(wsi_nvml_field_value, field_id, nvmlFieldValue_t, fieldId);
SAME_OFFSET(wsi_nvml_field_value, scope_id, nvmlFieldValue_t, scopeId);
SAME_OFFSET(wsi_nvml_field_value, timestamp_us, nvmlFieldValue_t, timestamp);
SAME_OFFSET(wsi_nvml_field_value, latency_us, nvmlFieldValue_t, latencyUsec);
SAME_OFFSET(wsi_nvml_field_value, value_type, nvmlFieldValue_t, valueType);
SAME_OFFSET(wsi_nvml_field_value, nvml_return, nvmlFieldValue_t, nvmlReturn);
SAME_OFFSET(wsi_nvml_field_value, value, nvmlFieldValue_t, value);

/* Constants. */
SAME_VALUE(WSI_NVML_SUCCESS, NVML_SUCCESS);
SAME_VALUE(WSI_NVML_ERROR_UNINITIALIZED, NVML_ERROR_UNINITIALIZED);
SAME_VALUE(WSI_NVML_ERROR_INVALID_ARGUMENT, NVML_ERROR_INVALID_ARGUMENT);
SAME_VALUE(WSI_NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_NOT_SUPPORTED);
SAME_VALUE(WSI_NVML_ERROR_NO_PERMISSION, NVML_ERROR_NO_PERMISSION);
SAME_VALUE(WSI_NVML_ERROR_NOT_FOUND, NVML_ERROR_NOT_FOUND);
SAME_VALUE(WSI_NVML_ERROR_INSUFFICIENT_SIZE, NVML_ERROR_INSUFFICIENT_SIZE);
SAME_VALUE(WSI_NVML_ERROR_DRIVER_NOT_LOADED, NVML_ERROR_DRIVER_NOT_LOADED);
SAME_VALUE(WSI_NVML_ERROR_LIBRARY_NOT_FOUND, NVML_ERROR_LIBRARY_NOT_FOUND);
SAME_VALUE(WSI_NVML_ERROR_FUNCTION_NOT_FOUND, NVML_ERROR_FUNCTION_NOT_FOUND);
SAME_VALUE(WSI_NVML_ERROR_GPU_IS_LOST, NVML_ERROR_GPU_IS_LOST);
SAME_VALUE(WSI_NVML_ERROR_UNKNOWN, NVML_ERROR_UNKNOWN);
SAME_VALUE(WSI_NVML_VALUE_TYPE_DOUBLE, NVML_VALUE_TYPE_DOUBLE);
SAME_VALUE(WSI_NVML_VALUE_TYPE_UNSIGNED_INT, NVML_VALUE_TYPE_UNSIGNED_INT);
SAME_VALUE(WSI_NVML_VALUE_TYPE_UNSIGNED_LONG, NVML_VALUE_TYPE_UNSIGNED_LONG);
SAME_VALUE(WSI_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG, NVML_VALUE_TYPE_UNSIGNED_LONG_LONG);
SAME_VALUE(WSI_NVML_VALUE_TYPE_SIGNED_LONG_LONG, NVML_VALUE_TYPE_SIGNED_LONG_LONG);
SAME_VALUE(WSI_NVML_VALUE_TYPE_SIGNED_INT, NVML_VALUE_TYPE_SIGNED_INT);
/* WSI_NVML_VALUE_TYPE_UNSIGNED_SHORT is not checked: older nvml.h (12.2) lacks it. */
SAME_VALUE(WSI_NVML_FI_DEV_POWER_INSTANT, NVML_FI_DEV_POWER_INSTANT);
SAME_VALUE(WSI_NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION, NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION);
SAME_VALUE(WSI_NVML_DEVICE_NAME_V2_BUFFER_SIZE, NVML_DEVICE_NAME_V2_BUFFER_SIZE);
SAME_VALUE(WSI_NVML_DEVICE_UUID_V2_BUFFER_SIZE, NVML_DEVICE_UUID_V2_BUFFER_SIZE);
SAME_VALUE(WSI_NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE, NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE);
SAME_VALUE(WSI_NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE, NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE);

/* Signatures of the functions energy/nvml.c resolves (versioned names: nvml.h maps the
 * plain ones onto them with macros). */
SAME_SIGNATURE(nvmlInit_v2, nvmlReturn_t (*)(void));
SAME_SIGNATURE(nvmlShutdown, nvmlReturn_t (*)(void));
SAME_SIGNATURE(nvmlErrorString, const char *(*)(nvmlReturn_t));
SAME_SIGNATURE(nvmlDeviceGetCount_v2, nvmlReturn_t (*)(unsigned int *));
SAME_SIGNATURE(nvmlDeviceGetHandleByIndex_v2, nvmlReturn_t (*)(unsigned int, nvmlDevice_t *));
SAME_SIGNATURE(nvmlDeviceGetName, nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned int));
SAME_SIGNATURE(nvmlDeviceGetUUID, nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned int));
SAME_SIGNATURE(nvmlDeviceGetPciInfo_v3, nvmlReturn_t (*)(nvmlDevice_t, nvmlPciInfo_t *));
SAME_SIGNATURE(nvmlDeviceGetEnforcedPowerLimit, nvmlReturn_t (*)(nvmlDevice_t, unsigned int *));
SAME_SIGNATURE(nvmlDeviceGetTotalEnergyConsumption, nvmlReturn_t (*)(nvmlDevice_t, unsigned long long *));
SAME_SIGNATURE(nvmlDeviceGetPowerUsage, nvmlReturn_t (*)(nvmlDevice_t, unsigned int *));
SAME_SIGNATURE(nvmlDeviceGetFieldValues, nvmlReturn_t (*)(nvmlDevice_t, int, nvmlFieldValue_t *));

/* Values written through NVIDIA's struct come back through ours, member by member. */
static void test_nvml_layout_round_trip(void **state) {
    (void)state;
    nvmlFieldValue_t theirs;
    memset(&theirs, 0, sizeof theirs);
    theirs.fieldId = NVML_FI_DEV_POWER_INSTANT;
    theirs.scopeId = 7;
    theirs.timestamp = 1234567890123456LL;
    theirs.latencyUsec = 42;
    theirs.valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
    theirs.nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
    theirs.value.uiVal = 712345;
    wsi_nvml_field_value ours;
    memcpy(&ours, &theirs, sizeof ours);
    assert_int_equal(ours.field_id, WSI_NVML_FI_DEV_POWER_INSTANT);
    assert_int_equal(ours.scope_id, 7);
    assert_true(ours.timestamp_us == 1234567890123456LL);
    assert_true(ours.latency_us == 42);
    assert_int_equal(ours.value_type, WSI_NVML_VALUE_TYPE_UNSIGNED_INT);
    assert_int_equal(ours.nvml_return, WSI_NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(ours.value.ui_val, 712345);

    nvmlPciInfo_t pci;
    memset(&pci, 0, sizeof pci);
    snprintf(pci.busId, sizeof pci.busId, "00000000:1B:00.0");
    snprintf(pci.busIdLegacy, sizeof pci.busIdLegacy, "0000:1B:00.0");
    pci.bus = 0x1B;
    pci.pciSubSystemId = 0x16C110DE;
    wsi_nvml_pci_info our_pci;
    memcpy(&our_pci, &pci, sizeof our_pci);
    assert_string_equal(our_pci.bus_id, "00000000:1B:00.0");
    assert_string_equal(our_pci.bus_id_legacy, "0000:1B:00.0");
    assert_int_equal(our_pci.bus, 0x1B);
    assert_int_equal(our_pci.pci_subsystem_id, 0x16C110DE);
    print_message("nvml.h API version %d: nvmlFieldValue_t %zu bytes, nvmlPciInfo_t %zu bytes\n", NVML_API_VERSION,
                  sizeof(nvmlFieldValue_t), sizeof(nvmlPciInfo_t));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nvml_layout_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
