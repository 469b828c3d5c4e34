/* The OpenCL backend against scalar, on whatever OpenCL device this machine has (PoCL in CI):
 *   - matmul in every mode (float activations for every weight format, FP8 x FP8,
 *     LLM.int8(), the integer modes), through the public API, within the conformance bound
 *     |y - y_ref| <= 1e-5*sum|w*x| + 1e-6, tails M in {1,3,7,16}, N in {1,7,33}, odd K for
 *     the per-row 8-bit formats, sentinel-guarded Y with ldy padding that must stay untouched;
 *   - quantize bytes (codes, scales, zero points) identical to scalar for every format,
 *     dynamic / static / per-tensor scales, saturating and non-saturating FP8, including
 *     NaN / Inf / all-zero blocks / denormals;
 *   - dequantize values identical to scalar for every format, also on random code bytes
 *     (every FP8 code, NaN / Inf / subnormal ggml scales);
 *   - device errors: a broken build option gives QKERN_DEVICE_ERROR with the build log;
 *   - the program cache: memory hit, disk hit in a fresh context, a corrupt entry rebuilt;
 *   - the cl_mem entry point (int, float, FP8 and LLM.int8() modes; the outlier mask then
 *     found on the device), on qkern's own cl_context and on an engine's queue.
 * Without an OpenCL platform (OCL_ICD_VENDORS pointing at an empty directory) it checks that
 * the backend reports unavailable with the reason, that everything else works, prints
 * "opencl: skipped, <reason>" and passes. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/qk_test.h"

#if defined(QKERN_HAVE_OPENCL)
#include "backends/opencl/ocl_internal.h"
#include "kernels/context_internal.h"
#include "qkern/opencl.h"

static char g_skip[256]; /* non-empty: no usable OpenCL device, and why */

static qkern_context *ctx_named(const char *backend) {
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.backend = backend;
    o.threads = 1;
    qkern_context *ctx = NULL;
    qkern_status s = qkern_context_create(&o, &ctx);
    ck_assert_msg(s == QKERN_OK, "context %s: %s", backend, qkern_last_error());
    ck_assert_str_eq(qkern_context_backend(ctx), backend);
    return ctx;
}

static qk_ocl *ocl_state(qkern_context *ctx) { return ctx->slots[ctx->preferred].state; }

#define SKIP_IF_NO_DEVICE()                                                                                           \
    do {                                                                                                              \
        if (g_skip[0]) { ck_assert_ptr_nonnull(g_skip); return; }                                                     \
    } while (0)

/* ---- availability ---------------------------------------------------------------------- */

START_TEST(test_availability) {
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.backend = "opencl";
    qkern_context *ctx = NULL;
    qkern_status s = qkern_context_create(&o, &ctx);
    if (g_skip[0]) {
        ck_assert_int_eq(s, QKERN_BACKEND_UNAVAILABLE);
        ck_assert_ptr_null(ctx);
        ck_assert_ptr_nonnull(strstr(qkern_last_error(), "OpenCL"));
        /* Everything else still works: the default context, its describe, a quantize. */
        qkern_context *def = NULL;
        ck_assert_int_eq(qkern_context_create(NULL, &def), QKERN_OK);
        char buf[16384];
        ck_assert_int_eq(qkern_context_describe(def, buf, sizeof buf, NULL), QKERN_OK);
        ck_assert_ptr_nonnull(strstr(buf, "opencl  unavailable: "));
        float x[64];
        qk_fill(x, 64, QK_PAT_UNIFORM, 1);
        qk_qbuf b;
        ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_Q8_0, 32, 0}, 2, 32));
        ck_assert_int_eq(qkern_quantize(def, x, QKERN_F32, sizeof x, &b.t), QKERN_OK);
        qk_qbuf_free(&b);
        qkern_context_destroy(def);
        return;
    }
    ck_assert_msg(s == QKERN_OK, "%s", qkern_last_error());
    char buf[16384];
    ck_assert_int_eq(qkern_context_describe(ctx, buf, sizeof buf, NULL), QKERN_OK);
    ck_assert_ptr_nonnull(strstr(buf, "qk_gemm_q8_0_q4_0_4x4c32__opencl"));
    qk_ocl *st = ocl_state(ctx);
    printf("opencl: exercised on \"%s\" (%s, driver %s)\n", st->device_name, st->platform_name, st->driver_version);
    qkern_context_destroy(ctx);
}
END_TEST

/* ---- matmul vs scalar ---------------------------------------------------------------- */

typedef struct mcase {
    qkern_format f;
    int64_t group;
    uint32_t flags;
    qkern_act_mode act;
} mcase;

