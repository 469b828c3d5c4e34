/* Matmul through the public API: every mode of docs/matmul.md against the float64
 * reference of tests/conformance/conform_ref.c (the dequantised operands, activations
 * quantised by the mode's rule), held to |y − ref| ≤ 1e-5·Σ_k|x_k·w_k| + 1e-6 per element;
 * tails M, N ∈ {1,2,3,7,16,33}; identical bytes for 1, 2, 7 threads and an engine
 * parallel-for; bad input; Y guarded by sentinels, row padding (ldy > N) never written. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conformance/conform_ref.h"
#include "backends/scalar/scalar.h"
#include "kernels/backend.h"
#include "kernels/context_internal.h"
#include "support/qk_test.h"

typedef struct qk_mode {
    qkern_quant_desc d;
    qkern_act_mode act;
    int64_t k;
} qk_mode;

#define ROW QKERN_GROUP_ROW
#define TENSOR QKERN_GROUP_TENSOR
#define ASYM QKERN_QUANT_ASYMMETRIC

static const qk_mode qk_modes[] = {
    {{QKERN_I8, ROW, 0}, QKERN_ACT_FLOAT, 96},
    {{QKERN_I8, 32, 0}, QKERN_ACT_FLOAT, 96},
    {{QKERN_I8_ASYM, ROW, 0}, QKERN_ACT_FLOAT, 96},
    {{QKERN_I8_ASYM, TENSOR, 0}, QKERN_ACT_FLOAT, 64},
    {{QKERN_I4, 32, 0}, QKERN_ACT_FLOAT, 128},
    {{QKERN_I4, 64, ASYM}, QKERN_ACT_FLOAT, 128},
    {{QKERN_Q4_0, 32, 0}, QKERN_ACT_FLOAT, 96},
    {{QKERN_Q4_1, 32, 0}, QKERN_ACT_FLOAT, 96},
    {{QKERN_Q8_0, 32, 0}, QKERN_ACT_FLOAT, 96},
    {{QKERN_Q8_1, 32, 0}, QKERN_ACT_FLOAT, 64},
    {{QKERN_NF4, 64, 0}, QKERN_ACT_FLOAT, 128},
    {{QKERN_FP8_E4M3, ROW, 0}, QKERN_ACT_FLOAT, 96},
    {{QKERN_FP8_E5M2, TENSOR, 0}, QKERN_ACT_FLOAT, 96},
    {{QKERN_I8, ROW, 0}, QKERN_ACT_I8_DYNAMIC, 96},
    {{QKERN_I8, 32, 0}, QKERN_ACT_I8_DYNAMIC, 96},
    {{QKERN_I4, 32, 0}, QKERN_ACT_I8_DYNAMIC, 128},
    {{QKERN_I4, 64, ASYM}, QKERN_ACT_I8_DYNAMIC, 128},
    {{QKERN_I4, ROW, 0}, QKERN_ACT_I8_DYNAMIC, 64},
    {{QKERN_Q4_0, 32, 0}, QKERN_ACT_Q8_0, 96},
    {{QKERN_Q8_0, 32, 0}, QKERN_ACT_Q8_0, 96},
    {{QKERN_Q4_1, 32, 0}, QKERN_ACT_Q8_1, 96},
    {{QKERN_FP8_E4M3, ROW, 0}, QKERN_ACT_FP8_E4M3, 96},
    {{QKERN_FP8_E5M2, TENSOR, 0}, QKERN_ACT_FP8_E5M2, 96},
    {{QKERN_FP8_E4M3, TENSOR, 0}, QKERN_ACT_FP8_E5M2, 64},
    {{QKERN_FP8_E5M2, ROW, 0}, QKERN_ACT_FP8_E4M3, 64},
    {{QKERN_I8, ROW, 0}, QKERN_ACT_LLM_INT8, 96},
    /* Element formats with one scale per row take any K, including odd ones. */
    {{QKERN_I8, ROW, 0}, QKERN_ACT_FLOAT, 45},
    {{QKERN_I8, ROW, 0}, QKERN_ACT_I8_DYNAMIC, 45},
    {{QKERN_I8, ROW, 0}, QKERN_ACT_LLM_INT8, 45},
    {{QKERN_FP8_E4M3, ROW, 0}, QKERN_ACT_FP8_E4M3, 33},
    {{QKERN_FP8_E5M2, TENSOR, 0}, QKERN_ACT_FLOAT, 17},
};
#define QK_N_MODES ((int)(sizeof qk_modes / sizeof qk_modes[0]))

