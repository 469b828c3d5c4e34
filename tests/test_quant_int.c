/* I8, I8_ASYM and I4 (symmetric and asymmetric): known answers worked out by hand from
 * the rules in docs/formats.md (kernels/format_int.h), static scales and zero
 * points, groups 32 / 64 / 128 / ROW / TENSOR, the round-trip bound |x - deq| <= s/2 for
 * in-range elements, all-zero groups and the NaN / Inf rules. Every call goes through
 * the public qkern_quantize / qkern_dequantize; every buffer is sentinel-guarded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/qk_test.h"

static float f16_value(uint16_t h) {
    float f;
    ck_assert_int_eq(qkern_convert(&h, QKERN_F16, &f, QKERN_F32, 1), QKERN_OK);
    return f;
}

static uint16_t f16_bits(float f) {
    uint16_t h;
    ck_assert_int_eq(qkern_convert(&f, QKERN_F32, &h, QKERN_F16, 1), QKERN_OK);
    return h;
}

/* Quantises x into b (already allocated for rows × cols) on a 2-thread context. */
static void quantize_into(qk_qbuf *b, const float *x) {
    qkern_context *ctx = qk_test_context(2);
    const size_t n = (size_t)(b->t.rows * b->t.cols);
    qkern_status s = qkern_quantize(ctx, x, QKERN_F32, n * 4, &b->t);
    ck_assert_msg(s == QKERN_OK, "quantize: %s", qkern_last_error());
    ck_assert_msg(qk_qbuf_guards_ok(b), "sentinel overwritten");
    qkern_context_destroy(ctx);
}

/* Dequantises b and compares with want bit for bit. */
static void dequant_expect(const qk_qbuf *b, const float *want) {
    const size_t n = (size_t)(b->t.rows * b->t.cols);
    qk_guarded y = qk_guarded_alloc(n * 4);
    qkern_context *ctx = qk_test_context(1);
    ck_assert_int_eq(qkern_dequantize(ctx, &b->t, y.p, QKERN_F32, y.size), QKERN_OK);
    ck_assert(qk_guard_ok(&y));
    const float *got = y.p;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&got[i], &want[i], 4) == 0, "element %zu: got %.9g want %.9g", i, got[i], want[i]);
    qkern_context_destroy(ctx);
    qk_guarded_free(&y);
}

static void expect_bytes(const void *got, const void *want, size_t n, const char *what) {
    const uint8_t *g = got, *w = want;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(g[i] == w[i], "%s byte %zu: got 0x%02X want 0x%02X", what, i, g[i], w[i]);
}

/* ---- I8 ----------------------------------------------------------------------------- */

/* ROW, 2 × 8. q = clamp(RNE(x·inv), -127, 127), RNE = ties to EVEN (unlike ggml's roundf).
 * row 0: amax 254 -> s = 2, inv = 0.5: x·inv = 127, 2.5, -2.5, 1.5, 0.5, -126.5, 0, 3.5
 *        -> 127, 2, -2, 2, 0, -126, 0, 4
 * row 1: NaN and ±Inf are ignored for amax (127 -> s = 1); NaN -> 0, ±Inf saturate ±127;
 *        63.5 -> 64 (even), -0.5 -> 0 (even). */
START_TEST(test_i8_row_known) {
    const float x[16] = {254, 5, -5, 3, 1, -253, 0, 7, NAN, INFINITY, -INFINITY, 63.5f, -127, 1, 0, -0.5f};
    static const int8_t want_q[16] = {127, 2, -2, 2, 0, -126, 0, 4, 0, 127, -127, 64, -127, 1, 0, 0};
    static const float want_s[2] = {2.0f, 1.0f};
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, 0}, 2, 8));
    quantize_into(&b, x);
    expect_bytes(b.t.data, want_q, sizeof want_q, "I8 data");
    expect_bytes(b.t.scales, want_s, sizeof want_s, "I8 scales");
    float y[16];
    for (int i = 0; i < 16; i++) y[i] = (float)want_q[i] * want_s[i / 8];
    dequant_expect(&b, y);
    qk_qbuf_free(&b);
}
END_TEST

/* group 4, 2 × 8: groups [254 5 -5 3] (s 2), [127 0.5 -1.5 2.5] (s 1: 127 0 -2 2),
 * all zero (s = 0, codes 0) and a tiny group (amax 1e-38: 1/s overflows, so s = 0). */
