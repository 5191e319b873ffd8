/* tests/models/afno_test.h - what the AFNO tests share (tests/models/test_afno.c,
 * tests/train/test_forecast_loss.c).
 * defines: ws_test_afno_perturb. Implementation: tests/models/afno_test.c. */
#ifndef WS_TESTS_MODELS_AFNO_TEST_H
#define WS_TESTS_MODELS_AFNO_TEST_H

#include <stdint.h>
#include "models/model.h"

/* Moves the tensors FourCastNet initialises to constants (norms, biases) and scales the
 * filters up from 0.02, so that every gradient is generic and the spectral path matters. */
void ws_test_afno_perturb(ws_model *m, uint64_t seed);

#endif