static const int64_t qk_tails[] = {1, 2, 3, 7, 16, 33};
#define QK_N_TAILS 6

static qkern_context *qk_scalar_ctx(void) {
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.backend = "scalar";
    o.threads = 1;
    qkern_context *ctx = NULL;
    ck_assert_msg(qkern_context_create(&o, &ctx) == QKERN_OK, "%s", qkern_last_error());
    return ctx;
}

/* W (n × k) quantised by the scalar reference from U(-1,1) data; the caller frees. */
static void qk_make_w(qkern_context *sc, qkern_quant_desc d, int64_t n, int64_t k, uint64_t seed, qk_cf_qt *w) {
    float *wf = malloc((size_t)(n * k) * sizeof(float));
    ck_assert_ptr_nonnull(wf);
    qk_cf_fill(wf, n, k, k, QK_CF_UNIFORM, seed);
    ck_assert(qk_cf_qt_alloc(w, d, n, k));
    qkern_status s = qkern_quantize(sc, wf, QKERN_F32, (size_t)(n * k) * sizeof(float), &w->t);
    ck_assert_msg(s == QKERN_OK, "quantize W: %s", qkern_last_error());
    free(wf);
}

static qkern_packed_weights *qk_pack(qkern_context *ctx, const qkern_qtensor *w, qkern_act_mode act,
                                     const float *bias, float thr) {
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = act;
    o.bias = bias;
    o.outlier_threshold = thr;
    qkern_packed_weights *p = NULL;
    qkern_status s = qkern_pack_weights(ctx, w, &o, &p);
    ck_assert_msg(s == QKERN_OK, "pack: %s: %s", qkern_status_name(s), qkern_last_error());
    return p;
}

/* Y with ldy = n + 2: every byte not an output element (guards and row padding) must keep
 * the sentinel. */
static void qk_check_y_padding(const qk_cf_buf *yb, int64_t m, int64_t n, int64_t ldy) {
    ck_assert_msg(qk_cf_buf_guards_ok(yb), "matmul wrote outside Y");
    const unsigned char *b = yb->p;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = n; j < ldy && i * ldy + j < (m - 1) * ldy + n; j++)
            for (size_t t = 0; t < sizeof(float); t++)
                ck_assert_msg(b[(size_t)(i * ldy + j) * 4 + t] == QK_CF_SENTINEL, "ldy padding written at row %lld",
                              (long long)i);
}

START_TEST(test_mode_vs_reference) {
    const qk_mode *md = &qk_modes[_i];
    qkern_context *sc = qk_scalar_ctx();
    qkern_context *ctx = qk_test_context(2);
    const int64_t k = md->k, ldx = k + 3;
    for (int a = 0; a < QK_N_TAILS; a++)
        for (int b = 0; b < QK_N_TAILS; b++) {
            const int64_t m = qk_tails[a], n = qk_tails[b], ldy = n + 2;
            const uint64_t seed = (uint64_t)(_i * 1000 + a * 10 + b);
            qk_cf_qt w;
            qk_make_w(sc, md->d, n, k, seed, &w);
            float *bias = NULL;
            if ((a + b) % 2) {
                bias = malloc((size_t)n * sizeof(float));
                qk_cf_fill(bias, 1, n, n, QK_CF_UNIFORM, seed + 7);
            }
            float *x = malloc((size_t)(m * ldx) * sizeof(float));
            qk_cf_fill(x, m, k, ldx, b % 2 ? QK_CF_OUTLIERS : QK_CF_ZERO_ROWS, seed + 3);
            qkern_packed_weights *p = qk_pack(ctx, &w.t, md->act, bias, 0.0f);
            qk_cf_buf yb;
            size_t ybytes = (size_t)((m - 1) * ldy + n) * sizeof(float);
            ck_assert(qk_cf_buf_alloc(&yb, ybytes));
            qkern_status s = qkern_matmul(ctx, p, m, x, ldx, yb.p, ldy);
            const char *kname = NULL;
            qkern_packed_weights_info(p, NULL, NULL, NULL, &kname);
            ck_assert_msg(s == QKERN_OK, "%s m=%lld n=%lld: %s", kname, (long long)m, (long long)n, qkern_last_error());
            qk_check_y_padding(&yb, m, n, ldy);

            qk_cf_ref ref;
            ck_assert_int_eq(qk_cf_reference(sc, &w.t, md->act, 0.0f, bias, m, x, ldx, &ref), QKERN_OK);
            double worst;
            int64_t at;
            int64_t bad = qk_cf_check_bound(&ref, yb.p, ldy, &worst, &at);
            ck_assert_msg(bad == 0, "%s m=%lld n=%lld k=%lld: %lld outputs outside 1e-5·Σ|wx|+1e-6, worst %.3g× the bound "
                          "at [%lld][%lld]: y=%.9g ref=%.9g",
                          kname, (long long)m, (long long)n, (long long)k, (long long)bad, worst, (long long)(at / n),
                          (long long)(at % n), (double)((float *)yb.p)[(at / n) * ldy + at % n], ref.y[at]);
            ck_assert(qk_cf_qt_guards_ok(&w));
            qk_cf_ref_free(&ref);
            qk_cf_buf_free(&yb);
            qkern_packed_weights_destroy(p);
            qk_cf_qt_free(&w);
            free(x);
            free(bias);
        }
    qkern_context_destroy(ctx);
    qkern_context_destroy(sc);
}
END_TEST