static const mcase g_mcases[] = {
    /* float activations, every weight format (dequantised in registers on the device) */
    {QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_FLOAT},
    {QKERN_I8, 64, 0, QKERN_ACT_FLOAT},
    {QKERN_I8_ASYM, QKERN_GROUP_ROW, 0, QKERN_ACT_FLOAT},
    {QKERN_I8_ASYM, QKERN_GROUP_TENSOR, 0, QKERN_ACT_FLOAT},
    {QKERN_I4, 32, 0, QKERN_ACT_FLOAT},
    {QKERN_I4, 128, QKERN_QUANT_ASYMMETRIC, QKERN_ACT_FLOAT},
    {QKERN_Q4_0, 32, 0, QKERN_ACT_FLOAT},
    {QKERN_Q4_1, 32, 0, QKERN_ACT_FLOAT},
    {QKERN_Q8_0, 32, 0, QKERN_ACT_FLOAT},
    {QKERN_Q8_1, 32, 0, QKERN_ACT_FLOAT},
    {QKERN_NF4, 64, 0, QKERN_ACT_FLOAT},
    {QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0, QKERN_ACT_FLOAT},
    {QKERN_FP8_E5M2, QKERN_GROUP_TENSOR, 0, QKERN_ACT_FLOAT},
    /* FP8 x FP8, LLM.int8() */
    {QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0, QKERN_ACT_FP8_E4M3},
    {QKERN_FP8_E5M2, QKERN_GROUP_TENSOR, 0, QKERN_ACT_FP8_E4M3},
    {QKERN_FP8_E4M3, QKERN_GROUP_TENSOR, 0, QKERN_ACT_FP8_E5M2},
    {QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_LLM_INT8},
    /* integer activations */
    {QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I8, 64, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I4, 32, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I4, 64, QKERN_QUANT_ASYMMETRIC, QKERN_ACT_I8_DYNAMIC},
    {QKERN_Q4_0, 32, 0, QKERN_ACT_Q8_0},
    {QKERN_Q8_0, 32, 0, QKERN_ACT_Q8_0},
    {QKERN_Q4_1, 32, 0, QKERN_ACT_Q8_1},
};

/* Y on backend `ctx` and on scalar for one weight tensor; compares within the bound. */
static void check_matmul(qkern_context *ctx, qkern_context *sc, const mcase *c, int64_t m, int64_t n, int64_t k,
                         uint64_t seed) {
    qkern_quant_desc d = {c->f, c->group, c->flags};
    float *wf = malloc(sizeof(float) * (size_t)(n * k));
    float *wd = malloc(sizeof(float) * (size_t)(n * k));
    float *x = malloc(sizeof(float) * (size_t)(m * k));
    ck_assert(wf && wd && x);
    qk_fill(wf, (size_t)(n * k), QK_PAT_GAUSS_OUTLIERS, seed);
    qk_fill(x, (size_t)(m * k), (seed & 1) ? QK_PAT_GAUSS_OUTLIERS : QK_PAT_UNIFORM, seed + 1);
    if (m > 2) for (int64_t i = 0; i < k; i++) x[k + i] = 0.0f; /* an all-zero row */
    qk_qbuf w;
    ck_assert(qk_qbuf_alloc(&w, d, n, k));
    ck_assert_int_eq(qkern_quantize(sc, wf, QKERN_F32, sizeof(float) * (size_t)(n * k), &w.t), QKERN_OK);
    ck_assert_int_eq(qkern_dequantize(sc, &w.t, wd, QKERN_F32, sizeof(float) * (size_t)(n * k)), QKERN_OK);
    float bias[64];
    for (int i = 0; i < 64; i++) bias[i] = 0.25f * (float)(i % 5) - 0.5f;
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = c->act;
    o.bias = n <= 64 ? bias : NULL;
    qkern_packed_weights *po = NULL, *ps = NULL;
    ck_assert_msg(qkern_pack_weights(ctx, &w.t, &o, &po) == QKERN_OK, "%s", qkern_last_error());
    ck_assert_int_eq(qkern_pack_weights(sc, &w.t, &o, &ps), QKERN_OK);
    const char *be = NULL, *kn = NULL;
    ck_assert_int_eq(qkern_packed_weights_info(po, NULL, NULL, &be, &kn), QKERN_OK);
    ck_assert_str_eq(be, "opencl");
    ck_assert_ptr_nonnull(strstr(kn, "__opencl"));
    const int64_t ldy = n + 3;
    qk_guarded yo = qk_guarded_alloc(sizeof(float) * (size_t)(m * ldy));
    float *yr = malloc(sizeof(float) * (size_t)(m * ldy));
    ck_assert_msg(qkern_matmul(ctx, po, m, x, k, yo.p, ldy) == QKERN_OK, "%s", qkern_last_error());
    ck_assert_int_eq(qkern_matmul(sc, ps, m, x, k, yr, ldy), QKERN_OK);
    ck_assert(qk_guard_ok(&yo));
    const unsigned char *yb = yo.p;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double mag = 0.0;
            for (int64_t t = 0; t < k; t++) mag += fabs((double)wd[j * k + t] * (double)x[i * k + t]);
            double got = ((const float *)yo.p)[i * ldy + j], want = yr[i * ldy + j];
            ck_assert_msg(fabs(got - want) <= 1e-5 * mag + 1e-6, "%s x act %d, m=%lld n=%lld k=%lld: y[%lld][%lld] = %.9g, scalar %.9g",
                          qkern_format_get_info(c->f, &(qkern_format_info){0}) == QKERN_OK ? kn : "?", (int)c->act,
                          (long long)m, (long long)n, (long long)k, (long long)i, (long long)j, got, want);
        }
        for (int64_t j = n; j < ldy; j++)
            for (size_t b = 0; b < sizeof(float); b++)
                ck_assert_int_eq(yb[(size_t)(i * ldy + j) * sizeof(float) + b], QK_SENTINEL);
    }
    qkern_packed_weights_destroy(po);
    qkern_packed_weights_destroy(ps);
    qk_guarded_free(&yo);
    qk_qbuf_free(&w);
    free(yr);
    free(x);
    free(wd);
    free(wf);
}