START_TEST(test_i8_group_known) {
    const float x[16] = {254, 5, -5, 3, 127, 0.5f, -1.5f, 2.5f, 0, 0, 0, 0, 1e-38f, -1e-38f, 0, 5e-39f};
    static const int8_t want_q[16] = {127, 2, -2, 2, 127, 0, -2, 2, 0, 0, 0, 0, 0, 0, 0, 0};
    static const float want_s[4] = {2.0f, 1.0f, 0.0f, 0.0f};
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I8, 4, 0}, 2, 8));
    quantize_into(&b, x);
    expect_bytes(b.t.data, want_q, sizeof want_q, "I8 g4 data");
    expect_bytes(b.t.scales, want_s, sizeof want_s, "I8 g4 scales");
    float y[16];
    for (int i = 0; i < 16; i++) y[i] = (float)want_q[i] * want_s[i / 4];
    dequant_expect(&b, y);
    qk_qbuf_free(&b);
}
END_TEST

/* Static scale 0.5 (inv = 2): 1, -1, 100, -100, 0.25, 0.75 -> 2, -2, 127, -127, 0 (0.5 to
 * even), 2 (1.5 to even). A static scale of 0 makes every code 0. The scales are inputs:
 * not one byte of them changes. */
START_TEST(test_i8_static) {
    const float x[12] = {1, -1, 100, -100, 0.25f, 0.75f, 1, -1, 100, -100, 0.25f, 0.75f};
    static const int8_t want_q[12] = {2, -2, 127, -127, 0, 2, 0, 0, 0, 0, 0, 0};
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, QKERN_QUANT_STATIC_SCALES}, 2, 6));
    const float s[2] = {0.5f, 0.0f};
    memcpy(b.t.scales, s, sizeof s);
    quantize_into(&b, x);
    expect_bytes(b.t.data, want_q, sizeof want_q, "I8 static data");
    expect_bytes(b.t.scales, s, sizeof s, "I8 static scales (unchanged)");
    qk_qbuf_free(&b);
}
END_TEST

/* ---- I8_ASYM ------------------------------------------------------------------------ */

/* ROW, 3 × 8. lo = min(x, 0), hi = max(x, 0), s = (hi-lo)/255, z = -128 - RNE(lo/s).
 * row 0: lo -25.5, hi 229.5 -> s = 1, z = -128 - RNE(-25.5) = -128 + 26 = -102;
 *        q = clamp(RNE(x) - 102): -25.5 -> -26-102 = -128, 229.5 -> 230-102 = 128 -> 127,
 *        0 -> -102, 0.5 -> -102, 1.5 -> -100, 100 -> -2, -10 -> -112, 2.5 -> -100
 * row 1: all zero: s = 1 (a per-tensor/row scale is never 0), z = -128, every q = -128
 * row 2: positive only: lo = 0, hi = 255 -> s = 1, z = -128: 255 1 2 128 0 -> 127 -127 -126 0 -128 */
START_TEST(test_i8_asym_row_known) {
    const float x[24] = {-25.5f, 229.5f, 0, 0.5f, 1.5f, 100, -10, 2.5f, 0, 0, 0, 0, 0, 0, 0, 0,
                         255, 1, 2, 128, 0, 0, 0, 0};
    static const int8_t want_q[24] = {-128, 127,  -102, -102, -100, -2,   -112, -100, -128, -128, -128, -128,
                                      -128, -128, -128, -128, 127,  -127, -126, 0,    -128, -128, -128, -128};
    static const float want_s[3] = {1, 1, 1};
    static const int32_t want_z[3] = {-102, -128, -128};
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I8_ASYM, QKERN_GROUP_ROW, 0}, 3, 8));
    quantize_into(&b, x);
    expect_bytes(b.t.data, want_q, sizeof want_q, "I8_ASYM data");
    expect_bytes(b.t.scales, want_s, sizeof want_s, "I8_ASYM scales");
    expect_bytes(b.t.zeros, want_z, sizeof want_z, "I8_ASYM zeros");
    /* (q - z)·s: row 0 gives -26 229 0 0 2 100 -10 2 (each within s/2 of x) */
    float y[24];
    for (int i = 0; i < 24; i++) y[i] = (float)(want_q[i] - want_z[i / 8]) * want_s[i / 8];
    ck_assert(y[0] == -26.0f && y[1] == 229.0f && y[20] == 0.0f);
    dequant_expect(&b, y);
    qk_qbuf_free(&b);
}
END_TEST

