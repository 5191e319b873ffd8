/* tests/ops/test_gemm.c - ws_gemm_cpu (src/ops/gemm_cpu.c) against a double triple loop:
 * all four transpose combinations, sizes that cross the fallback's 64/128 blocks, padded
 * leading dimensions (padding must survive), alpha/beta cases, beta 0 over NaN, k 0.
 * Build it with and without BLAS (WS_HAVE_BLAS) to test both implementations. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/gemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    int m, n, k;
} shape;

static const shape SHAPES[] = {{1, 1, 1}, {7, 5, 3}, {37, 29, 53}, {130, 70, 300}, {3, 200, 2}, {65, 1, 129}};

/* ref[i][j] = alpha * sum_p op(A)[i][p] op(B)[p][j] + beta * c[i][j] (beta 0: c not read), and
 * mag[i][j], the same sum of absolute values: the scale of the rounding error. */
static void gemm_ref(int ta, int tb, int m, int n, int k, double alpha, const float *a, int lda, const float *b,
                     int ldb, double beta, const float *c, int ldc, double *ref, double *mag) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0, sa = 0.0;
            for (int p = 0; p < k; p++) {
                double av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                double bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += av * bv;
                sa += fabs(av * bv);
            }
            double cv = beta != 0.0 ? beta * c[(size_t)i * ldc + j] : 0.0;
            ref[(size_t)i * n + j] = alpha * s + cv;
            mag[(size_t)i * n + j] = fabs(alpha) * sa + fabs(cv);
        }
}

/* |got - ref| <= 2e-6 * mag + 1e-6. Why not WS_TOL_FP32 on |ref|: a dot product of length k
 * that cancels to near 0 keeps the rounding error of its terms (up to ~sqrt(k) eps32 of
 * mag); relative to |ref| that is unbounded (measured: 5.8e-5 absolute on a result of
 * -0.0095, k = 300). Relative to mag the observed worst is 2.9e-7 (BLAS and the fallback alike). */
static void check_gemm(const float *got, const double *ref, const double *mag, size_t n, const char *what) {
    size_t worst = 0;
    double worst_ratio = -1.0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]), bound = 2e-6 * mag[i] + 1e-6;
        double ratio = err <= bound ? err / bound : INFINITY; /* NaN fails */
        if (ratio > worst_ratio) worst_ratio = ratio, worst = i;
    }
    if (getenv("WS_TEST_VERBOSE")) fprintf(stderr, "  %s: worst err/bound %.3g\n", what, worst_ratio);
    if (!(worst_ratio <= 1.0))
        fail_msg("%s: [%zu] got %.9g, want %.9g (bound 2e-6 * %.6g + 1e-6)", what, worst, (double)got[worst],
                 ref[worst], mag[worst]);
}

/* One case: stored matrices with 3 columns of padding; C's padding holds a sentinel. */
static void run_case(ws_rng *rng, int ta, int tb, shape s, float alpha, float beta) {
    int a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k, b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
    int lda = a_cols + 3, ldb = b_cols + 3, ldc = s.n + 3;
    float *a = ws_test_floats((size_t)a_rows * lda), *b = ws_test_floats((size_t)b_rows * ldb);
    float *c = ws_test_floats((size_t)s.m * ldc), *c0 = ws_test_floats((size_t)s.m * ldc);
    float *got = ws_test_floats((size_t)s.m * s.n);
    double *ref = malloc((size_t)s.m * s.n * sizeof *ref), *mag = malloc((size_t)s.m * s.n * sizeof *mag);
    ws_test_fill_normal(rng, a, (size_t)a_rows * lda, 0.0, 1.0);
    ws_test_fill_normal(rng, b, (size_t)b_rows * ldb, 0.0, 1.0);
    if (beta == 0.0f)
        ws_test_poison(c, (size_t)s.m * ldc * sizeof *c); /* beta 0 must not read C */
    else
        ws_test_fill_normal(rng, c, (size_t)s.m * ldc, 0.0, 1.0);
    for (int i = 0; i < s.m; i++)
        for (int j = s.n; j < ldc; j++) c[(size_t)i * ldc + j] = 1234.5f;
    memcpy(c0, c, (size_t)s.m * ldc * sizeof *c);
    gemm_ref(ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c0, ldc, ref, mag);
    ws_gemm_cpu(ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc);
    for (int i = 0; i < s.m; i++) {
        memcpy(got + (size_t)i * s.n, c + (size_t)i * ldc, (size_t)s.n * sizeof *got);
        for (int j = s.n; j < ldc; j++)
            if (c[(size_t)i * ldc + j] != 1234.5f)
                fail_msg("ta %d tb %d %dx%dx%d: padding C[%d][%d] overwritten", ta, tb, s.m, s.n, s.k, i, j);
    }
    char what[96];
    snprintf(what, sizeof what, "ta %d tb %d m %d n %d k %d alpha %g beta %g", ta, tb, s.m, s.n, s.k, (double)alpha,
             (double)beta);
    check_gemm(got, ref, mag, (size_t)s.m * s.n, what);
    free(a), free(b), free(c), free(c0), free(got), free(ref), free(mag);
}

static void test_gemm_all_transposes_match_double(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(101);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
                run_case(&rng, ta, tb, SHAPES[i], 1.0f, 0.0f);
                run_case(&rng, ta, tb, SHAPES[i], 0.5f, 1.0f);
                run_case(&rng, ta, tb, SHAPES[i], -1.5f, 2.0f);
            }
}

static void test_gemm_k0_scales_c(void **state) {
    (void)state;
    float a[1] = {7.0f}, b[1] = {7.0f}, c[6] = {1, 2, 3, 4, 5, 6};
    ws_gemm_cpu(0, 0, 2, 3, 0, 1.0f, a, 1, b, 3, 2.0f, c, 3);
    for (int i = 0; i < 6; i++) assert_true(c[i] == 2.0f * (float)(i + 1));
    ws_test_poison(c, sizeof c);
    ws_gemm_cpu(1, 1, 2, 3, 0, 1.0f, a, 2, b, 1, 0.0f, c, 3);
    for (int i = 0; i < 6; i++) assert_true(c[i] == 0.0f);
}

/* The same call twice gives the same bits; without BLAS, also with 1 and 2 OpenMP threads
 * (each C element sees the same order of additions whichever thread owns its rows). */
static void test_gemm_reproducible(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(102);
    int m = 200, n = 150, k = 260;
    float *a = ws_test_floats((size_t)m * k), *b = ws_test_floats((size_t)k * n);
    float *c1 = ws_test_floats((size_t)m * n), *c2 = ws_test_floats((size_t)m * n);
    ws_test_fill_normal(&rng, a, (size_t)m * k, 0.0, 1.0);
    ws_test_fill_normal(&rng, b, (size_t)k * n, 0.0, 1.0);
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    ws_gemm_cpu(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c1, n);
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    ws_gemm_cpu(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c2, n);
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
    WS_TEST_BITWISE(c1, c2, (size_t)m * n);
    free(a), free(b), free(c1), free(c2);
}

/* OpenBLAS and GSL's reference libgslcblas both export cblas_sgemm; linked in the wrong order,
 * the naive one serves every CPU operator without a word (that happened once). */
static void test_gemm_uses_a_real_blas(void **state) {
    (void)state;
    const char *lib = ws_gemm_cpu_library();
    assert_non_null(lib);
    assert_null(strstr(lib, "gslcblas"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_all_transposes_match_double),
        cmocka_unit_test(test_gemm_k0_scales_c),
        cmocka_unit_test(test_gemm_reproducible),
        cmocka_unit_test(test_gemm_uses_a_real_blas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