START_TEST(test_matmul_vs_scalar) {
    SKIP_IF_NO_DEVICE();
    qkern_context *ctx = ctx_named("opencl"), *sc = ctx_named("scalar");
    const mcase *c = &g_mcases[_i];
    static const int64_t ms[] = {1, 3, 7, 16}, ns[] = {1, 7, 33};
    uint64_t seed = 100 + (uint64_t)_i * 17;
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) check_matmul(ctx, sc, c, ms[a], ns[b], 128, seed++);
    check_matmul(ctx, sc, c, 5, 9, 512, seed++);
    /* One scale per row or tensor of 8-bit codes: any K (the device pads K to 32). */
    int any_k = (c->group == QKERN_GROUP_ROW || c->group == QKERN_GROUP_TENSOR) &&
                (c->f == QKERN_I8 || c->f == QKERN_I8_ASYM || c->f == QKERN_FP8_E4M3 || c->f == QKERN_FP8_E5M2);
    if (any_k) {
        check_matmul(ctx, sc, c, 1, 7, 45, seed++);
        check_matmul(ctx, sc, c, 6, 5, 77, seed++);
    }
    qkern_context_destroy(sc);
    qkern_context_destroy(ctx);
}
END_TEST

START_TEST(test_matmul_fallback_shapes) {
    SKIP_IF_NO_DEVICE();
    /* I8 groups of 16 (not whole 32-chunks): the backend declines and scalar packs, visibly. */
    qkern_context *ctx = ctx_named("opencl");
    qk_qbuf w;
    ck_assert(qk_qbuf_alloc(&w, (qkern_quant_desc){QKERN_I8, 16, 0}, 4, 48));
    memset(w.data.p, 1, w.t.data_bytes);
    for (int i = 0; i < 12; i++) ((float *)w.scales.p)[i] = 0.5f;
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = QKERN_ACT_I8_DYNAMIC;
    qkern_packed_weights *p = NULL;
    ck_assert_int_eq(qkern_pack_weights(ctx, &w.t, &o, &p), QKERN_OK);
    const char *be = NULL;
    ck_assert_int_eq(qkern_packed_weights_info(p, NULL, NULL, &be, NULL), QKERN_OK);
    ck_assert_str_eq(be, "scalar");
    float x[48], y[4];
    for (int i = 0; i < 48; i++) x[i] = 1.0f;
    ck_assert_int_eq(qkern_matmul(ctx, p, 1, x, 48, y, 4), QKERN_OK);
    ck_assert_msg(fabsf(y[0] - 24.0f) < 1e-4f, "y[0] = %.9g", y[0]); /* 3 groups × (1/127)·0.5·(16·127·1) */
    qkern_packed_weights_destroy(p);
    qk_qbuf_free(&w);
    qkern_context_destroy(ctx);
}
END_TEST

/* ---- quantize vs scalar ---------------------------------------------------------------- */