/* TENSOR, 2 × 4: lo -51, hi 204 over the whole tensor -> s = 1, z = -128 + 51 = -77;
 * q = RNE(x) - 77: -51 -> -128, 204 -> 127, 0 -> -77, 1.5 -> -75, 2.5 -> -75,
 * -0.5 -> -77, 100 -> 23, 3 -> -74. */
START_TEST(test_i8_asym_tensor_known) {
    const float x[8] = {-51, 204, 0, 1.5f, 2.5f, -0.5f, 100, 3};
    static const int8_t want_q[8] = {-128, 127, -77, -75, -75, -77, 23, -74};
    const float want_s = 1.0f;
    const int32_t want_z = -77;
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I8_ASYM, QKERN_GROUP_TENSOR, 0}, 2, 4));
    quantize_into(&b, x);
    expect_bytes(b.t.data, want_q, sizeof want_q, "I8_ASYM tensor data");
    expect_bytes(b.t.scales, &want_s, 4, "I8_ASYM tensor scale");
    expect_bytes(b.t.zeros, &want_z, 4, "I8_ASYM tensor zero");
    qk_qbuf_free(&b);
}
END_TEST

/* Static s = 2, z = 10: q = clamp(RNE(x/2) + 10): 0 -> 10, 1 -> 10 (0.5 to even),
 * 3 -> 12, -300 -> -140 -> -128, 300 -> 160 -> 127, -5 -> -2+10 = 8.
 * Row 1: z = 1000 is outside the code range and is clamped to 127 for quantise and
 * dequantise alike (s = 1): 0 -> 127, -255 -> -128, 5 -> 127; deq (q-127)·1 = 0, -255, 0. */
START_TEST(test_i8_asym_static) {
    const float x[12] = {0, 1, 3, -300, 300, -5, 0, -255, 5, 0, 0, 0};
    static const int8_t want_q[12] = {10, 10, 12, -128, 127, 8, 127, -128, 127, 127, 127, 127};
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I8_ASYM, QKERN_GROUP_ROW, QKERN_QUANT_STATIC_SCALES}, 2, 6));
    const float s[2] = {2.0f, 1.0f};
    const int32_t z[2] = {10, 1000};
    memcpy(b.t.scales, s, sizeof s);
    memcpy(b.t.zeros, z, sizeof z);
    quantize_into(&b, x);
    expect_bytes(b.t.data, want_q, sizeof want_q, "I8_ASYM static data");
    expect_bytes(b.t.scales, s, sizeof s, "I8_ASYM static scales (unchanged)");
    expect_bytes(b.t.zeros, z, sizeof z, "I8_ASYM static zeros (unchanged)");
    const float y[12] = {0, 0, 4, -276, 234, -4, 0, -255, 0, 0, 0, 0};
    dequant_expect(&b, y);
    qk_qbuf_free(&b);
}
END_TEST

/* ---- I4 ----------------------------------------------------------------------------- */

/* Symmetric, group 32, 1 × 64. byte i = code(2i) | code(2i+1) << 4, code = clamp(RNE(x·inv), -8, 7) + 8.
 * group 0: amax 7.5 -> s = f16(2·7.5/15) = 1.0 (0x3C00): 7.5 -> 8 -> 7 -> 15, -7.5 -> -8 -> 0,
 *          0.5 -> 0 -> 8, 1.5 -> 10, 2.5 -> 2 -> 10, -2.5 -> 6, 3 -> 11, -7 -> 1, 0 -> 8
 *          bytes 0F A8 6A 1B 88…
 * group 1: amax 1 -> 2/15 = 0.1333333 -> f16 0x3044 = 0.13330078 (mantissa 68.27 -> 68);
 *          the codes use THIS scale, inv = 1/0.13330078 = 7.50183:
 *          1 -> 7.50 -> 8 -> 7 -> 15, -1 -> -8 -> 0, 0.5 -> 3.75 -> 4 -> 12, -0.5 -> 4
 *          bytes 0F 4C 88… */