/* An engine's parallel-for: three threads take indices in a fixed stripe, in reverse. */
typedef struct qk_engine_job { qkern_task_fn fn; void *arg; int64_t n; int t; } qk_engine_job;

static void *qk_engine_worker(void *p) {
    qk_engine_job *j = p;
    for (int64_t i = j->n - 1 - j->t; i >= 0; i -= 3) j->fn(j->arg, i);
    return NULL;
}

static int qk_engine_calls;

static void qk_engine_parallel_for(void *user, qkern_task_fn fn, void *arg, int64_t n) {
    (void)user;
    qk_engine_calls++;
    pthread_t th[3];
    qk_engine_job jobs[3];
    for (int t = 0; t < 3; t++) {
        jobs[t] = (qk_engine_job){fn, arg, n, t};
        ck_assert_int_eq(pthread_create(&th[t], NULL, qk_engine_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < 3; t++) pthread_join(th[t], NULL);
}

static float *qk_run_threads(qkern_context *ctx, const qkern_qtensor *w, const qk_mode *md, const float *bias,
                             int64_t m, const float *x, int64_t ldx) {
    qkern_packed_weights *p = qk_pack(ctx, w, md->act, bias, 0.0f);
    float *y = malloc((size_t)(m * w->rows) * sizeof(float));
    ck_assert_ptr_nonnull(y);
    qkern_status s = qkern_matmul(ctx, p, m, x, ldx, y, w->rows);
    ck_assert_msg(s == QKERN_OK, "%s", qkern_last_error());
    qkern_packed_weights_destroy(p);
    return y;
}

/* Many tasks per call (M = 40, N = 300, K = 256 → tens of tiles): the bytes must not
 * depend on how many threads ran them, or whose. */
START_TEST(test_threads_identical) {
    const qk_mode *md = &qk_modes[_i];
    const int64_t m = 40, n = 300, k = 256, ldx = k;
    qkern_context *sc = qk_scalar_ctx();
    qk_cf_qt w;
    qk_make_w(sc, md->d, n, k, 77u + (uint64_t)_i, &w);
    float *x = malloc((size_t)(m * k) * sizeof(float));
    qk_cf_fill(x, m, k, k, QK_CF_OUTLIERS, 5u + (uint64_t)_i);
    float bias[300];
    qk_cf_fill(bias, 1, n, n, QK_CF_UNIFORM, 9);

    float *ys[4];
    const int threads[3] = {1, 2, 7};
    for (int t = 0; t < 3; t++) {
        qkern_context *ctx = qk_test_context(threads[t]);
        ys[t] = qk_run_threads(ctx, &w.t, md, bias, m, x, ldx);
        qkern_context_destroy(ctx);
    }
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.parallel_for = qk_engine_parallel_for;
    qkern_context *ectx = NULL;
    ck_assert_int_eq(qkern_context_create(&o, &ectx), QKERN_OK);
    int calls = qk_engine_calls;
    ys[3] = qk_run_threads(ectx, &w.t, md, bias, m, x, ldx);
    ck_assert_msg(qk_engine_calls > calls, "the engine's parallel-for was never called");
    qkern_context_destroy(ectx);
    for (int t = 1; t < 4; t++)
        ck_assert_msg(memcmp(ys[0], ys[t], (size_t)(m * n) * sizeof(float)) == 0,
                      "mode %d: run %d (threads 1/2/7/engine) differs from 1 thread", _i, t);
    for (int t = 0; t < 4; t++) free(ys[t]);
    free(x);
    qk_cf_qt_free(&w);
    qkern_context_destroy(sc);
}
END_TEST


/* The pool's hand-off between jobs: many short calls back to back (the workers still
 * spinning when the next job comes) and with pauses longer than the spin (the workers
 * asleep on the condition variable). Every call must give the 1-thread bytes. */
START_TEST(test_threads_back_to_back) {
    const qk_mode *md = &qk_modes[0];
    const int64_t m = 3, n = 300, k = 64;
    qkern_context *sc = qk_scalar_ctx();
    qk_cf_qt w;
    qk_make_w(sc, md->d, n, k, 31u, &w);
    float x[3 * 64], y1[3 * 300], y2[3 * 300];
    qk_cf_fill(x, m, k, k, QK_CF_UNIFORM, 8u);
    qkern_context *c1 = qk_test_context(1), *c2 = qk_test_context(2);
    qkern_packed_weights *p1 = qk_pack(c1, &w.t, md->act, NULL, 0.0f), *p2 = qk_pack(c2, &w.t, md->act, NULL, 0.0f);
    ck_assert_int_eq(qkern_matmul(c1, p1, m, x, k, y1, n), QKERN_OK);
    for (int i = 0; i < 3000; i++) {
        if (i % 500 == 499) nanosleep(&(struct timespec){0, 2000000}, NULL); /* 2 ms: past the spin */
        memset(y2, 0xFF, sizeof y2);
        ck_assert_int_eq(qkern_matmul(c2, p2, m, x, k, y2, n), QKERN_OK);
        ck_assert_msg(memcmp(y1, y2, sizeof y1) == 0, "call %d at 2 threads differs from 1 thread", i);
    }
    qkern_packed_weights_destroy(p1);
    qkern_packed_weights_destroy(p2);
    qkern_context_destroy(c1);
    qkern_context_destroy(c2);
    qk_cf_qt_free(&w);
    qkern_context_destroy(sc);
}
END_TEST

/* LLM.int8: the outlier columns are the ones the threshold says; with none, the mode is
 * exactly W8A8 on the scalar backend (same rule, same sums, same order). */
START_TEST(test_llm_int8_threshold) {
    const int64_t m = 5, n = 9, k = 64;
    qkern_context *sc = qk_scalar_ctx();
    qk_cf_qt w;
    qk_make_w(sc, (qkern_quant_desc){QKERN_I8, ROW, 0}, n, k, 3, &w);
    float x[5 * 64];
    qk_cf_fill(x, m, k, k, QK_CF_UNIFORM, 4);
    x[2 * k + 10] = 7.0f;   /* column 10: outlier at the default 6.0 */
    x[4 * k + 33] = -6.5f;  /* column 33 too */
    x[1 * k + 40] = 6.0f;   /* not above 6.0: an inlier */
    float y[5 * 9], y2[5 * 9];
    qk_cf_ref ref;
    ck_assert_int_eq(qk_cf_reference(sc, &w.t, QKERN_ACT_LLM_INT8, 0.0f, NULL, m, x, k, &ref), QKERN_OK);
    ck_assert_int_eq(ref.n_outliers, 2);
    qkern_packed_weights *p = qk_pack(sc, &w.t, QKERN_ACT_LLM_INT8, NULL, 0.0f);
    ck_assert_int_eq(qkern_matmul(sc, p, m, x, k, y, n), QKERN_OK);
    double worst;
    int64_t at;
    ck_assert_int_eq(qk_cf_check_bound(&ref, y, n, &worst, &at), 0);
    qk_cf_ref_free(&ref);
    /* The outliers change the result: the plain int8 path quantises them with the row. */
    qkern_packed_weights *pi = qk_pack(sc, &w.t, QKERN_ACT_I8_DYNAMIC, NULL, 0.0f);
    ck_assert_int_eq(qkern_matmul(sc, pi, m, x, k, y2, n), QKERN_OK);
    ck_assert(memcmp(y, y2, sizeof y) != 0);
    qkern_packed_weights_destroy(p);
    /* Threshold 8: no outliers, identical to W8A8. */
    p = qk_pack(sc, &w.t, QKERN_ACT_LLM_INT8, NULL, 8.0f);
    ck_assert_int_eq(qkern_matmul(sc, p, m, x, k, y, n), QKERN_OK);
    ck_assert(memcmp(y, y2, sizeof y) == 0);
    qkern_packed_weights_destroy(p);
    qkern_packed_weights_destroy(pi);
    qk_cf_qt_free(&w);
    qkern_context_destroy(sc);
}
END_TEST

/* LLM.int8 with many outlier columns (more than one 64-column chunk of the x86 kernel, in
 * runs and alone, the last column too), on the backend under test: within the reference's
 * bound, like the few-outlier rows of the conformance suite. */
START_TEST(test_llm_int8_many_outliers) {
    const int64_t m = 38, n = 37, k = 320; /* x86: a 32-row block and 6 rows (4 + 2) */
    qkern_context *ctx = qk_test_context(2), *sc = qk_scalar_ctx();
    qk_cf_qt w;
    qk_make_w(sc, (qkern_quant_desc){QKERN_I8, ROW, 0}, n, k, 21, &w);
    float *x = malloc(sizeof(float) * (size_t)(m * k)), *y = malloc(sizeof(float) * (size_t)(m * n));
    ck_assert(x && y);
    qk_cf_fill(x, m, k, k, QK_CF_UNIFORM, 8);
    int64_t want = 0;
    for (int64_t c = 0; c < k; c++)
        if (c % 3 == 0 || (c >= 200 && c < 240) || c == k - 1) {
            x[(c % m) * k + c] = c % 2 ? 9.5f : -7.25f;
            want++;
        }
    qk_cf_ref ref;
    ck_assert_int_eq(qk_cf_reference(sc, &w.t, QKERN_ACT_LLM_INT8, 0.0f, NULL, m, x, k, &ref), QKERN_OK);
    ck_assert_int_eq(ref.n_outliers, want);
    ck_assert_int_gt(want, 64);
    qkern_packed_weights *p = qk_pack(ctx, &w.t, QKERN_ACT_LLM_INT8, NULL, 0.0f);
    ck_assert_int_eq(qkern_matmul(ctx, p, m, x, k, y, n), QKERN_OK);
    double worst;
    int64_t at;
    ck_assert_msg(qk_cf_check_bound(&ref, y, n, &worst, &at) == 0, "backend %s: %.3g of the bound at [%lld]",
                  qkern_context_backend(ctx), worst, (long long)at);
    qk_cf_ref_free(&ref);
    qkern_packed_weights_destroy(p);
    free(x);
    free(y);
    qk_cf_qt_free(&w);
    qkern_context_destroy(ctx);
    qkern_context_destroy(sc);
}
END_TEST

START_TEST(test_info_and_reuse) {
    qkern_context *ctx = qk_test_context(0);
    qkern_context *sc = qk_scalar_ctx();
    qk_cf_qt w;
    qk_make_w(sc, (qkern_quant_desc){QKERN_Q4_0, 32, 0}, 7, 64, 11, &w);
    qkern_packed_weights *p = qk_pack(ctx, &w.t, QKERN_ACT_Q8_0, NULL, 0.0f);
    /* Packing copied what it needs: the caller's buffers may go. */
    memset(w.t.data, 0, w.t.data_bytes);
    int64_t n = 0, k = 0;
    const char *b = NULL, *kn = NULL;
    ck_assert_int_eq(qkern_packed_weights_info(p, &n, &k, &b, &kn), QKERN_OK);
    ck_assert_int_eq(n, 7);
    ck_assert_int_eq(k, 64);
    ck_assert_msg(strncmp(kn, "qk_gemm_q8_0_q4_0_", 18) == 0, "kernel name \"%s\"", kn);
    if (strcmp(b, "scalar") == 0) ck_assert_ptr_nonnull(strstr(kn, "__scalar"));
    const char *expect = getenv("QKERN_EXPECT_BACKEND");
    if (expect && *expect) ck_assert_str_eq(b, expect);
    ck_assert_int_eq(qkern_packed_weights_info(p, NULL, NULL, NULL, NULL), QKERN_OK);
    float x[3 * 64], y1[3 * 7], y2[3 * 7];
    qk_cf_fill(x, 3, 64, 64, QK_CF_UNIFORM, 2);
    ck_assert_int_eq(qkern_matmul(ctx, p, 3, x, 64, y1, 7), QKERN_OK);
    ck_assert_int_eq(qkern_matmul(ctx, p, 3, x, 64, y2, 7), QKERN_OK);
    ck_assert(memcmp(y1, y2, sizeof y1) == 0);
    /* A scalar packed object runs from any context (the scalar backend has no state). */
    if (strcmp(b, "scalar") == 0) ck_assert_int_eq(qkern_matmul(sc, p, 3, x, 64, y2, 7), QKERN_OK);
    qkern_packed_weights_destroy(p);
    qkern_packed_weights_destroy(NULL);
    qk_cf_qt_free(&w);
    qkern_context_destroy(sc);
    qkern_context_destroy(ctx);
}
END_TEST

static const qk_backend qk_fake_backend = {.name = "fake"};

START_TEST(test_bad_input) {
    qkern_context *ctx = qk_test_context(1);
    qk_cf_qt w;
    qk_make_w(ctx, (qkern_quant_desc){QKERN_Q4_0, 32, 0}, 4, 64, 1, &w);
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    ck_assert_int_eq(o.act, QKERN_ACT_FLOAT);
    ck_assert(o.outlier_threshold == 6.0f);
    qkern_packed_weights *p = (qkern_packed_weights *)(uintptr_t)1;

    ck_assert_int_eq(qkern_pack_weights(NULL, &w.t, &o, &p), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(qkern_pack_weights(ctx, NULL, &o, &p), QKERN_INVALID_ARGUMENT);
    ck_assert_int_eq(qkern_pack_weights(ctx, &w.t, &o, NULL), QKERN_INVALID_ARGUMENT);
    /* Not a mode: Q4_1 pairs with Q8_1 activations, Q4_0 does not take FP8. */
    o.act = QKERN_ACT_Q8_1;
    ck_assert_int_eq(qkern_pack_weights(ctx, &w.t, &o, &p), QKERN_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "Q4_0"));
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "ACT_Q8_1"));
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "ACT_Q8_0")); /* and says what is valid */
    o.act = (qkern_act_mode)99;
    ck_assert_int_eq(qkern_pack_weights(ctx, &w.t, &o, &p), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "act=99"));
    o.act = QKERN_ACT_FLOAT;
    o.outlier_threshold = -1.0f;
    ck_assert_int_eq(qkern_pack_weights(ctx, &w.t, &o, &p), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "outlier_threshold=-1"));
    o.outlier_threshold = 0.0f;
    /* LLM.int8 needs per-row I8 weights. */
    {
        qk_cf_qt wg;
        qk_make_w(ctx, (qkern_quant_desc){QKERN_I8, 32, 0}, 4, 64, 2, &wg);
        o.act = QKERN_ACT_LLM_INT8;
        ck_assert_int_eq(qkern_pack_weights(ctx, &wg.t, &o, &p), QKERN_UNSUPPORTED);
        ck_assert_ptr_nonnull(strstr(qkern_last_error(), "group 32"));
        o.act = QKERN_ACT_FLOAT;
        qk_cf_qt_free(&wg);
    }
    /* K not a multiple of the block. */
    {
        qkern_qtensor bad = w.t;
        bad.cols = 48;
        ck_assert_int_eq(qkern_pack_weights(ctx, &bad, &o, &p), QKERN_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(qkern_last_error(), "K=48"));
        bad = w.t;
        bad.data_bytes = 10;
        ck_assert_int_eq(qkern_pack_weights(ctx, &bad, &o, &p), QKERN_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(qkern_last_error(), "data_bytes=10"));
    }
    ck_assert_int_eq(qkern_pack_weights(ctx, &w.t, NULL, &p), QKERN_OK); /* NULL options: the defaults */

    float x[2 * 64];
    qk_cf_fill(x, 2, 64, 64, QK_CF_UNIFORM, 1);
    qk_cf_buf yb;
    ck_assert(qk_cf_buf_alloc(&yb, 2 * 4 * sizeof(float)));
    float *y = yb.p;
    ck_assert_int_eq(qkern_matmul(NULL, p, 2, x, 64, y, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_int_eq(qkern_matmul(ctx, NULL, 2, x, 64, y, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_int_eq(qkern_matmul(ctx, p, 2, NULL, 64, y, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "x is NULL"));
    ck_assert_int_eq(qkern_matmul(ctx, p, 2, x, 64, NULL, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_int_eq(qkern_matmul(ctx, p, 0, x, 64, y, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "m=0"));
    ck_assert_int_eq(qkern_matmul(ctx, p, 2, x, 63, y, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "ldx=63"));
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "K=64"));
    ck_assert_int_eq(qkern_matmul(ctx, p, 2, x, 64, y, 3), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "ldy=3"));
    ck_assert_int_eq(qkern_matmul(ctx, p, INT64_MAX / 2, x, INT64_MAX / 4, y, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "overflow"));
    /* A packed object from another backend state, or a backend the context lacks. */
    qk_packed *pp = p;
    void *state = pp->backend_state;
    pp->backend_state = (void *)&state;
    ck_assert_int_eq(qkern_matmul(ctx, p, 2, x, 64, y, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "another context"));
    pp->backend_state = state;
    const qk_backend *bk = pp->backend;
    pp->backend = &qk_fake_backend;
    ck_assert_int_eq(qkern_matmul(ctx, p, 2, x, 64, y, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "\"fake\""));
    pp->backend = bk;
    ck_assert_msg(qk_cf_buf_guards_ok(&yb), "a failing call wrote around Y");
    for (size_t i = 0; i < yb.size; i++) ck_assert_msg(((unsigned char *)yb.p)[i] == QK_CF_SENTINEL, "a failing call wrote Y");
    ck_assert_int_eq(qkern_matmul(ctx, p, 2, x, 64, y, 4), QKERN_OK);
    ck_assert_int_eq(qkern_packed_weights_info(NULL, NULL, NULL, NULL, NULL), QKERN_INVALID_ARGUMENT);
    qkern_matmul_options_init(NULL);
    qk_cf_buf_free(&yb);
    qkern_packed_weights_destroy(p);
    qk_cf_qt_free(&w);
    qkern_context_destroy(ctx);
}
END_TEST

/* The describe table lists every mode of docs/matmul.md with a kernel, none "unsupported". */
START_TEST(test_describe_lists_modes) {
    qkern_context *ctx = qk_test_context(1);
    char buf[32768];
    ck_assert_int_eq(qkern_context_describe(ctx, buf, sizeof buf, NULL), QKERN_OK);
    ck_assert_ptr_nonnull(strstr(buf, "Q4_0 x q8_0"));
    ck_assert_ptr_nonnull(strstr(buf, "Q4_1 x q8_1"));
    ck_assert_ptr_nonnull(strstr(buf, "I8 x llm_int8"));
    ck_assert_ptr_nonnull(strstr(buf, "FP8_E4M3 x fp8_e5m2"));
    ck_assert_ptr_null(strstr(strstr(buf, "matmul:"), "unsupported"));
    qkern_context_destroy(ctx);
}
END_TEST


/* ---- the front end against a fake backend injected into a context -------------------- */

static int qk_fake_prepare_calls, qk_fake_compute_calls;
static qkern_status qk_fake_compute_status;

static const char *qk_fake_kernel_name(void *st, qk_op op, const qkern_quant_desc *d, qkern_act_mode act) {
    (void)st;
    return op == QK_OP_MATMUL && qk_matmul_kernel_name__scalar(d, act) ? "qk_gemm_fake" : NULL;
}

static qkern_status qk_fake_pack_unsupported(void *st, const qkern_qtensor *w, const qkern_matmul_options *o,
                                             qk_packed *p) {
    (void)st, (void)w, (void)o, (void)p;
    return QKERN_UNSUPPORTED;
}

static qkern_status qk_fake_prepare_whole(void *st, const qk_packed *p, const float *x, int64_t ldx, int64_t m0,
                                          int64_t m1, void *scratch) {
    qk_fake_prepare_calls++;
    ck_assert_int_eq(m0, 0);
    return qk_matmul_ops__scalar.prepare_act(st, p, x, ldx, m0, m1, scratch);
}

static qkern_status qk_fake_compute_whole(void *st, const qk_packed *p, const float *x, int64_t ldx,
                                          const void *scratch, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                                          float *y, int64_t ldy) {
    qk_fake_compute_calls++;
    ck_assert(m0 == 0 && n0 == 0 && n1 == p->n);
    (void)m1;
    if (qk_fake_compute_status != QKERN_OK) return qk_fake_compute_status;
    return qk_matmul_ops__scalar.compute(st, p, x, ldx, scratch, m0, m1, n0, n1, y, ldy);
}

static const qk_matmul_ops qk_fake_ops_unsupported = {qk_fake_pack_unsupported, NULL, NULL, NULL, 1, 1};
static qk_matmul_ops qk_fake_ops_whole;

/* Puts b into ctx as its preferred backend; returns the slot index to restore. */
static int qk_inject(qkern_context *ctx, const qk_backend *b, qk_backend_slot *saved) {
    int i = ctx->n_slots < QK_MAX_BACKENDS ? ctx->n_slots++ : (ctx->scalar == 0 ? 1 : 0);
    *saved = ctx->slots[i];
    memset(&ctx->slots[i], 0, sizeof ctx->slots[i]);
    ctx->slots[i].b = b;
    ctx->slots[i].available = 1;
    ctx->preferred = i;
    return i;
}

START_TEST(test_front_end_with_fake_backend) {
    qkern_context *ctx = qk_scalar_ctx();
    qk_cf_qt w;
    qk_make_w(ctx, (qkern_quant_desc){QKERN_I8, ROW, 0}, 37, 64, 8, &w);
    const int64_t m = 40, n = 37, k = 64;
    float x[40 * 64], y0[40 * 37], y1[40 * 37];
    qk_cf_fill(x, m, k, k, QK_CF_OUTLIERS, 6);
    qkern_packed_weights *p0 = qk_pack(ctx, &w.t, QKERN_ACT_LLM_INT8, NULL, 0.0f);
    ck_assert_int_eq(qkern_matmul(ctx, p0, m, x, k, y0, n), QKERN_OK);
    const int scalar = ctx->scalar, n_slots = ctx->n_slots;
    qk_backend_slot saved;

    /* 1. The preferred backend names a kernel but declines at pack time: scalar runs it,
     *    and the packed object says so. */
    qk_backend unsup = {.name = "fake", .kernel_name = qk_fake_kernel_name, .threaded = 1,
                        .matmul = &qk_fake_ops_unsupported};
    int i = qk_inject(ctx, &unsup, &saved);
    qkern_packed_weights *p = qk_pack(ctx, &w.t, QKERN_ACT_LLM_INT8, NULL, 0.0f);
    const char *b = NULL, *kn = NULL;
    qkern_packed_weights_info(p, NULL, NULL, &b, &kn);
    ck_assert_str_eq(b, "scalar");
    ck_assert_str_eq(kn, "qk_gemm_llm_int8_i8_1x1c1__scalar");
    ck_assert_int_eq(qkern_matmul(ctx, p, m, x, k, y1, n), QKERN_OK);
    ck_assert(memcmp(y0, y1, sizeof y0) == 0);
    qkern_packed_weights_destroy(p);

    /* 2. threaded == 0 (a device backend): one prepare_act and one compute over everything,
     *    with the LLM.int8 header in place; same bytes as scalar. */
    qk_fake_ops_whole = qk_matmul_ops__scalar;
    qk_fake_ops_whole.prepare_act = qk_fake_prepare_whole;
    qk_fake_ops_whole.compute = qk_fake_compute_whole;
    qk_backend whole = {.name = "fake", .kernel_name = qk_fake_kernel_name, .threaded = 0,
                        .matmul = &qk_fake_ops_whole};
    ctx->slots[i].b = &whole;
    p = qk_pack(ctx, &w.t, QKERN_ACT_LLM_INT8, NULL, 0.0f);
    qkern_packed_weights_info(p, NULL, NULL, &b, &kn);
    ck_assert_str_eq(b, "fake");
    ck_assert_str_eq(kn, "qk_gemm_fake");
    qk_fake_prepare_calls = qk_fake_compute_calls = 0;
    qk_fake_compute_status = QKERN_OK;
    memset(y1, 0, sizeof y1);
    ck_assert_int_eq(qkern_matmul(ctx, p, m, x, k, y1, n), QKERN_OK);
    ck_assert_int_eq(qk_fake_prepare_calls, 1);
    ck_assert_int_eq(qk_fake_compute_calls, 1);
    ck_assert(memcmp(y0, y1, sizeof y0) == 0);

    /* 3. A kernel failure reaches the caller as the kernel's status. */
    qk_fake_compute_status = QKERN_DEVICE_ERROR;
    ck_assert_int_eq(qkern_matmul(ctx, p, m, x, k, y1, n), QKERN_DEVICE_ERROR);
    qk_fake_compute_status = QKERN_OK;
    /* 4. The same packed object on a context without that backend is refused. */
    qkern_context *other = qk_scalar_ctx();
    ck_assert_int_eq(qkern_matmul(other, p, m, x, k, y1, n), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "\"fake\""));
    qkern_context_destroy(other);
    qkern_packed_weights_destroy(p);

    ctx->slots[i] = saved;
    ctx->n_slots = n_slots;
    ctx->preferred = scalar;
    qkern_packed_weights_destroy(p0);
    qk_cf_qt_free(&w);
    qkern_context_destroy(ctx);
}
END_TEST

static Suite *qk_matmul_suite(void) {
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("modes");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_mode_vs_reference, 0, QK_N_MODES);
    suite_add_tcase(s, tc);
    tc = tcase_create("threads");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_threads_identical, 0, QK_N_MODES);
    tcase_add_test(tc, test_threads_back_to_back);
    suite_add_tcase(s, tc);
    tc = tcase_create("api");
    tcase_add_test(tc, test_llm_int8_threshold);
    tcase_add_test(tc, test_llm_int8_many_outliers);
    tcase_add_test(tc, test_info_and_reuse);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_describe_lists_modes);
    tcase_add_test(tc, test_front_end_with_fake_backend);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return qk_test_run(qk_matmul_suite()); }
