/* NF4 (bitsandbytes / QLoRA): the codebook against its construction (quantiles of N(0,1)),
 * the decision thresholds and their ties, known answers worked by hand (nibble order),
 * nearest-code and round-trip bounds at blocks 64 / 32 / 128 / row, all-zero blocks,
 * NaN / Inf, static absmax, F16 / BF16 sources, thread-count independence. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/format_nf4.h"
#include "support/qk_test.h"

/* Check's ck_assert_* report every passing check to the runner through a pipe (a write()
 * each), far too slow for loops over millions of values; these only call into Check on
 * failure. */
#define CHECK(c, ...) do { if (!(c)) ck_abort_msg(__VA_ARGS__); } while (0)
#define CHECK1(c) CHECK(c, "failed: %s", #c)
#define CHECK_EQ(a, b) do { uintmax_t a_ = (uintmax_t)(a), b_ = (uintmax_t)(b); \
    if (a_ != b_) ck_abort_msg("%s == %s: 0x%jx != 0x%jx", #a, #b, a_, b_); } while (0)
#define CHECK_IEQ(a, b) do { intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b); \
    if (a_ != b_) ck_abort_msg("%s == %s: %jd != %jd", #a, #b, a_, b_); } while (0)

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* Φ^-1(p) by bisection on Φ(x) = erfc(-x/√2)/2, to double precision. */
static double norm_ppf(double p) {
    double lo = -10, hi = 10;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* bitsandbytes create_normal_map(offset=0.9677083, use_extra_value=True): 8 positive
 * quantiles from linspace(offset, 0.5, 9)[:-1], 7 negative from linspace(offset, 0.5, 8)[:-1],
 * and 0; sorted, divided by the largest. */
START_TEST(test_codebook_construction) {
    const double offset = 0.9677083;
    double v[16];
    int n = 0;
    for (int i = 0; i < 8; i++) v[n++] = norm_ppf(offset + (0.5 - offset) * i / 8.0);
    v[n++] = 0.0;
    for (int i = 0; i < 7; i++) v[n++] = -norm_ppf(offset + (0.5 - offset) * i / 7.0);
    for (int i = 0; i < 16; i++) /* insertion sort */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) { double t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
    for (int i = 0; i < 16; i++) v[i] /= v[15];
    for (int i = 0; i < 16; i++)
        CHECK(fabs(v[i] - qk_nf4_codebook[i]) < 1e-6, "code %d: %.9f, construction %.9f", i,
                      (double)qk_nf4_codebook[i], v[i]);
    CHECK1(qk_nf4_codebook[0] == -1.0f && qk_nf4_codebook[7] == 0.0f && qk_nf4_codebook[15] == 1.0f);
    CHECK_EQ(bits_of(qk_nf4_codebook[7]), 0); /* +0, not -0 */
    for (int i = 0; i < 15; i++) CHECK1(qk_nf4_codebook[i] < qk_nf4_codebook[i + 1]);
    /* The first and last four digits a reader can check against the QLoRA paper (appendix E). */
    CHECK1(fabsf(qk_nf4_codebook[1] + 0.6962f) < 1e-4f && fabsf(qk_nf4_codebook[14] - 0.7230f) < 1e-4f);
    CHECK1(fabsf(qk_nf4_codebook[8] - 0.0796f) < 1e-4f && fabsf(qk_nf4_codebook[6] + 0.0911f) < 1e-4f);
}
END_TEST

/* Thresholds are the midpoints of adjacent codes; a value exactly on one takes the lower
 * code (bitsandbytes compares with a strict '>'); one f32 ulp above takes the upper. */
START_TEST(test_thresholds_and_ties) {
    for (int i = 0; i < 15; i++) {
        float t = qk_nf4_thresholds[i];
        double mid = 0.5 * ((double)qk_nf4_codebook[i] + qk_nf4_codebook[i + 1]);
        CHECK(fabs(t - mid) < 1e-7, "threshold %d: %.9f vs midpoint %.9f", i, (double)t, mid);
        CHECK_EQ(qk_nf4_encode(t), (unsigned)i);
        CHECK_EQ(qk_nf4_encode(nextafterf(t, -INFINITY)), (unsigned)i);
        CHECK_EQ(qk_nf4_encode(nextafterf(t, INFINITY)), (unsigned)i + 1);
    }
    for (int i = 0; i < 16; i++) CHECK_EQ(qk_nf4_encode(qk_nf4_codebook[i]), (unsigned)i);
    CHECK_EQ(qk_nf4_encode(-0.0f), 7);
    CHECK_EQ(qk_nf4_encode(1.5f), 15);
    CHECK_EQ(qk_nf4_encode(INFINITY), 15);
    CHECK_EQ(qk_nf4_encode(-1.5f), 0);
    CHECK_EQ(qk_nf4_encode(-INFINITY), 0);
    CHECK_EQ(qk_nf4_encode(NAN), 7);
    CHECK_EQ(qk_nf4_encode(-NAN), 7);
}
END_TEST

/* The tree equals "the number of thresholds strictly below v", and that is a nearest code:
 * no other code is closer than the chosen one by more than the thresholds' f32 rounding. */
START_TEST(test_tree_is_nearest) {
    qk_rng r;
    qk_rng_seed(&r, 4);
    for (int k = 0; k < 2000000; k++) {
        float v = qk_rng_uniform(&r, -1.25f, 1.25f);
        unsigned want = 0;
        for (int i = 0; i < 15; i++) want += v > qk_nf4_thresholds[i];
        unsigned got = qk_nf4_encode(v);
        if (got != want) ck_abort_msg("v=%a: tree %u, count %u", (double)v, got, want);
        double d = fabs((double)v - qk_nf4_codebook[got]);
        for (int j = 0; j < 16; j++)
            if (fabs((double)v - qk_nf4_codebook[j]) < d - 1e-7)
                ck_abort_msg("v=%a: code %u, but %d is nearer", (double)v, got, j);
    }
}
END_TEST

/* A 1 × 64 block worked by hand. absmax = 2, so v = x / 2:
 *   x0 =  2.0  → v  1.0   → 15 | x1 = -2.0  → v -1.0  → 0             byte 0 = 0xF0
 *   x2 =  0.0  → 7        | x3 =  0.5  → v  0.25  (0.2035 < v <= 0.2920) → 10   byte 1 = 0x7A
 *   x4 = -0.18 → v -0.09  (-0.1379 < v <= -0.0455) → 6
 *   x5 =  1.1  → v  0.55  (0.5017 < v <= 0.6428) → 13                     byte 2 = 0x6D
 *   x6 =  0.08 → v  0.04  (just above 0.03979)  → 8
 *   x7 =  0.079 → v 0.0395 (just below 0.03979) → 7                       byte 3 = 0x87
 *   x8 = -1.5  → v -0.75  (-0.8481 < v <= -0.6106) → 1
 *   x9 = -1.8  → v -0.9   (v <= -0.8481) → 0                              byte 4 = 0x10
 *   x10..x63 = 0 → 7                                                      bytes 5..31 = 0x77 */
START_TEST(test_known_answer_block) {
    float x[64] = {2.0f, -2.0f, 0.0f, 0.5f, -0.18f, 1.1f, 0.08f, 0.079f, -1.5f, -1.8f};
    const uint8_t want[5] = {0xF0, 0x7A, 0x6D, 0x87, 0x10};
    qkern_context *ctx = qk_test_context(1);
    qk_qbuf b;
    CHECK1(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_NF4, QKERN_GROUP_DEFAULT, 0}, 1, 64));
    CHECK_EQ(b.t.data_bytes, 32);
    CHECK_EQ(b.t.scales_bytes, 4);
    CHECK_IEQ(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &b.t), QKERN_OK);
    CHECK1(qk_qbuf_guards_ok(&b));
    const uint8_t *q = b.t.data;
    for (int i = 0; i < 5; i++) CHECK(q[i] == want[i], "byte %d: 0x%02x, want 0x%02x", i, q[i], want[i]);
    for (int i = 5; i < 32; i++) CHECK_EQ(q[i], 0x77);
    CHECK1(*(float *)b.t.scales == 2.0f);
    float y[64];
    CHECK_IEQ(qkern_dequantize(ctx, &b.t, y, QKERN_F32, sizeof y), QKERN_OK);
    CHECK1(y[0] == 2.0f && y[1] == -2.0f && y[2] == 0.0f);
    CHECK1(y[3] == 0.24611230194568634f * 2.0f);
    CHECK1(y[4] == -0.09105003625154495f * 2.0f);
    CHECK1(y[5] == 0.5626170039176941f * 2.0f);
    CHECK1(y[6] == 0.07958029955625534f * 2.0f && y[7] == 0.0f);
    CHECK1(y[8] == -0.6961928009986877f * 2.0f && y[9] == -2.0f);
    qk_qbuf_free(&b);
    qkern_context_destroy(ctx);
}
END_TEST