START_TEST(test_i4_sym_known) {
    float x[64] = {7.5f, -7.5f, 0.5f, 1.5f, 2.5f, -2.5f, 3, -7};
    x[32] = 1, x[33] = -1, x[34] = 0.5f, x[35] = -0.5f;
    uint8_t want_q[32];
    memset(want_q, 0x88, sizeof want_q);
    want_q[0] = 0x0F, want_q[1] = 0xA8, want_q[2] = 0x6A, want_q[3] = 0x1B;
    want_q[16] = 0x0F, want_q[17] = 0x4C;
    static const uint16_t want_s[2] = {0x3C00, 0x3044};
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I4, 32, 0}, 1, 64));
    quantize_into(&b, x);
    expect_bytes(b.t.data, want_q, sizeof want_q, "I4 sym data");
    expect_bytes(b.t.scales, want_s, sizeof want_s, "I4 sym scales");
    ck_assert(f16_value(0x3044) == 0.13330078125f);
    float y[64];
    static const int q0[8] = {7, -8, 0, 2, 2, -2, 3, -7}, q1[4] = {7, -8, 4, -4};
    for (int i = 0; i < 64; i++) {
        const int q = i < 8 ? q0[i] : (i >= 32 && i < 36) ? q1[i - 32] : 0;
        y[i] = (float)q * (i < 32 ? 1.0f : 0.13330078125f);
    }
    dequant_expect(&b, y);
    qk_qbuf_free(&b);
}
END_TEST

/* Symmetric, ROW, 2 × 8. row 0: NaN / ±Inf ignored for amax (7.5 -> s = 1); NaN -> code 8,
 * +Inf -> 15, -Inf -> 0: bytes F8 F0 90 88. row 1 all zero: s = 0 (0x0000), codes 8, deq 0. */
START_TEST(test_i4_sym_special) {
    const float x[16] = {NAN, INFINITY, -INFINITY, 7.5f, -7.5f, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t want_q[8] = {0xF8, 0xF0, 0x90, 0x88, 0x88, 0x88, 0x88, 0x88};
    static const uint16_t want_s[2] = {0x3C00, 0x0000};
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I4, QKERN_GROUP_ROW, 0}, 2, 8));
    quantize_into(&b, x);
    expect_bytes(b.t.data, want_q, sizeof want_q, "I4 special data");
    expect_bytes(b.t.scales, want_s, sizeof want_s, "I4 special scales");
    const float y[16] = {0, 7, -8, 7, -8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    dequant_expect(&b, y);
    qk_qbuf_free(&b);

    /* The f16 scale saturates: 2·1e6/15 = 133333 > 65504 -> 0x7BFF, not Inf.
     * 1e6/65504 = 15.3 -> 7 -> 15; -1e5/65504 = -1.53 -> -2 -> 6: byte 6F. */
    const float big[2] = {1e6f, -1e5f};
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I4, QKERN_GROUP_ROW, 0}, 1, 2));
    quantize_into(&b, big);
    ck_assert_uint_eq(((const uint8_t *)b.t.data)[0], 0x6F);
    ck_assert_uint_eq(((const uint16_t *)b.t.scales)[0], 0x7BFF);
    qk_qbuf_free(&b);
}
END_TEST

/* Asymmetric, group 32, 2 × 64: s = f16((hi-lo)/15), zero = clamp(RNE(-lo/s), 0, 15),
 * code = clamp(RNE(x/s) + zero, 0, 15).
 * r0 g0: lo -3, hi 12 -> s = 1, zero 3: -3 -> 0, 12 -> 15, 0 -> 3, 0.5 -> 3, 1.5 -> 5,
 *        2.5 -> 5, -2.5 -> 1, 11.5 -> 15, 0 -> 3; bytes F0 33 55 F1 33…
 * r0 g1: lo -2.5, hi 12.5 -> s = 1, zero = RNE(2.5) = 2: -2.5 -> -2+2 = 0,
 *        12.5 -> 12+2 = 14, 0 -> 2; bytes E0 22…
 * r1 g0: positive only: lo = 0 -> zero 0, s = 1: 15 -> 15, 1 -> 1; bytes 1F 00…
 * r1 g1: all zero: s = 0, zero 0, codes 0. */