static void check_quant(qkern_context *ctx, qkern_context *sc, qkern_quant_desc d, int64_t rows, int64_t cols,
                        int special) {
    size_t n = (size_t)(rows * cols);
    float *x = malloc(n * sizeof(float));
    qk_fill(x, n, QK_PAT_GAUSS_OUTLIERS, (uint64_t)(rows * 31 + cols));
    if (special) {
        x[0] = NAN;
        x[3] = INFINITY;
        x[cols + 5] = -INFINITY;
        for (int64_t i = 0; i < 32 && 2 * cols + i < (int64_t)n; i++) x[2 * cols + i] = 0.0f;
        x[n - 1] = 1e-40f;
    }
    qk_qbuf a, b;
    ck_assert(qk_qbuf_alloc(&a, d, rows, cols));
    ck_assert(qk_qbuf_alloc(&b, d, rows, cols));
    if (d.flags & QKERN_QUANT_STATIC_SCALES) {
        if (d.format == QKERN_I4) {
            /* f16 scales: 0, denormal, normal, huge, Inf, NaN, negative */
            static const uint16_t h[] = {0x0000, 0x0001, 0x2e66, 0x3c00, 0x7bff, 0x7c00, 0x7e00, 0xae66};
            for (size_t i = 0; i < a.t.scales_bytes / 2; i++) ((uint16_t *)a.scales.p)[i] = ((uint16_t *)b.scales.p)[i] = h[i % 8];
        } else {
            for (size_t i = 0; i < a.t.scales_bytes / 4; i++)
                ((float *)a.scales.p)[i] = ((float *)b.scales.p)[i] = i % 7 == 6 ? NAN : 0.01f * (float)(i % 7);
        }
        for (size_t i = 0; i < a.t.zeros_bytes; i++) /* out-of-range zero points are clamped alike */
            ((unsigned char *)a.zeros.p)[i] = ((unsigned char *)b.zeros.p)[i] = (unsigned char)(i * 37 + 5);
    }
    ck_assert_msg(qkern_quantize(ctx, x, QKERN_F32, n * sizeof(float), &a.t) == QKERN_OK, "%s", qkern_last_error());
    ck_assert_int_eq(qkern_quantize(sc, x, QKERN_F32, n * sizeof(float), &b.t), QKERN_OK);
    ck_assert(qk_qbuf_guards_ok(&a));
    ck_assert_msg(memcmp(a.data.p, b.data.p, a.t.data_bytes) == 0, "%s group %lld: quantised bytes differ",
                  qkern_format_get_info(d.format, &(qkern_format_info){0}) == QKERN_OK ? "fmt" : "?", (long long)d.group);
    if (a.t.scales_bytes) ck_assert_msg(memcmp(a.scales.p, b.scales.p, a.t.scales_bytes) == 0, "scales differ");
    if (a.t.zeros_bytes) ck_assert_msg(memcmp(a.zeros.p, b.zeros.p, a.t.zeros_bytes) == 0, "zero points differ");
    qk_qbuf_free(&a);
    qk_qbuf_free(&b);
    free(x);
}

START_TEST(test_quantize_vs_scalar) {
    SKIP_IF_NO_DEVICE();
    qkern_context *ctx = ctx_named("opencl"), *sc = ctx_named("scalar");
    char buf[16384];
    qkern_context_describe(ctx, buf, sizeof buf, NULL);
    ck_assert_ptr_nonnull(strstr(buf, "qk_quant_q8_0__opencl"));
    for (int special = 0; special < 2; special++) {
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, 0}, 5, 96, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I8, 32, 0}, 3, 128, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I8, 48, QKERN_QUANT_STATIC_SCALES}, 3, 96, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_Q8_0, 32, 0}, 4, 256, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_Q8_1, 32, 0}, 4, 256, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, 0}, 3, 45, special); /* odd K */
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I8_ASYM, QKERN_GROUP_ROW, 0}, 5, 96, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I8_ASYM, QKERN_GROUP_TENSOR, 0}, 5, 96, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I8_ASYM, QKERN_GROUP_ROW, QKERN_QUANT_STATIC_SCALES}, 3, 64, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I4, 32, 0}, 3, 128, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I4, QKERN_GROUP_ROW, 0}, 3, 70, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I4, 64, QKERN_QUANT_ASYMMETRIC}, 3, 128, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I4, 16, QKERN_QUANT_STATIC_SCALES}, 3, 128, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_I4, 32, QKERN_QUANT_ASYMMETRIC | QKERN_QUANT_STATIC_SCALES}, 3, 64, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_Q4_0, 32, 0}, 4, 256, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_Q4_1, 32, 0}, 4, 256, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_NF4, 64, 0}, 3, 128, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_NF4, 32, QKERN_QUANT_STATIC_SCALES}, 3, 128, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0}, 3, 45, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_FP8_E4M3, QKERN_GROUP_TENSOR, QKERN_QUANT_FP8_NO_SATURATE}, 3, 200, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_FP8_E5M2, QKERN_GROUP_ROW, QKERN_QUANT_FP8_NO_SATURATE}, 3, 96, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_FP8_E5M2, QKERN_GROUP_TENSOR, 0}, 3, 96, special);
        check_quant(ctx, sc, (qkern_quant_desc){QKERN_FP8_E4M3, QKERN_GROUP_ROW, QKERN_QUANT_STATIC_SCALES}, 7, 64, special);
    }
    qkern_context_destroy(sc);
    qkern_context_destroy(ctx);
}
END_TEST

