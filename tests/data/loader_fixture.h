/* tests/data/loader_fixture.h - what the loader's tests and its users' tests share: a
 * deterministic synthetic dataset and a sampler over it.
 * defines: fixture_synthetic, fixture_sampler. Implementation: tests/data/loader_fixture.c. */
#ifndef WS_TEST_LOADER_FIXTURE_H
#define WS_TEST_LOADER_FIXTURE_H

#include <stdint.h>

#include "data/dataset.h"
#include "data/sampler.h"

/* count training samples of 3 x hw x hw in `classes` classes, from seed (fails the test on
 * error). */
ws_dataset *fixture_synthetic(size_t count, int hw, int classes, uint64_t seed);
/* Batches of `batch` over all of d, shuffled per epoch from seed, the last one short. */
ws_sampler *fixture_sampler(const ws_dataset *d, int batch, uint64_t seed);

#endif
