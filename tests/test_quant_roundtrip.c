/* Round trip through every format: quantise then dequantise on the context's backend and
 * hold each element to its format's error bound, on uniform, Gaussian-with-outliers,
 * constant and all-zero data, from F32 / F16 / BF16 and back to each. Also: the bytes do
 * not depend on the thread count, and every buffer's sentinels survive. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/scalar/scalar.h"
#include "support/qk_test.h"

typedef struct rt_case {
    const char *label;
    qkern_quant_desc desc;
} rt_case;

static const rt_case rt_cases[] = {
    {"I8 row", {QKERN_I8, QKERN_GROUP_ROW, 0}},
    {"I8 g32", {QKERN_I8, 32, 0}},
    {"I8_ASYM row", {QKERN_I8_ASYM, QKERN_GROUP_ROW, 0}},
    {"I8_ASYM tensor", {QKERN_I8_ASYM, QKERN_GROUP_TENSOR, 0}},
    {"I4 sym g32", {QKERN_I4, 32, 0}},
    {"I4 sym g64", {QKERN_I4, 64, 0}},
    {"I4 sym g128", {QKERN_I4, 128, 0}},
    {"I4 asym g32", {QKERN_I4, 32, QKERN_QUANT_ASYMMETRIC}},
    {"I4 asym g128", {QKERN_I4, 128, QKERN_QUANT_ASYMMETRIC}},
    {"Q8_0", {QKERN_Q8_0, QKERN_GROUP_DEFAULT, 0}},
    {"Q8_1", {QKERN_Q8_1, QKERN_GROUP_DEFAULT, 0}},
    {"Q4_0", {QKERN_Q4_0, QKERN_GROUP_DEFAULT, 0}},
    {"Q4_1", {QKERN_Q4_1, QKERN_GROUP_DEFAULT, 0}},
    {"NF4 b64", {QKERN_NF4, 64, 0}},
    {"NF4 b32", {QKERN_NF4, 32, 0}},
    {"NF4 b128", {QKERN_NF4, 128, 0}},
    {"FP8_E4M3 tensor", {QKERN_FP8_E4M3, QKERN_GROUP_TENSOR, 0}},
    {"FP8_E4M3 row", {QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0}},
    {"FP8_E5M2 tensor", {QKERN_FP8_E5M2, QKERN_GROUP_TENSOR, 0}},
    {"FP8_E5M2 row", {QKERN_FP8_E5M2, QKERN_GROUP_ROW, 0}},
};
#define N_CASES ((int)(sizeof rt_cases / sizeof rt_cases[0]))

enum { ROWS = 7, COLS = 256 };

/* Bound on |x - deq(q(x))| for element x of a group whose statistics are given. Derived
 * from each format's rule (docs/formats.md); the slack terms cover the f16-stored scales. */
static double rt_bound(const qkern_quant_desc *d, double x, double amax, double lo, double hi, double tensor_amax) {
    const double f16 = 1.0 / 1024; /* relative error of an f16-rounded scale, with margin */
    switch (d->format) {
    case QKERN_I8: return 0.5 * amax / 127 * 1.0001 + 1e-7 * amax;
    case QKERN_I8_ASYM: return 0.5 * (hi - lo) / 255 * 1.0001 + 1e-6 * (hi - lo);
    case QKERN_I4:
        if (d->flags & QKERN_QUANT_ASYMMETRIC) return (hi - lo) / 15 * (1 + 2 * f16) + 1e-6 * (hi - lo);
        /* code 15 is +7·s, so x = amax (7.5·s before the f16 rounding of s) can be off by
         * s/2 + 7.5·|s - f16(s)|, up to 7.5·2^-11·s beyond s/2. */
        return 0.5 * (2 * amax / 15) * (1 + 8 * f16) + 1e-6 * amax;
    case QKERN_Q8_0:
    case QKERN_Q8_1: return 0.5 * amax / 127 + 127 * (amax / 127) * f16 + 1e-7 * amax;
    case QKERN_Q4_0: return amax / 8 * (1 + 8 * f16) + 1e-6 * amax;
    case QKERN_Q4_1: return 0.5 * (hi - lo) / 15 * (1 + 16 * f16) + fabs(lo) * f16 + 1e-6 * (hi - lo);
    case QKERN_NF4: return 0.1520 * amax * 1.0001 + 1e-7 * amax;
    case QKERN_FP8_E4M3: return fabs(x) * 0x1p-4 + tensor_amax / 448 * 0x1p-10 * 1.0001;
    case QKERN_FP8_E5M2: return fabs(x) * 0x1p-3 + tensor_amax / 57344 * 0x1p-17 * 1.0001;
    default: return 0;
    }
}