START_TEST(test_i4_asym_known) {
    float x[128] = {-3, 12, 0, 0.5f, 1.5f, 2.5f, -2.5f, 11.5f};
    x[32] = -2.5f, x[33] = 12.5f;
    x[64] = 15, x[65] = 1;
    uint8_t want_q[64];
    memset(want_q, 0x33, 16);
    memset(want_q + 16, 0x22, 16);
    memset(want_q + 32, 0x00, 32);
    want_q[0] = 0xF0, want_q[1] = 0x33, want_q[2] = 0x55, want_q[3] = 0xF1;
    want_q[16] = 0xE0;
    want_q[32] = 0x1F;
    static const uint16_t want_s[4] = {0x3C00, 0x3C00, 0x3C00, 0x0000};
    static const uint8_t want_z[4] = {3, 2, 0, 0};
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I4, 32, QKERN_QUANT_ASYMMETRIC}, 2, 64));
    quantize_into(&b, x);
    expect_bytes(b.t.data, want_q, sizeof want_q, "I4 asym data");
    expect_bytes(b.t.scales, want_s, sizeof want_s, "I4 asym scales");
    expect_bytes(b.t.zeros, want_z, sizeof want_z, "I4 asym zeros");
    /* (code - zero)·s */
    float y[128] = {-3, 12, 0, 0, 2, 2, -2, 12};
    y[32] = -2, y[33] = 12;
    y[64] = 15, y[65] = 1;
    dequant_expect(&b, y);
    qk_qbuf_free(&b);
}
END_TEST

/* Static I4: s = 0.5 (f16 0x3800, inv 2).
 * sym:  1 -> 2+8 = 10, -1 -> 6, 3.75 -> 7.5 -> 8 -> 7 -> 15, -5 -> -10 -> -8 -> 0: bytes 6A 0F
 * asym with zero 20 (outside 0..15, clamped to 15): 0 -> 15, 1 -> 2+15 -> 15,
 *      -7.5 -> -15+15 = 0, -10 -> -20+15 -> 0: bytes FF 00; deq (code-15)·0.5 = 0 0 -7.5 -7.5 */
START_TEST(test_i4_static) {
    const float xs[4] = {1, -1, 3.75f, -5};
    const uint16_t s = 0x3800;
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I4, QKERN_GROUP_ROW, QKERN_QUANT_STATIC_SCALES}, 1, 4));
    memcpy(b.t.scales, &s, 2);
    quantize_into(&b, xs);
    static const uint8_t want_sym[2] = {0x6A, 0x0F};
    expect_bytes(b.t.data, want_sym, 2, "I4 static sym");
    expect_bytes(b.t.scales, &s, 2, "I4 static scale (unchanged)");
    qk_qbuf_free(&b);

    const float xa[4] = {0, 1, -7.5f, -10};
    const uint8_t z = 20;
    ck_assert(qk_qbuf_alloc(&b,
                            (qkern_quant_desc){QKERN_I4, QKERN_GROUP_ROW,
                                               QKERN_QUANT_STATIC_SCALES | QKERN_QUANT_ASYMMETRIC},
                            1, 4));
    memcpy(b.t.scales, &s, 2);
    memcpy(b.t.zeros, &z, 1);
    quantize_into(&b, xa);
    static const uint8_t want_asym[2] = {0xFF, 0x00};
    expect_bytes(b.t.data, want_asym, 2, "I4 static asym");
    expect_bytes(b.t.zeros, &z, 1, "I4 static zero (unchanged)");
    const float y[4] = {0, 0, -7.5f, -7.5f};
    dequant_expect(&b, y);
    qk_qbuf_free(&b);
}
END_TEST

/* ---- the rules on random data: stored parameters and the round-trip bound ------------ */

typedef struct int_case {
    const char *label;
    qkern_quant_desc desc;
} int_case;