/* ---- dequantize vs scalar ------------------------------------------------------------- */

/* Scalar quantises, then (random != 0) the code bytes are replaced by random bytes (every
 * code, and for ggml blocks also the f16 d / m / s fields: NaN, Inf, subnormal); both
 * backends dequantise; values identical (any NaN equals any NaN: payloads are not part of
 * the contract), and nothing written outside dst. */
static void check_dequant(qkern_context *ctx, qkern_context *sc, qkern_quant_desc d, int64_t rows, int64_t cols,
                          int random) {
    size_t n = (size_t)(rows * cols);
    float *x = malloc(n * sizeof(float)), *yr = malloc(n * sizeof(float));
    qk_fill(x, n, QK_PAT_GAUSS_OUTLIERS, (uint64_t)(rows * 7 + cols));
    qk_qbuf q;
    ck_assert(qk_qbuf_alloc(&q, d, rows, cols));
    ck_assert_int_eq(qkern_quantize(sc, x, QKERN_F32, n * sizeof(float), &q.t), QKERN_OK);
    if (random) {
        uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)cols;
        unsigned char *b = q.data.p;
        for (size_t i = 0; i < q.t.data_bytes; i++) {
            h ^= h << 13, h ^= h >> 7, h ^= h << 17;
            b[i] = (unsigned char)(h >> 24);
            if (d.format == QKERN_FP8_E4M3 || d.format == QKERN_FP8_E5M2) b[i] = (unsigned char)i; /* every code */
        }
    }
    qk_guarded yo = qk_guarded_alloc(n * sizeof(float));
    ck_assert_msg(qkern_dequantize(ctx, &q.t, yo.p, QKERN_F32, n * sizeof(float)) == QKERN_OK, "%s", qkern_last_error());
    ck_assert_int_eq(qkern_dequantize(sc, &q.t, yr, QKERN_F32, n * sizeof(float)), QKERN_OK);
    ck_assert(qk_guard_ok(&yo));
    const float *yg = yo.p;
    for (size_t i = 0; i < n; i++) {
        if (isnan(yg[i]) && isnan(yr[i])) continue;
        ck_assert_msg(memcmp(&yg[i], &yr[i], 4) == 0, "format %d group %lld: y[%zu] = %.9g, scalar %.9g", (int)d.format,
                      (long long)d.group, i, (double)yg[i], (double)yr[i]);
    }
    qk_guarded_free(&yo);
    qk_qbuf_free(&q);
    free(x);
    free(yr);
}

START_TEST(test_dequantize_vs_scalar) {
    SKIP_IF_NO_DEVICE();
    qkern_context *ctx = ctx_named("opencl"), *sc = ctx_named("scalar");
    char buf[16384];
    qkern_context_describe(ctx, buf, sizeof buf, NULL);
    ck_assert_ptr_nonnull(strstr(buf, "qk_dequant_nf4__opencl"));
    ck_assert_ptr_null(strstr(buf, "[fallback")); /* every op / format of the describe table runs here */
    for (int random = 0; random < 2; random++) {
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, 0}, 3, 45, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_I8, 32, 0}, 3, 128, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_I8_ASYM, QKERN_GROUP_ROW, 0}, 3, 64, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_I8_ASYM, QKERN_GROUP_TENSOR, 0}, 3, 64, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_I4, 32, 0}, 3, 128, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_I4, 64, QKERN_QUANT_ASYMMETRIC}, 3, 128, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_Q8_0, 32, 0}, 3, 128, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_Q8_1, 32, 0}, 3, 128, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_Q4_0, 32, 0}, 3, 128, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_Q4_1, 32, 0}, 3, 128, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_NF4, 64, 0}, 3, 128, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0}, 3, 256, random);
        check_dequant(ctx, sc, (qkern_quant_desc){QKERN_FP8_E5M2, QKERN_GROUP_TENSOR, 0}, 3, 256, random);
    }
    qkern_context_destroy(sc);
    qkern_context_destroy(ctx);
}
END_TEST

/* ---- device errors --------------------------------------------------------------------- */

