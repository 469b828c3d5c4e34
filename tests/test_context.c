/* Context API: create / destroy, options, describe, version, CPU features, forcing and masking. */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv, strdup under -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/qk_test.h"

START_TEST(test_version) {
    int ma, mi, pa;
    qkern_version_numbers(&ma, &mi, &pa);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", ma, mi, pa);
    ck_assert_str_eq(qkern_version(), want);
    ck_assert_int_eq(ma, QKERN_VERSION_MAJOR);
}
END_TEST

START_TEST(test_create_default) {
    qkern_context *ctx = qk_test_context(0);
    ck_assert_int_ge(qkern_context_threads(ctx), 1);
    char buf[16384];
    size_t need = 0;
    ck_assert_int_eq(qkern_context_describe(ctx, buf, sizeof buf, &need), QKERN_OK);
    ck_assert_ptr_nonnull(strstr(buf, "backends:"));
    ck_assert_ptr_nonnull(strstr(buf, "scalar"));
    ck_assert_ptr_nonnull(strstr(buf, "quantize:"));
    ck_assert_uint_le(need, sizeof buf);
    /* A short buffer is truncated but terminated, and `needed` says how much is needed. */
    char small[16];
    size_t need2 = 0;
    ck_assert_int_eq(qkern_context_describe(ctx, small, sizeof small, &need2), QKERN_OK);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_uint_eq(need2, need);
    qkern_context_destroy(ctx);
}
END_TEST

START_TEST(test_force_scalar) {
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.backend = "scalar";
    o.threads = 1;
    qkern_context *ctx = NULL;
    const char *env = getenv("QKERN_BACKEND");
    ck_assert_int_eq(qkern_context_create(&o, &ctx), QKERN_OK);
    if (!env || !*env) ck_assert_str_eq(qkern_context_backend(ctx), "scalar");
    qkern_context_destroy(ctx);
}
END_TEST

START_TEST(test_unknown_backend) {
    if (getenv("QKERN_BACKEND")) return; /* the environment overrides options by design */
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.backend = "cuda";
    qkern_context *ctx = (qkern_context *)(uintptr_t)1;
    ck_assert_int_eq(qkern_context_create(&o, &ctx), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "\"cuda\""));
}
END_TEST

START_TEST(test_bad_threads) {
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.threads = -3;
    qkern_context *ctx = NULL;
    ck_assert_int_eq(qkern_context_create(&o, &ctx), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "threads=-3"));
    ck_assert_int_eq(qkern_context_create(NULL, NULL), QKERN_INVALID_ARGUMENT);
    ck_assert_int_eq(qkern_context_describe(NULL, NULL, 0, NULL), QKERN_INVALID_ARGUMENT);
    qkern_context_destroy(NULL); /* a no-op, like free(NULL) */
}
END_TEST

/* The backend this process should see: x86 when AVX-512 VNNI is there (and not masked). */
START_TEST(test_backend_matches_cpu) {
    qkern_context *ctx = qk_test_context(1);
    uint64_t f = qkern_cpu_features();
    const char *b = qkern_context_backend(ctx);
    const char *env = getenv("QKERN_BACKEND");
    if (env && *env) {
        ck_assert_str_eq(b, env);
    } else {
#if defined(QKERN_HAVE_X86)
        int vnni = (f & (QKERN_CPU_AVX512F | QKERN_CPU_AVX512BW | QKERN_CPU_AVX512VNNI)) ==
                   (QKERN_CPU_AVX512F | QKERN_CPU_AVX512BW | QKERN_CPU_AVX512VNNI);
        ck_assert_str_eq(b, vnni ? "x86" : "scalar");
        printf("x86: %s\n", vnni ? "exercised (AVX-512 VNNI present)" : "skipped, no AVX-512 VNNI on this CPU");
#elif defined(QKERN_HAVE_NEON)
        ck_assert_str_eq(b, (f & QKERN_CPU_NEON) ? "neon" : "scalar"); /* QKERN_DISABLE=all masks NEON */
#else
        (void)f;
        ck_assert_str_eq(b, "scalar");
#endif
    }
    qkern_context_destroy(ctx);
}
END_TEST

START_TEST(test_disable_mask) {
    /* QKERN_DISABLE=all masks every feature; the raw detection stays visible in describe. */
    const char *old = getenv("QKERN_DISABLE");
    char *saved = old ? strdup(old) : NULL;
    setenv("QKERN_DISABLE", "all", 1);
    ck_assert_uint_eq(qkern_cpu_features(), 0);
    setenv("QKERN_DISABLE", "avx512vnni,nosuchfeature", 1);
    ck_assert_uint_eq(qkern_cpu_features() & QKERN_CPU_AVX512VNNI, 0);
    qkern_context *ctx = NULL;
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.threads = 1;
    ck_assert_int_eq(qkern_context_create(&o, &ctx), QKERN_OK);
    char buf[16384];
    qkern_context_describe(ctx, buf, sizeof buf, NULL);
    ck_assert_ptr_nonnull(strstr(buf, "unknown feature \"nosuchfeature\""));
    if (!getenv("QKERN_BACKEND")) ck_assert_str_ne(qkern_context_backend(ctx), "x86");
    qkern_context_destroy(ctx);
    if (saved) { setenv("QKERN_DISABLE", saved, 1); free(saved); } else unsetenv("QKERN_DISABLE");
}
END_TEST

START_TEST(test_feature_names) {
    ck_assert_str_eq(qkern_cpu_feature_name(QKERN_CPU_AVX512VNNI), "avx512vnni");
    ck_assert_str_eq(qkern_cpu_feature_name(QKERN_CPU_DOTPROD), "dotprod");
    ck_assert_ptr_null(qkern_cpu_feature_name(1ull << 60));
}
END_TEST

static void qk_serial_parallel_for(void *user, qkern_task_fn fn, void *arg, int64_t n) {
    int *calls = user;
    (*calls)++;
    for (int64_t i = 0; i < n; i++) fn(arg, i);
}

START_TEST(test_engine_parallel_for) {
    /* An engine-supplied parallel-for is used instead of an owned pool. */
    int calls = 0;
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.parallel_for = qk_serial_parallel_for;
    o.parallel_for_user = &calls;
    qkern_context *ctx = NULL;
    ck_assert_int_eq(qkern_context_create(&o, &ctx), QKERN_OK);
    /* 4096 rows × 64: several row tasks, so the front end goes through the callback. */
    const size_t n = 64 * 4096;
    float *x = malloc(n * sizeof *x);
    qk_fill(x, n, QK_PAT_UNIFORM, 7);
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, 0}, 4096, 64));
    ck_assert_int_eq(qkern_quantize(ctx, x, QKERN_F32, n * sizeof *x, &b.t), QKERN_OK);
    ck_assert_int_ge(calls, 1);
    qk_qbuf_free(&b);
    free(x);
    qkern_context_destroy(ctx);
}
END_TEST

static Suite *context_suite(void) {
    Suite *s = suite_create("context");
    TCase *tc = tcase_create("context");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_create_default);
    tcase_add_test(tc, test_force_scalar);
    tcase_add_test(tc, test_unknown_backend);
    tcase_add_test(tc, test_bad_threads);
    tcase_add_test(tc, test_backend_matches_cpu);
    tcase_add_test(tc, test_disable_mask);
    tcase_add_test(tc, test_feature_names);
    tcase_add_test(tc, test_engine_parallel_for);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return qk_test_run(context_suite()); }