static const int_case int_cases[] = {
    {"I8 g32", {QKERN_I8, 32, 0}},
    {"I8 g64", {QKERN_I8, 64, 0}},
    {"I8 g128", {QKERN_I8, 128, 0}},
    {"I8 row", {QKERN_I8, QKERN_GROUP_ROW, 0}},
    {"I8_ASYM row", {QKERN_I8_ASYM, QKERN_GROUP_ROW, 0}},
    {"I8_ASYM tensor", {QKERN_I8_ASYM, QKERN_GROUP_TENSOR, 0}},
    {"I4 sym g32", {QKERN_I4, 32, 0}},
    {"I4 sym g64", {QKERN_I4, 64, 0}},
    {"I4 sym g128", {QKERN_I4, 128, 0}},
    {"I4 sym row", {QKERN_I4, QKERN_GROUP_ROW, 0}},
    {"I4 asym g32", {QKERN_I4, 32, QKERN_QUANT_ASYMMETRIC}},
    {"I4 asym g64", {QKERN_I4, 64, QKERN_QUANT_ASYMMETRIC}},
    {"I4 asym g128", {QKERN_I4, 128, QKERN_QUANT_ASYMMETRIC}},
    {"I4 asym row", {QKERN_I4, QKERN_GROUP_ROW, QKERN_QUANT_ASYMMETRIC}},
};
#define N_INT_CASES ((int)(sizeof int_cases / sizeof int_cases[0]))

enum { RR = 5, RC = 256 };

/* For every group: the stored scale (and zero) equal the rule evaluated here in plain C,
 * and every element whose scaled value lies inside the code range dequantises to within
 * s/2 (+ the two f32 roundings, |x|·2^-22); the others hold the end code. */
START_TEST(test_int_rules_random) {
    const int_case *c = &int_cases[_i % N_INT_CASES];
    const qk_pattern pat = (qk_pattern)(_i / N_INT_CASES);
    float *x = malloc(RR * RC * 4);
    qk_fill(x, RR * RC, pat, 4242 + (uint64_t)_i);
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, c->desc, RR, RC));
    quantize_into(&b, x);
    qk_guarded yb = qk_guarded_alloc(RR * RC * 4);
    qkern_context *ctx = qk_test_context(0);
    ck_assert_int_eq(qkern_dequantize(ctx, &b.t, yb.p, QKERN_F32, yb.size), QKERN_OK);
    ck_assert(qk_guard_ok(&yb));
    const float *y = yb.p;

    const int asym = (c->desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    const qkern_format f = c->desc.format;
    const int tensor = c->desc.group == QKERN_GROUP_TENSOR;
    const int64_t g = c->desc.group > 0 ? c->desc.group : RC;
    const int64_t gpr = RC / g;
    for (int64_t r = 0; r < RR; r++) {
        for (int64_t gi = 0; gi < gpr; gi++) {
            const float *xg = x + r * RC + gi * g;
            const int64_t n = tensor ? RR * RC : g;
            const float *xs = tensor ? x : xg;
            float amax = 0, lo = 0, hi = 0;
            for (int64_t k = 0; k < n; k++) {
                amax = fmaxf(amax, fabsf(xs[k]));
                lo = fminf(lo, xs[k]);
                hi = fmaxf(hi, xs[k]);
            }
            const size_t slot = tensor ? 0 : (size_t)(r * gpr + gi);
            float s, inv, off, qlo, qhi;
            int code_off = 0;
            if (f == QKERN_I8) {
                s = amax / 127;
                ck_assert_msg(((const float *)b.t.scales)[slot] == s, "%s: scale %zu", c->label, slot);
                off = 0, qlo = -127, qhi = 127;
            } else if (f == QKERN_I8_ASYM) {
                s = (hi - lo) / 255;
                if (s == 0) s = 1;
                const int32_t z = -128 - (int32_t)nearbyintf(lo * (1.0f / s));
                ck_assert_msg(((const float *)b.t.scales)[slot] == s, "%s: scale", c->label);
                ck_assert_msg(((const int32_t *)b.t.zeros)[slot] == z, "%s: zero %d want %d", c->label,
                              ((const int32_t *)b.t.zeros)[slot], z);
                off = (float)z, qlo = -128, qhi = 127;
                code_off = z;
            } else {
                const uint16_t h = f16_bits(asym ? (hi - lo) / 15 : 2 * amax / 15);
                ck_assert_msg(((const uint16_t *)b.t.scales)[slot] == h, "%s: f16 scale %zu 0x%04X want 0x%04X",
                              c->label, slot, ((const uint16_t *)b.t.scales)[slot], h);
                s = f16_value(h);
                if (asym) {
                    const float zf = s != 0 ? nearbyintf(-lo * (1.0f / s)) : 0.0f;
                    const uint8_t z = (uint8_t)fminf(fmaxf(zf, 0), 15);
                    ck_assert_msg(((const uint8_t *)b.t.zeros)[slot] == z, "%s: zero", c->label);
                    off = z;
                    code_off = z;
                } else {
                    off = 8;
                    code_off = 8;
                }
                qlo = 0, qhi = 15;
            }
            inv = s != 0 ? 1.0f / s : 0.0f;
            for (int64_t k = 0; k < g; k++) {
                const int64_t idx = r * RC + gi * g + k;
                const float v = xg[k] * inv + off, err = fabsf(y[idx] - xg[k]);
                if (s == 0 || (f == QKERN_I8_ASYM && amax == 0)) {
                    ck_assert_msg(y[idx] == 0.0f, "%s: all-zero group must give 0", c->label);
                } else if (v >= qlo - 0.5f && v <= qhi + 0.5f) {
                    ck_assert_msg(err <= 0.5f * s + fabsf(xg[k]) * 0x1p-22f,
                                  "%s %s r%lld k%lld: x=%.9g deq=%.9g err %.3g > s/2 = %.3g", c->label,
                                  qk_pattern_name(pat), (long long)r, (long long)(gi * g + k), xg[k], y[idx], err,
                                  0.5 * s);
                } else {
                    /* clipped: the end code of its side */
                    const float end = (float)((v < qlo ? qlo : qhi) - code_off) * s;
                    ck_assert_msg(y[idx] == end, "%s: clipped x=%.9g deq=%.9g want %.9g", c->label, xg[k], y[idx], end);
                }
            }
        }
    }
    qkern_context_destroy(ctx);
    qk_guarded_free(&yb);
    qk_qbuf_free(&b);
    free(x);
}
END_TEST

