/* tests/models/afno_test.c - helpers of the AFNO tests; contract in tests/models/afno_test.h. */
#include "afno_test.h"
#include "core/rng.h"

#include <string.h>

void ws_test_afno_perturb(ws_model *m, uint64_t seed) {
    ws_rng rng = ws_rng_seeded(seed);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const ws_model_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        int filter = strstr(t->name, ".filter.") != NULL;
        for (size_t j = 0; j < t->count; j++)
            p[j] = filter ? (float)(0.4 * ws_rng_normal(&rng)) : p[j] + (float)(0.1 * ws_rng_normal(&rng));
    }
}