static float rt_round_to(float x, qkern_format t) {
    float y = x;
    if (t == QKERN_F32) return x;
    uint16_t h;
    ck_assert_int_eq(qkern_convert(&x, QKERN_F32, &h, t, 1), QKERN_OK);
    ck_assert_int_eq(qkern_convert(&h, t, &y, QKERN_F32, 1), QKERN_OK);
    return y;
}

static const char *rt_type_name(qkern_format t) {
    qkern_format_info i;
    return qkern_format_get_info(t, &i) == QKERN_OK ? i.name : "?";
}

static size_t rt_esize(qkern_format t) { return t == QKERN_F32 ? 4 : 2; }

/* Quantise x (rows × cols f32, already representable in src_type) from src_type, dequantise to dst_type. */
static void rt_check(qkern_context *ctx, const rt_case *c, const float *x, qkern_format src_type,
                     qkern_format dst_type, const char *pat) {
    const int64_t n = (int64_t)ROWS * COLS;
    qk_qbuf q;
    ck_assert(qk_qbuf_alloc(&q, c->desc, ROWS, COLS));
    qk_guarded src = qk_guarded_alloc((size_t)n * rt_esize(src_type));
    qk_guarded dst = qk_guarded_alloc((size_t)n * rt_esize(dst_type));
    if (src_type == QKERN_F32) memcpy(src.p, x, (size_t)n * 4);
    else ck_assert_int_eq(qkern_convert(x, QKERN_F32, src.p, src_type, (size_t)n), QKERN_OK);

    qkern_status s = qkern_quantize(ctx, src.p, src_type, src.size, &q.t);
    ck_assert_msg(s == QKERN_OK, "%s %s: quantize: %s", c->label, pat, qkern_last_error());
    s = qkern_dequantize(ctx, &q.t, dst.p, dst_type, dst.size);
    ck_assert_msg(s == QKERN_OK, "%s %s: dequantize: %s", c->label, pat, qkern_last_error());
    ck_assert_msg(qk_qbuf_guards_ok(&q) && qk_guard_ok(&src) && qk_guard_ok(&dst), "%s %s: sentinel overwritten",
                  c->label, pat);

    float *y = malloc((size_t)n * 4);
    if (dst_type == QKERN_F32) memcpy(y, dst.p, (size_t)n * 4);
    else ck_assert_int_eq(qkern_convert(dst.p, dst_type, y, QKERN_F32, (size_t)n), QKERN_OK);

    qkern_format_info info;
    qkern_format_get_info(c->desc.format, &info);
    int64_t g = c->desc.group > 0 ? c->desc.group : c->desc.group == QKERN_GROUP_DEFAULT ? info.default_group : COLS;
    if (g <= 0) g = COLS;
    int per_tensor = c->desc.group == QKERN_GROUP_TENSOR ||
                     (c->desc.group == QKERN_GROUP_DEFAULT && info.default_group == QKERN_GROUP_TENSOR);
    double tensor_amax = 0, tlo = 0, thi = 0;
    for (int64_t i = 0; i < n; i++) {
        tensor_amax = fmax(tensor_amax, fabs(x[i]));
        tlo = fmin(tlo, x[i]);
        thi = fmax(thi, x[i]);
    }
    const double out_rel = dst_type == QKERN_F32 ? 0 : dst_type == QKERN_F16 ? 0x1p-11 : 0x1p-8;
    for (int64_t r = 0; r < ROWS; r++) {
        for (int64_t g0 = 0; g0 < COLS; g0 += g) {
            double amax = 0, lo = 0, hi = 0;
            for (int64_t k = g0; k < g0 + g; k++) {
                double v = x[r * COLS + k];
                amax = fmax(amax, fabs(v));
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
            if (per_tensor) { amax = tensor_amax; lo = tlo; hi = thi; }
            double rowamax = 0;
            for (int64_t k = 0; k < COLS; k++) rowamax = fmax(rowamax, fabs(x[r * COLS + k]));
            double scale_amax = c->desc.group == QKERN_GROUP_ROW ? rowamax : tensor_amax;
            for (int64_t k = g0; k < g0 + g; k++) {
                double v = x[r * COLS + k], got = y[r * COLS + k];
                double b = rt_bound(&c->desc, v, amax, lo, hi, scale_amax) + fabs(v) * out_rel * 1.01;
                if (amax == 0) b = 0; /* an all-zero group must come back exactly zero */
                ck_assert_msg(fabs(got - v) <= b, "%s %s %s->%s: row %lld col %lld: x=%.9g deq=%.9g |err|=%.3g > bound %.3g",
                              c->label, pat, rt_type_name(src_type), rt_type_name(dst_type), (long long)r,
                              (long long)k, v, got, fabs(got - v), b);
            }
        }
    }
    free(y);
    qk_guarded_free(&src);
    qk_guarded_free(&dst);
    qk_qbuf_free(&q);
}

START_TEST(test_roundtrip_f32) {
    const rt_case *c = &rt_cases[_i];
    qkern_context *ctx = qk_test_context(0);
    float *x = malloc((size_t)ROWS * COLS * 4);
    for (int p = 0; p < QK_PAT_COUNT; p++) {
        qk_fill(x, (size_t)ROWS * COLS, (qk_pattern)p, 1000 + (uint64_t)_i);
        rt_check(ctx, c, x, QKERN_F32, QKERN_F32, qk_pattern_name((qk_pattern)p));
    }
    free(x);
    qkern_context_destroy(ctx);
}
END_TEST

START_TEST(test_roundtrip_half_types) {
    /* F16 / BF16 sources quantise exactly as their F32 values; F16 / BF16 outputs are the
     * F32 dequantisation rounded once. */
    const rt_case *c = &rt_cases[_i];
    qkern_context *ctx = qk_test_context(0);
    float *x = malloc((size_t)ROWS * COLS * 4);
    static const qkern_format types[] = {QKERN_F16, QKERN_BF16};
    for (int t = 0; t < 2; t++) {
        qk_fill(x, (size_t)ROWS * COLS, QK_PAT_GAUSS_OUTLIERS, 77 + (uint64_t)_i);
        for (int i = 0; i < ROWS * COLS; i++) x[i] = rt_round_to(x[i], types[t]);
        rt_check(ctx, c, x, types[t], QKERN_F32, "gauss+outliers");
        rt_check(ctx, c, x, QKERN_F32, types[t], "gauss+outliers");
    }
    free(x);
    qkern_context_destroy(ctx);
}
END_TEST

START_TEST(test_same_bytes_from_f16_and_f32) {
    const rt_case *c = &rt_cases[_i];
    qkern_context *ctx = qk_test_context(1);
    const int64_t n = (int64_t)ROWS * COLS;
    float *x = malloc((size_t)n * 4);
    uint16_t *h = malloc((size_t)n * 2);
    qk_fill(x, (size_t)n, QK_PAT_UNIFORM, 5);
    qkern_convert(x, QKERN_F32, h, QKERN_F16, (size_t)n);
    qkern_convert(h, QKERN_F16, x, QKERN_F32, (size_t)n);
    qk_qbuf a, b;
    ck_assert(qk_qbuf_alloc(&a, c->desc, ROWS, COLS));
    ck_assert(qk_qbuf_alloc(&b, c->desc, ROWS, COLS));
    ck_assert_int_eq(qkern_quantize(ctx, x, QKERN_F32, (size_t)n * 4, &a.t), QKERN_OK);
    ck_assert_int_eq(qkern_quantize(ctx, h, QKERN_F16, (size_t)n * 2, &b.t), QKERN_OK);
    ck_assert_msg(memcmp(a.t.data, b.t.data, a.t.data_bytes) == 0, "%s: data differs", c->label);
    if (a.t.scales_bytes) ck_assert(memcmp(a.t.scales, b.t.scales, a.t.scales_bytes) == 0);
    if (a.t.zeros_bytes) ck_assert(memcmp(a.t.zeros, b.t.zeros, a.t.zeros_bytes) == 0);
    qk_qbuf_free(&a);
    qk_qbuf_free(&b);
    free(x);
    free(h);
    qkern_context_destroy(ctx);
}
END_TEST

START_TEST(test_threads_same_bytes) {
    /* Tall enough that the front end splits the rows into several tasks, and the
     * per-tensor reduction into chunks (more than 2^18 elements). */
    const rt_case *c = &rt_cases[_i];
    const int64_t rows = 1030, cols = 256, n = rows * cols;
    float *x = malloc((size_t)n * 4);
    qk_fill(x, (size_t)n, QK_PAT_GAUSS_OUTLIERS, 99);
    x[n - 1] = 1000.0f; /* the extremes sit in the last reduction chunk */
    x[n - 2] = -900.0f;
    qk_qbuf ref;
    ck_assert(qk_qbuf_alloc(&ref, c->desc, rows, cols));
    static const int threads[] = {1, 2, 7};
    for (int t = 0; t < 3; t++) {
        qkern_context *ctx = qk_test_context(threads[t]);
        qk_qbuf q;
        ck_assert(qk_qbuf_alloc(&q, c->desc, rows, cols));
        ck_assert_int_eq(qkern_quantize(ctx, x, QKERN_F32, (size_t)n * 4, &q.t), QKERN_OK);
        if (t == 0) {
            memcpy(ref.t.data, q.t.data, q.t.data_bytes);
            if (q.t.scales_bytes) memcpy(ref.t.scales, q.t.scales, q.t.scales_bytes);
            if (c->desc.group == QKERN_GROUP_TENSOR) {
                /* n > 2^18: the front end reduced the tensor in chunks; the one-pass rule agrees */
                float s1;
                int32_t z1 = 0;
                ck_assert_int_eq(qk_tensor_params__scalar(&c->desc, x, (size_t)n, &s1, &z1), QKERN_OK);
                ck_assert_msg(memcmp(&s1, q.t.scales, 4) == 0, "%s: chunked per-tensor scale differs", c->label);
                if (q.t.zeros_bytes) ck_assert(memcmp(&z1, q.t.zeros, 4) == 0);
            }
        } else {
            ck_assert_msg(memcmp(ref.t.data, q.t.data, q.t.data_bytes) == 0, "%s: %d threads change the bytes",
                          c->label, threads[t]);
            if (q.t.scales_bytes) ck_assert(memcmp(ref.t.scales, q.t.scales, q.t.scales_bytes) == 0);
        }
        ck_assert(qk_qbuf_guards_ok(&q));
        qk_qbuf_free(&q);
        qkern_context_destroy(ctx);
    }
    qk_qbuf_free(&ref);
    free(x);
}
END_TEST

static Suite *roundtrip_suite(void) {
    Suite *s = suite_create("quant_roundtrip");
    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_roundtrip_f32, 0, N_CASES);
    tcase_add_loop_test(tc, test_roundtrip_half_types, 0, N_CASES);
    tcase_add_loop_test(tc, test_same_bytes_from_f16_and_f32, 0, N_CASES);
    tcase_add_loop_test(tc, test_threads_same_bytes, 0, N_CASES);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return qk_test_run(roundtrip_suite()); }