static float ref_absmax(const float *x, int64_t n) {
    float a = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i]) && fabsf(x[i]) > a) a = fabsf(x[i]);
    return a;
}

/* The threshold count again, written independently of the header's tree. */
static unsigned ref_code(float x, float absmax) {
    float inv = absmax > 0 ? 1.0f / absmax : 0.0f, v = x * inv;
    if (isnan(v)) return 7;
    unsigned c = 0;
    for (int i = 0; i < 15; i++) c += v > qk_nf4_thresholds[i];
    return c;
}

/* Blocks of 64 / 32 / 128 / a whole row, on Gaussian data with outliers, from F32, F16 and BF16. */
START_TEST(test_block_sizes) {
    const int64_t groups[] = {64, 32, 128, QKERN_GROUP_ROW};
    const int64_t rows = 5, cols = 384;
    const size_t n = (size_t)(rows * cols);
    float *x = malloc(n * 4), *y = malloc(n * 4);
    uint16_t *h = malloc(n * 2);
    qkern_context *ctx = qk_test_context(0);
    for (int src = 0; src < 3; src++) {
        qkern_format st = src == 0 ? QKERN_F32 : src == 1 ? QKERN_F16 : QKERN_BF16;
        qk_fill(x, n, QK_PAT_GAUSS_OUTLIERS, 100 + (uint64_t)src);
        const void *in = x;
        size_t in_bytes = n * 4;
        if (st != QKERN_F32) { /* quantise values representable in the source type */
            CHECK_IEQ(qkern_convert(x, QKERN_F32, h, st, n), QKERN_OK);
            CHECK_IEQ(qkern_convert(h, st, x, QKERN_F32, n), QKERN_OK);
            in = h;
            in_bytes = n * 2;
        }
        for (int gi = 0; gi < 4; gi++) {
            const int64_t g = groups[gi] == QKERN_GROUP_ROW ? cols : groups[gi];
            qk_qbuf b;
            CHECK1(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_NF4, groups[gi], 0}, rows, cols));
            CHECK_EQ(b.t.scales_bytes, (size_t)(rows * cols / g) * 4);
            CHECK_IEQ(qkern_quantize(ctx, in, st, in_bytes, &b.t), QKERN_OK);
            CHECK1(qk_qbuf_guards_ok(&b));
            qk_guarded out = qk_guarded_alloc(n * 4);
            CHECK_IEQ(qkern_dequantize(ctx, &b.t, out.p, QKERN_F32, n * 4), QKERN_OK);
            CHECK1(qk_guard_ok(&out));
            memcpy(y, out.p, n * 4);
            const uint8_t *q = b.t.data;
            const float *sc = b.t.scales;
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t blk = 0; blk < cols / g; blk++) {
                    const float *xb = x + r * cols + blk * g;
                    float am = ref_absmax(xb, g), got_am = sc[r * (cols / g) + blk];
                    CHECK(got_am == am, "g=%lld row %lld block %lld absmax %g want %g", (long long)g, (long long)r,
                                  (long long)blk, (double)got_am, (double)am);
                    for (int64_t j = 0; j < g; j++) {
                        size_t i = (size_t)(r * cols + blk * g + j);
                        unsigned code = (i % 2 == 0) ? q[i / 2] >> 4 : q[i / 2] & 0xf;
                        CHECK(code == ref_code(xb[j], am), "g=%lld elem %zu: code %u want %u", (long long)g, i, code,
                                      ref_code(xb[j], am));
                        CHECK1(y[i] == qk_nf4_codebook[code] * am);
                        /* Largest half-gap of the codebook: (-0.6962 - -1)/2 = 0.1519. */
                        CHECK(fabsf(y[i] - xb[j]) <= 0.15191f * am, "elem %zu: x=%g y=%g absmax %g", i,
                                      (double)xb[j], (double)y[i], (double)am);
                    }
                }
            }
            qk_guarded_free(&out);
            qk_qbuf_free(&b);
        }
    }
    free(x); free(y); free(h);
    qkern_context_destroy(ctx);
}
END_TEST