/* Quantising with the scales quantize itself wrote, passed back as static scales, gives
 * the same bytes (what a checkpoint round trip relies on). */
START_TEST(test_int_static_reproduces_dynamic) {
    const int_case *c = &int_cases[_i];
    float *x = malloc(RR * RC * 4);
    qk_fill(x, RR * RC, QK_PAT_GAUSS_OUTLIERS, 99 + (uint64_t)_i);
    qk_qbuf a, b;
    ck_assert(qk_qbuf_alloc(&a, c->desc, RR, RC));
    qkern_quant_desc sd = c->desc;
    sd.flags |= QKERN_QUANT_STATIC_SCALES;
    ck_assert(qk_qbuf_alloc(&b, sd, RR, RC));
    quantize_into(&a, x);
    memcpy(b.t.scales, a.t.scales, a.t.scales_bytes);
    if (a.t.zeros_bytes) memcpy(b.t.zeros, a.t.zeros, a.t.zeros_bytes);
    quantize_into(&b, x);
    ck_assert_msg(memcmp(a.t.data, b.t.data, a.t.data_bytes) == 0, "%s: static bytes differ", c->label);
    qk_qbuf_free(&a);
    qk_qbuf_free(&b);
    free(x);
}
END_TEST

static Suite *int_suite(void) {
    Suite *s = suite_create("quant_int");
    TCase *k = tcase_create("known_answers");
    tcase_add_test(k, test_i8_row_known);
    tcase_add_test(k, test_i8_group_known);
    tcase_add_test(k, test_i8_static);
    tcase_add_test(k, test_i8_asym_row_known);
    tcase_add_test(k, test_i8_asym_tensor_known);
    tcase_add_test(k, test_i8_asym_static);
    tcase_add_test(k, test_i4_sym_known);
    tcase_add_test(k, test_i4_sym_special);
    tcase_add_test(k, test_i4_asym_known);
    tcase_add_test(k, test_i4_static);
    suite_add_tcase(s, k);
    TCase *r = tcase_create("rules");
    tcase_set_timeout(r, 120);
    tcase_add_loop_test(r, test_int_rules_random, 0, N_INT_CASES * QK_PAT_COUNT);
    tcase_add_loop_test(r, test_int_static_reproduces_dynamic, 0, N_INT_CASES);
    suite_add_tcase(s, r);
    return s;
}

int main(void) { return qk_test_run(int_suite()); }