START_TEST(test_build_error) {
    SKIP_IF_NO_DEVICE();
    qkern_context *ctx = ctx_named("opencl");
    qk_ocl *st = ocl_state(ctx);
    cl_program p = NULL;
    char opts[256];
    snprintf(opts, sizeof opts, "%s -D QK_MR=(", qk_ocl_base_options(st));
    pthread_mutex_lock(&st->lock);
    qkern_status s = qk_ocl_program(st, "gemm_int.cl", opts, &p);
    pthread_mutex_unlock(&st->lock);
    ck_assert_int_eq(s, QKERN_DEVICE_ERROR);
    const char *msg = qkern_last_error();
    ck_assert_ptr_nonnull(strstr(msg, "CL_BUILD_PROGRAM_FAILURE"));
    ck_assert_ptr_nonnull(strstr(msg, "build log: "));
    ck_assert_ptr_nonnull(strstr(msg, "error")); /* the compiler's own words, from the log */
    ck_assert_str_eq(qk_ocl_error_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES");
    ck_assert_str_eq(qk_ocl_error_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
    ck_assert_str_eq(qk_ocl_error_name(-4242), "CL_ERROR(-4242)");
    ck_assert_int_eq(qk_ocl_fail(CL_DEVICE_NOT_AVAILABLE, "launch"), QKERN_DEVICE_ERROR);
    ck_assert_str_eq(qkern_last_error(), "opencl: launch: CL_DEVICE_NOT_AVAILABLE");
    qkern_context_destroy(ctx);
}
END_TEST

/* ---- program cache --------------------------------------------------------------------- */

START_TEST(test_program_cache) {
    SKIP_IF_NO_DEVICE();
    char dir[] = "/tmp/qkern-ocl-cache-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    setenv("QKERN_OPENCL_CACHE_DIR", dir, 1);
    const char *extra = " -D QK_MR=2 -D QK_NR=3";
    char opts[256];
    cl_program p1 = NULL, p2 = NULL;
    /* 1. cold: built from source, written to disk; then a memory hit */
    qkern_context *ctx = ctx_named("opencl");
    qk_ocl *st = ocl_state(ctx);
    ck_assert_str_eq(st->cache_dir, dir);
    snprintf(opts, sizeof opts, "%s%s", qk_ocl_base_options(st), extra);
    ck_assert_int_eq(qk_ocl_program(st, "gemm_int.cl", opts, &p1), QKERN_OK);
    ck_assert_int_eq(st->stats.builds, 1);
    ck_assert_int_eq(st->stats.disk_writes, 1);
    ck_assert_int_eq(qk_ocl_program(st, "gemm_int.cl", opts, &p2), QKERN_OK);
    ck_assert_ptr_eq(p1, p2);
    ck_assert_int_eq(st->stats.memory_hits, 1);
    ck_assert_int_eq(st->stats.builds, 1);
    qkern_context_destroy(ctx);
    /* 2. a fresh context: the binary comes from disk, nothing is compiled */
    ctx = ctx_named("opencl");
    st = ocl_state(ctx);
    ck_assert_int_eq(qk_ocl_program(st, "gemm_int.cl", opts, &p1), QKERN_OK);
    ck_assert_int_eq(st->stats.disk_hits, 1);
    ck_assert_int_eq(st->stats.builds, 0);
    cl_int e = CL_SUCCESS;
    cl_kernel k = clCreateKernel(p1, "qk_gemm_int", &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    clReleaseKernel(k);
    qkern_context_destroy(ctx);
    /* 3. corrupt every entry: ignored, rebuilt, rewritten */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "for f in %s/qkcl-*.bin; do head -c 100 \"$f\" > \"$f.x\"; echo garbage >> \"$f.x\"; mv \"$f.x\" \"$f\"; done", dir);
    ck_assert_int_eq(system(cmd), 0);
    ctx = ctx_named("opencl");
    st = ocl_state(ctx);
    ck_assert_int_eq(qk_ocl_program(st, "gemm_int.cl", opts, &p1), QKERN_OK);
    ck_assert_int_eq(st->stats.disk_rejects, 1);
    ck_assert_int_eq(st->stats.builds, 1);
    ck_assert_int_eq(st->stats.disk_writes, 1);
    qkern_context_destroy(ctx);
    /* no temp files left behind by the atomic write */
    snprintf(cmd, sizeof cmd, "test -z \"$(ls %s | grep tmp)\"", dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    unsetenv("QKERN_OPENCL_CACHE_DIR");
}
END_TEST

/* ---- cl_mem entry point ---------------------------------------------------------------- */

static void run_on_buffers(qkern_context *ctx, cl_context cc, cl_command_queue q, qkern_quant_desc d,
                           qkern_act_mode act) {
    const int64_t m = 6, n = 20, k = 128, ldx = 130, ldy = 24;
    float *wf = malloc(sizeof(float) * n * k), *x = calloc((size_t)(m * ldx), sizeof(float));
    float yh[6 * 24], yd[6 * 24];
    qk_fill(wf, (size_t)(n * k), QK_PAT_UNIFORM, 5);
    qk_fill(x, (size_t)(m * ldx), QK_PAT_GAUSS_OUTLIERS, 6);
    qk_qbuf w;
    ck_assert(qk_qbuf_alloc(&w, d, n, k));
    ck_assert_int_eq(qkern_quantize(ctx, wf, QKERN_F32, sizeof(float) * n * k, &w.t), QKERN_OK);
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = act;
    if (act == QKERN_ACT_LLM_INT8) x[2 * ldx + 17] = 40.0f; /* an outlier column the device must find */
    qkern_packed_weights *p = NULL;
    ck_assert_int_eq(qkern_pack_weights(ctx, &w.t, &o, &p), QKERN_OK);
    const char *be = NULL;
    ck_assert_int_eq(qkern_packed_weights_info(p, NULL, NULL, &be, NULL), QKERN_OK);
    ck_assert_str_eq(be, "opencl");
    memset(yh, 0, sizeof yh);
    ck_assert_int_eq(qkern_matmul(ctx, p, m, x, ldx, yh, ldy), QKERN_OK);
    cl_int e = CL_SUCCESS;
    const size_t xoff = 64; /* an engine's buffer need not start at its tensor */
    cl_mem xb = clCreateBuffer(cc, CL_MEM_READ_ONLY, xoff + sizeof(float) * m * ldx, NULL, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    cl_mem yb = clCreateBuffer(cc, CL_MEM_READ_WRITE, sizeof yd, NULL, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    ck_assert_int_eq(clEnqueueWriteBuffer(q, xb, CL_TRUE, xoff, sizeof(float) * m * ldx, x, 0, NULL, NULL), CL_SUCCESS);
    memset(yd, 0, sizeof yd);
    ck_assert_int_eq(clEnqueueWriteBuffer(q, yb, CL_TRUE, 0, sizeof yd, yd, 0, NULL, NULL), CL_SUCCESS);
    ck_assert_msg(qkern_opencl_matmul(ctx, p, q, m, xb, xoff, ldx, yb, 0, ldy) == QKERN_OK, "%s", qkern_last_error());
    ck_assert_int_eq(clEnqueueReadBuffer(q, yb, CL_TRUE, 0, sizeof yd, yd, 0, NULL, NULL), CL_SUCCESS);
    /* The same kernels on the same bytes: identical to the host-pointer path. */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) ck_assert_float_eq(yd[i * ldy + j], yh[i * ldy + j]);
    /* Bad calls are errors, not device faults. */
    ck_assert_int_eq(qkern_opencl_matmul(ctx, p, q, m + 50, xb, xoff, ldx, yb, 0, ldy), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "buffer holds"));
    ck_assert_int_eq(qkern_opencl_matmul(ctx, p, q, m, xb, 2, ldx, yb, 0, ldy), QKERN_INVALID_ARGUMENT);
    ck_assert_int_eq(qkern_opencl_matmul(ctx, p, q, m, xb, xoff, n - 1 < k ? k - 1 : k, yb, 0, ldy), QKERN_INVALID_ARGUMENT);
    clReleaseMemObject(xb);
    clReleaseMemObject(yb);
    qkern_packed_weights_destroy(p);
    qk_qbuf_free(&w);
    free(wf);
    free(x);
}

START_TEST(test_cl_mem_entry) {
    SKIP_IF_NO_DEVICE();
    /* 1. the engine allocates in qkern's cl_context */
    qkern_context *ctx = ctx_named("opencl");
    cl_context cc = NULL;
    cl_command_queue q = NULL;
    cl_device_id dev = NULL;
    ck_assert_int_eq(qkern_opencl_context_info(ctx, &cc, &dev, &q), QKERN_OK);
    ck_assert_ptr_nonnull(cc);
    run_on_buffers(ctx, cc, q, (qkern_quant_desc){QKERN_Q4_0, 32, 0}, QKERN_ACT_Q8_0);
    /* the outlier mask decided on the device from the engine's X */
    run_on_buffers(ctx, cc, q, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, 0}, QKERN_ACT_LLM_INT8);
    run_on_buffers(ctx, cc, q, (qkern_quant_desc){QKERN_NF4, 64, 0}, QKERN_ACT_FLOAT);
    run_on_buffers(ctx, cc, q, (qkern_quant_desc){QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0}, QKERN_ACT_FP8_E4M3);
    /* weights packed elsewhere are refused */
    qkern_context *sc = ctx_named("scalar");
    qk_qbuf w;
    ck_assert(qk_qbuf_alloc(&w, (qkern_quant_desc){QKERN_Q8_0, 32, 0}, 2, 32));
    memset(w.data.p, 0, w.t.data_bytes);
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = QKERN_ACT_Q8_0;
    qkern_packed_weights *p = NULL;
    ck_assert_int_eq(qkern_pack_weights(sc, &w.t, &o, &p), QKERN_OK);
    cl_int e;
    cl_mem b = clCreateBuffer(cc, CL_MEM_READ_WRITE, 4096, NULL, &e);
    ck_assert_int_eq(qkern_opencl_matmul(ctx, p, q, 1, b, 0, 32, b, 0, 2), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "scalar"));
    ck_assert_int_eq(qkern_opencl_context_info(sc, NULL, NULL, NULL), QKERN_BACKEND_UNAVAILABLE);
    clReleaseMemObject(b);
    qkern_packed_weights_destroy(p);
    qk_qbuf_free(&w);
    qkern_context_destroy(sc);
    qkern_context_destroy(ctx);

    /* 2. qkern adopts the engine's own context and queue */
    cl_context ec = clCreateContext(NULL, 1, &dev, NULL, NULL, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    cl_command_queue eq = clCreateCommandQueue(ec, dev, 0, &e);
    ck_assert_int_eq(e, CL_SUCCESS);
    qkern_context *ectx = NULL;
    ck_assert_msg(qkern_opencl_context_create(NULL, eq, &ectx) == QKERN_OK, "%s", qkern_last_error());
    cl_context got = NULL;
    ck_assert_int_eq(qkern_opencl_context_info(ectx, &got, NULL, NULL), QKERN_OK);
    ck_assert_ptr_eq(got, ec);
    run_on_buffers(ectx, ec, eq, (qkern_quant_desc){QKERN_Q4_0, 32, 0}, QKERN_ACT_Q8_0);
    run_on_buffers(ectx, ec, eq, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, 0}, QKERN_ACT_LLM_INT8);
    run_on_buffers(ectx, ec, eq, (qkern_quant_desc){QKERN_I4, 32, QKERN_QUANT_ASYMMETRIC}, QKERN_ACT_FLOAT);
    qkern_context_destroy(ectx);
    clReleaseCommandQueue(eq);
    clReleaseContext(ec);
}
END_TEST

static Suite *opencl_suite(void) {
    Suite *s = suite_create("opencl");
    TCase *tc = tcase_create("opencl");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_availability);
    tcase_add_loop_test(tc, test_matmul_vs_scalar, 0, (int)(sizeof g_mcases / sizeof g_mcases[0]));
    tcase_add_test(tc, test_matmul_fallback_shapes);
    tcase_add_test(tc, test_quantize_vs_scalar);
    tcase_add_test(tc, test_dequantize_vs_scalar);
    tcase_add_test(tc, test_build_error);
    tcase_add_test(tc, test_program_cache);
    tcase_add_test(tc, test_cl_mem_entry);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    /* PoCL's worker threads do not survive fork(): the probe below initialises the
     * platform in this process, so the suite runs without forking. */
    setenv("CK_FORK", "no", 1);
    if (getenv("QKERN_BACKEND")) unsetenv("QKERN_BACKEND"); /* contexts here name their backend */
    if (!qk_backend_opencl.probe(0, g_skip, sizeof g_skip)) {
        printf("opencl: skipped, %s\n", g_skip);
    } else {
        g_skip[0] = '\0';
        /* Programs built by this suite go to a private cache unless the caller chose one. */
        if (!getenv("QKERN_OPENCL_CACHE_DIR") && getenv("POCL_CACHE_DIR")) {
            char d[1024];
            snprintf(d, sizeof d, "%s/qkern", getenv("POCL_CACHE_DIR"));
            setenv("QKERN_OPENCL_CACHE_DIR", d, 1);
        }
    }
    return qk_test_run(opencl_suite());
}

#else /* built without an OpenCL ICD loader */

START_TEST(test_not_built) {
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.backend = "opencl";
    qkern_context *ctx = NULL;
    if (getenv("QKERN_BACKEND")) unsetenv("QKERN_BACKEND");
    ck_assert_int_eq(qkern_context_create(&o, &ctx), QKERN_BACKEND_UNAVAILABLE);
    ck_assert_ptr_null(ctx);
}
END_TEST

int main(void) {
    printf("opencl: skipped, the OpenCL backend is not built (no ICD loader found at configure time)\n");
    Suite *s = suite_create("opencl");
    TCase *tc = tcase_create("opencl");
    tcase_add_test(tc, test_not_built);
    suite_add_tcase(s, tc);
    return qk_test_run(s);
}
#endif