/* All-zero blocks (absmax 0 → every code 7, +0 back); NaN → 7; ±Inf → ±absmax; a block
 * of nothing finite behaves as all-zero. */
START_TEST(test_zero_nan_inf_blocks) {
    float x[128] = {0};
    for (int i = 64; i < 128; i++) x[i] = (float)(i - 96) / 32.0f; /* block 1: [-1, 1) */
    x[100] = NAN;
    x[101] = INFINITY;
    x[102] = -INFINITY;
    qkern_context *ctx = qk_test_context(1);
    qk_qbuf b;
    CHECK1(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_NF4, 64, 0}, 1, 128));
    CHECK_IEQ(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &b.t), QKERN_OK);
    const uint8_t *q = b.t.data;
    const float *sc = b.t.scales;
    for (int i = 0; i < 32; i++) CHECK_EQ(q[i], 0x77);
    CHECK_EQ(bits_of(sc[0]), 0);
    CHECK1(sc[1] == 1.0f);         /* |-96/32|: the finite absmax, ±Inf ignored */
    CHECK_EQ(q[50], 0x7F);   /* NaN → 7, +Inf → 15 */
    CHECK_EQ(q[51] >> 4, 0); /* -Inf → 0 */
    CHECK_EQ(q[32] >> 4, 0); /* -1.0 → 0 */
    float y[128];
    CHECK_IEQ(qkern_dequantize(ctx, &b.t, y, QKERN_F32, sizeof y), QKERN_OK);
    for (int i = 0; i < 64; i++) CHECK_EQ(bits_of(y[i]), 0); /* +0.0, never -0.0 */
    CHECK1(y[100] == 0.0f && y[101] == 1.0f && y[102] == -1.0f && y[64] == -1.0f);
    qk_qbuf_free(&b);

    /* Nothing finite: absmax 0, all codes 7. */
    float z[64];
    for (int i = 0; i < 64; i++) z[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -INFINITY;
    CHECK1(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_NF4, 64, 0}, 1, 64));
    CHECK_IEQ(qkern_quantize(ctx, z, QKERN_F32, sizeof z, &b.t), QKERN_OK);
    for (int i = 0; i < 32; i++) CHECK_EQ(((uint8_t *)b.t.data)[i], 0x77);
    CHECK1(*(float *)b.t.scales == 0.0f);
    qk_qbuf_free(&b);
    qkern_context_destroy(ctx);
}
END_TEST

