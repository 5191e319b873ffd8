/* wattscale/wattscale.h - umbrella header of libwattscale.
 * defines: ws_version, ws_build_features. Include this, or only wattscale/energy.h when a
 * program needs just the meter. */
#ifndef WATTSCALE_H
#define WATTSCALE_H

#include "wattscale/status.h"
#include "wattscale/energy.h"

#ifdef __cplusplus
extern "C" {
#endif

WS_API const char *ws_version(void);        /* "0.1.0" */
/* One line per optional part: "cuda yes 13.0", "mpi no", ...; static storage. */
WS_API const char *ws_build_features(void);

#ifdef __cplusplus
}
#endif
#endif
