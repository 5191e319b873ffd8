/* energy/meter_internal.h - what tests and the dist layer may do to a meter beyond the
 * public API (internal). defines: wsi_meter_add_sensor. */
#ifndef WS_ENERGY_METER_INTERNAL_H
#define WS_ENERGY_METER_INTERNAL_H

#include "energy/sensor.h"

/* Adds a sensor before start (tests add scripted fakes this way). The meter owns it from
 * here on, also when this fails. */
ws_status wsi_meter_add_sensor(ws_meter *m, wsi_sensor *s, ws_error *err);

#endif