/* QKERN_QUANT_STATIC_SCALES: the caller's absmax is read (never written), values past it
 * saturate to ±1, an absmax of 0 gives code 7 everywhere. */
START_TEST(test_static_scales) {
    const int64_t rows = 3, cols = 64;
    float x[192];
    qk_fill(x, 192, QK_PAT_UNIFORM, 9);
    for (int i = 0; i < 192; i++) x[i] *= 3.0f;
    const float stat[6] = {1.0f, 2.0f, 0.5f, 0.0f, 3.0f, 0.25f};
    qkern_context *ctx = qk_test_context(1);
    qk_qbuf b;
    CHECK1(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_NF4, 32, QKERN_QUANT_STATIC_SCALES}, rows, cols));
    memcpy(b.t.scales, stat, sizeof stat);
    CHECK_IEQ(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &b.t), QKERN_OK);
    CHECK1(qk_qbuf_guards_ok(&b));
    CHECK1(memcmp(b.t.scales, stat, sizeof stat) == 0);
    const uint8_t *q = b.t.data;
    int saturated = 0;
    for (int i = 0; i < 192; i++) {
        float am = stat[i / 32];
        unsigned code = i % 2 == 0 ? q[i / 2] >> 4 : q[i / 2] & 0xf;
        CHECK_EQ(code, ref_code(x[i], am));
        if (am == 0.0f) CHECK_EQ(code, 7);
        if (am > 0 && fabsf(x[i]) > am) {
            CHECK_EQ(code, x[i] > 0 ? 15 : 0);
            saturated++;
        }
    }
    ck_assert_int_gt(saturated, 10);
    qk_qbuf_free(&b);
    qkern_context_destroy(ctx);
}
END_TEST

START_TEST(test_threads_and_shapes) {
    const int64_t rows = 97, cols = 1024;
    const size_t n = (size_t)(rows * cols);
    float *x = malloc(n * 4);
    qk_fill(x, n, QK_PAT_GAUSS_OUTLIERS, 77);
    qkern_context *c1 = qk_test_context(1), *c2 = qk_test_context(2);
    qk_qbuf a, b;
    CHECK1(qk_qbuf_alloc(&a, (qkern_quant_desc){QKERN_NF4, 64, 0}, rows, cols));
    CHECK1(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_NF4, 64, 0}, rows, cols));
    CHECK_IEQ(qkern_quantize(c1, x, QKERN_F32, n * 4, &a.t), QKERN_OK);
    CHECK_IEQ(qkern_quantize(c2, x, QKERN_F32, n * 4, &b.t), QKERN_OK);
    CHECK1(memcmp(a.t.data, b.t.data, n / 2) == 0);
    CHECK1(memcmp(a.t.scales, b.t.scales, a.t.scales_bytes) == 0);
    qk_qbuf_free(&a);
    qk_qbuf_free(&b);
    /* Odd K, and K not a multiple of the block: refused before anything is written. */
    size_t db, sb, zb;
    qkern_quant_desc d = {QKERN_NF4, 64, 0};
    CHECK_IEQ(qkern_qtensor_sizes(&d, 2, 96, &db, &sb, &zb), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "K=96"));
    d.group = QKERN_GROUP_ROW;
    CHECK_IEQ(qkern_qtensor_sizes(&d, 2, 33, &db, &sb, &zb), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "K=33"));
    d.group = 2; /* the smallest block: one byte, one absmax */
    CHECK_IEQ(qkern_qtensor_sizes(&d, 3, 8, &db, &sb, &zb), QKERN_OK);
    CHECK_EQ(db, 12);
    CHECK_EQ(sb, 48);
    free(x);
    qkern_context_destroy(c1);
    qkern_context_destroy(c2);
}
END_TEST

static Suite *nf4_suite(void) {
    Suite *s = suite_create("nf4");
    TCase *tc = tcase_create("codebook");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_codebook_construction);
    tcase_add_test(tc, test_thresholds_and_ties);
    tcase_add_test(tc, test_tree_is_nearest);
    suite_add_tcase(s, tc);
    TCase *api = tcase_create("api");
    tcase_set_timeout(api, 60);
    tcase_add_test(api, test_known_answer_block);
    tcase_add_test(api, test_block_sizes);
    tcase_add_test(api, test_zero_nan_inf_blocks);
    tcase_add_test(api, test_static_scales);
    tcase_add_test(api, test_threads_and_shapes);
    suite_add_tcase(s, api);
    return s;
}

int main(void) { return qk_test_run(nf4_suite()); }
