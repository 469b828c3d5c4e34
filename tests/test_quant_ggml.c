/* ggml block formats Q8_0, Q8_1, Q4_0, Q4_1: known answers worked out by hand from the
 * format definition (llama.cpp's quantize_row_*_ref, docs/formats.md), through
 * the public qkern_quantize / qkern_dequantize, on a 2-row × 2-block tensor:
 *     row 0 = block A | block B,   row 1 = block C | block D (all zero).
 * The expected bytes below are literals; each comment shows the arithmetic. f16 values
 * are little-endian (low byte first), as in a GGUF file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/scalar/scalar.h"
#include "support/qk_test.h"

enum { ROWS = 2, COLS = 64 };

/* A block A shared by every format: x_j = j, j = 0..31. */
static void fill_ramp(float *x) {
    for (int j = 0; j < 32; j++) x[j] = (float)j;
}

/* Quantises x (ROWS × COLS) with desc on a context of `threads` threads; checks the bytes
 * against want and every sentinel; returns the buffer (caller frees). */
static qk_qbuf quant_expect(const float *x, qkern_format f, const uint8_t *want, size_t want_bytes, int threads) {
    qk_qbuf q;
    qkern_quant_desc d = {f, QKERN_GROUP_DEFAULT, 0};
    ck_assert(qk_qbuf_alloc(&q, d, ROWS, COLS));
    ck_assert_uint_eq(q.t.data_bytes, want_bytes);
    qkern_context *ctx = qk_test_context(threads);
    qkern_status s = qkern_quantize(ctx, x, QKERN_F32, (size_t)ROWS * COLS * 4, &q.t);
    ck_assert_msg(s == QKERN_OK, "quantize: %s", qkern_last_error());
    ck_assert_msg(qk_qbuf_guards_ok(&q), "sentinel overwritten");
    const uint8_t *got = q.t.data;
    for (size_t i = 0; i < want_bytes; i++)
        ck_assert_msg(got[i] == want[i], "byte %zu (row %zu, block %zu, offset %zu): got 0x%02X want 0x%02X", i,
                      i / (want_bytes / ROWS), (i % (want_bytes / ROWS)) / (want_bytes / (ROWS * 2)),
                      i % (want_bytes / (ROWS * 2)), got[i], want[i]);
    qkern_context_destroy(ctx);
    return q;
}

/* Dequantises q and compares bit for bit with want (ROWS × COLS floats), sentinels guarded. */
static void dequant_expect(qk_qbuf *q, const float *want) {
    qk_guarded y = qk_guarded_alloc((size_t)ROWS * COLS * 4);
    qkern_context *ctx = qk_test_context(0);
    ck_assert_int_eq(qkern_dequantize(ctx, &q->t, y.p, QKERN_F32, y.size), QKERN_OK);
    ck_assert(qk_guard_ok(&y));
    const float *got = y.p;
    for (int i = 0; i < ROWS * COLS; i++)
        ck_assert_msg(memcmp(&got[i], &want[i], 4) == 0, "element %d: got %.9g want %.9g", i, got[i], want[i]);
    qkern_context_destroy(ctx);
    qk_guarded_free(&y);
}

/* ---- Q8_0 ---------------------------------------------------------------------------
 * A: amax = 31, d = 31/127 = 0.24409449 -> f16 0x33D0 (1.953125·2^-3 = 0.244140625: the
 *    mantissa 0.95276·1024 = 975.6 rounds to 976 = 0x3D0, exponent -3+15 = 12 -> 0x3000).
 *    q_j = roundf(j·127/31): 0 4 8 12 16 20 25 29 33 37 41 45 49 53 57 61 66 70 74 78 82
 *    86 90 94 98 102 107 111 115 119 123 127 (no product is within 1/62 of a .5).
 * B: ties for roundf: amax = 127 -> d = 1.0 (f16 0x3C00), id = 1, so q = roundf(x), ties
 *    AWAY from zero: 2.5 -> 3, -2.5 -> -3, 0.5 -> 1, -0.5 -> -1, 1.5 -> 2, 126.5 -> 127.
 * C: x = ±1e-38 alternately: d = 1e-38/127 = 7.9e-41 (f32 subnormal) -> f16 0x0000;
 *    id = 1/d overflows to +Inf, x·id = ±Inf, and the cast of ±Inf gives 0 (x86-64's
 *    cvttss2si, qkern's rule): all codes 0.
 * D: all zero: d = 0, id = 0, codes 0. */
static const float q8_block_b[32] = {127, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, -1.5f, 126.5f, -127, 3};
static const int8_t q8_codes_a[32] = {0,  4,  8,  12, 16, 20,  25,  29,  33,  37,  41,  45,  49,  53,  57,  61,
                                      66, 70, 74, 78, 82, 86, 90, 94, 98, 102, 107, 111, 115, 119, 123, 127};
static const int8_t q8_codes_b[32] = {127, 3, -3, 1, -1, 2, -2, 127, -127, 3};

static void fill_q8_input(float *x) {
    memset(x, 0, (size_t)ROWS * COLS * 4);
    fill_ramp(x);
    memcpy(x + 32, q8_block_b, sizeof q8_block_b);
    for (int j = 0; j < 32; j++) x[64 + j] = (j & 1) ? -1e-38f : 1e-38f;
}

static void q8_dequant_want(float *y) {
    for (int j = 0; j < 32; j++) {
        y[j] = (float)q8_codes_a[j] * 0.244140625f;
        y[32 + j] = (float)q8_codes_b[j] * 1.0f;
        y[64 + j] = 0.0f;
        y[96 + j] = 0.0f;
    }
}

START_TEST(test_q8_0_known) {
    float x[ROWS * COLS];
    fill_q8_input(x);
    uint8_t want[4 * 34] = {0};
    /* block A at 0, B at 34, C at 68, D at 102: d (2 bytes LE) then 32 int8 codes */
    want[0] = 0xD0, want[1] = 0x33;
    memcpy(want + 2, q8_codes_a, 32);
    want[34] = 0x00, want[35] = 0x3C;
    memcpy(want + 36, q8_codes_b, 32);
    for (int threads = 1; threads <= 2; threads++) {
        qk_qbuf q = quant_expect(x, QKERN_Q8_0, want, sizeof want, threads);
        float y[ROWS * COLS];
        q8_dequant_want(y);
        dequant_expect(&q, y);
        qk_qbuf_free(&q);
    }
}
END_TEST

/* ---- Q8_1: Q8_0's d and codes, plus s = f16(d·Σq) (the sum of the stored codes times
 * the f32 d, as current llama.cpp computes it; not Σx).
 * A: Σq = 2032 (the list above), d·Σq = 2032·0.24409449 = 496.00000 -> f16 0x5FC0
 *    (496 = 1.9375·2^8: exponent 23 -> 0x5C00, mantissa 960 = 0x3C0).
 * B: Σq = 127+3-3+1-1+2-2+127-127+3 = 130, s = 130 -> f16 0x5810 (1.015625·2^7).
 * C, D: d = 0 (C: the f32 d is 7.9e-41, Σq = 0) -> s = 0. */
START_TEST(test_q8_1_known) {
    float x[ROWS * COLS];
    fill_q8_input(x);
    uint8_t want[4 * 36] = {0};
    want[0] = 0xD0, want[1] = 0x33, want[2] = 0xC0, want[3] = 0x5F;
    memcpy(want + 4, q8_codes_a, 32);
    want[36] = 0x00, want[37] = 0x3C, want[38] = 0x10, want[39] = 0x58;
    memcpy(want + 40, q8_codes_b, 32);
    qk_qbuf q = quant_expect(x, QKERN_Q8_1, want, sizeof want, 2);
    float y[ROWS * COLS];
    q8_dequant_want(y);
    dequant_expect(&q, y);
    qk_qbuf_free(&q);
}
END_TEST

/* ---- Q4_0 ---------------------------------------------------------------------------
 * code = MIN(15, (int8_t)(x·id + 8.5f)): truncation after +8.5, i.e. round half UP.
 * A: the first largest |x| is x_31 = 31 (positive), d = 31/-8 = -3.875 -> f16 0xC3C0
 *    (-1.9375·2^1), id = -8/31; code_j = floor(8.5 - 8j/31):
 *    j  0..15: 8 8 7 7 7 7 6 6 6 6 5 5 5 5 4 4,  j 16..31: 4 4 3 3 3 3 2 2 2 2 1 1 1 1 0 0
 *    byte j = code_j | code_{j+16} << 4: 48 48 37 37 37 37 26 26 26 26 15 15 15 15 04 04.
 * B: the largest |x| is -8 (negative): d = -8/-8 = 1.0 (0x3C00), id = 1, code = x + 8.5
 *    truncated: -8 -> 0, 8 -> 16 -> MIN 15, 0.5 -> 9, -0.5 -> 8, 1.5 -> 10, -1.5 -> 7,
 *    7 -> 15, 7.4 -> 15, 6.5 -> 15, -7.5 -> 1; zeros -> 8.
 *    bytes: (0|8<<4)=0x80 for x_0 and x_16 = 0 ... see the literal.
 * C: 4 and -4 tie on |x|; the FIRST (4) wins: d = 4/-8 = -0.5 (0xB800), id = -2:
 *    4 -> -8+8.5 -> 0, -4 -> 16.5 -> 15, 1 -> 6.5 -> 6, 0 -> 8.
 * D: all zero: max = 0, d = 0/-8 = -0.0 -> f16 0x8000, id = 0, every code 8 (0x88). */
static const float q4_0_block_b[32] = {-8, 8, 0.5f, -0.5f, 1.5f, -1.5f, 7, 7.4f, 6.5f, -7.5f};
static const uint8_t q4_0_codes_b[32] = {0, 15, 9, 8, 10, 7, 15, 15, 15, 1, 8, 8, 8, 8, 8, 8,
                                         8, 8,  8, 8, 8,  8, 8,  8,  8,  8, 8, 8, 8, 8, 8, 8};

START_TEST(test_q4_0_known) {
    float x[ROWS * COLS] = {0};
    fill_ramp(x);
    memcpy(x + 32, q4_0_block_b, sizeof q4_0_block_b);
    for (int j = 0; j < 32; j++) x[64 + j] = 1.0f;
    x[64] = 4.0f, x[65] = -4.0f, x[66] = 0.0f;
    static const uint8_t want[4 * 18] = {
        0xC0, 0xC3, 0x48, 0x48, 0x37, 0x37, 0x37, 0x37, 0x26, 0x26, 0x26, 0x26, 0x15, 0x15, 0x15, 0x15, 0x04, 0x04,
        /* B: byte j = code_j | code_{j+16}<<4, codes_{16..31} = 8 */
        0x00, 0x3C, 0x80, 0x8F, 0x89, 0x88, 0x8A, 0x87, 0x8F, 0x8F, 0x8F, 0x81, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
        /* C: codes 0, 15, 8, then 6 (x = 1) everywhere else; high nibbles all 6 */
        0x00, 0xB8, 0x60, 0x6F, 0x68, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
        0x00, 0x80, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
    qk_qbuf q = quant_expect(x, QKERN_Q4_0, want, sizeof want, 1);
    /* dequant = (code - 8)·d */
    static const int codes_a[32] = {8, 8, 7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4,
                                    4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0};
    float y[ROWS * COLS];
    for (int j = 0; j < 32; j++) {
        y[j] = (float)(codes_a[j] - 8) * -3.875f;
        y[32 + j] = (float)(q4_0_codes_b[j] - 8) * 1.0f;
        y[64 + j] = (float)((j == 0 ? 0 : j == 1 ? 15 : j == 2 ? 8 : 6) - 8) * -0.5f;
        y[96 + j] = 0.0f * -0.0f; /* (8-8)·(-0.0) = -0.0 */
    }
    dequant_expect(&q, y);
    qk_qbuf_free(&q);
}
END_TEST

/* ---- Q4_1 ---------------------------------------------------------------------------
 * d = (max-min)/15, m = min, code = MIN(15, (int8_t)((x-min)·id + 0.5f)) (round half up).
 * A: min 0, max 31: d = 31/15 = 2.0667 -> f16 0x4022 (1.033203125·2^1: mantissa
 *    0.0333·1024 = 34.1 -> 34 = 0x22), m = 0 (0x0000); code_j = floor(15j/31 + 0.5):
 *    j 0..15: 0 0 1 1 2 2 3 3 4 4 5 5 6 6 7 7, j 16..31: 8 8 9 9 10 10 11 11 ... 15 15.
 * B: min -1, max 14: d = 1 (0x3C00), m = -1 (0xBC00), code = trunc(x + 1.5):
 *    -1 -> 0, 14 -> 15, 0.5 -> 2, 1 -> 2, 0 -> 1, -0.5 -> 1, 13.5 -> 15, 3.25 -> 4.
 * C: constant 0.75: d = 0, id = 0, every code 0, m = 0.75 (0x3A00): dequant gives 0.75.
 * D: all zero: d = 0, m = 0, codes 0. */
START_TEST(test_q4_1_known) {
    float x[ROWS * COLS] = {0};
    fill_ramp(x);
    static const float b[32] = {-1, 14, 0.5f, 1, 0, -0.5f, 13.5f, 3.25f};
    memcpy(x + 32, b, sizeof b);
    for (int j = 0; j < 32; j++) x[64 + j] = 0.75f;
    static const uint8_t want[4 * 20] = {
        0x22, 0x40, 0x00, 0x00, 0x80, 0x80, 0x91, 0x91, 0xA2, 0xA2, 0xB3, 0xB3,
        0xC4, 0xC4, 0xD5, 0xD5, 0xE6, 0xE6, 0xF7, 0xF7,
        /* B: codes 0 15 2 2 1 1 15 4, then x = 0 -> 1; high nibbles (x_16.. = 0) -> 1 */
        0x00, 0x3C, 0x00, 0xBC, 0x10, 0x1F, 0x12, 0x12, 0x11, 0x11, 0x1F, 0x14,
        0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
        0x00, 0x00, 0x00, 0x3A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    qk_qbuf q = quant_expect(x, QKERN_Q4_1, want, sizeof want, 2);
    static const int codes_b[8] = {0, 15, 2, 2, 1, 1, 15, 4};
    float y[ROWS * COLS];
    for (int j = 0; j < 32; j++) {
        /* code·d + m, two roundings */
        const float pa = (float)(j < 16 ? j / 2 : 8 + (j - 16) / 2) * 2.06640625f;
        y[j] = pa + 0.0f;
        y[32 + j] = (float)(j < 8 ? codes_b[j] : 1) * 1.0f + -1.0f;
        y[64 + j] = 0.0f * 0.0f + 0.75f;
        y[96 + j] = 0.0f;
    }
    dequant_expect(&q, y);
    qk_qbuf_free(&q);
}
END_TEST

/* ---- special values (qkern's rule where llama.cpp's C is undefined or order-dependent) */

START_TEST(test_ggml_nan_inf) {
    /* Q8_0 with NaN first and last: NaN never enters amax (d = 1 from the 127), and its
     * code is 0. llama.cpp's MAX() would make amax NaN when the NaN comes last. */
    float x[32] = {0};
    x[0] = NAN, x[1] = 127, x[2] = 2.5f, x[31] = NAN;
    qk_block_q8_0 b8;
    qk_quantize_row_q8_0__scalar(x, &b8, 32);
    ck_assert_uint_eq(b8.d, 0x3C00);
    ck_assert_int_eq(b8.qs[0], 0);
    ck_assert_int_eq(b8.qs[1], 127);
    ck_assert_int_eq(b8.qs[2], 3);
    ck_assert_int_eq(b8.qs[31], 0);

    /* +Inf: amax = Inf, d = Inf (f16 0x7C00), id = 1/Inf = 0: finite x·0 = 0 -> 0, and
     * Inf·0 = NaN -> 0. Q8_1's s = f16(0·Inf) = NaN, stored as x86-64's 0xFE00. */
    memset(x, 0, sizeof x);
    x[3] = INFINITY, x[4] = 5.0f, x[5] = -7.0f;
    qk_quantize_row_q8_0__scalar(x, &b8, 32);
    ck_assert_uint_eq(b8.d, 0x7C00);
    for (int j = 0; j < 32; j++) ck_assert_int_eq(b8.qs[j], 0);
    qk_block_q8_1 b81;
    qk_quantize_row_q8_1__scalar(x, &b81, 32);
    ck_assert_uint_eq(b81.d, 0x7C00);
    ck_assert_uint_eq(b81.s, 0xFE00);

    /* Q4_0: NaN is skipped by `amax < |v|` (as in llama.cpp), its code is the cast of NaN
     * = 0. Largest finite |x| = -8 at index 2 -> d = 1; 3 -> 11. */
    memset(x, 0, sizeof x);
    x[0] = NAN, x[1] = 3.0f, x[2] = -8.0f, x[16] = NAN;
    qk_block_q4_0 b4;
    qk_quantize_row_q4_0__scalar(x, &b4, 32);
    ck_assert_uint_eq(b4.d, 0x3C00);
    ck_assert_uint_eq(b4.qs[0], 0x00); /* NaN | NaN<<4 */
    ck_assert_uint_eq(b4.qs[1], 0x8B); /* 3 -> 11, x_17 = 0 -> 8 */
    ck_assert_uint_eq(b4.qs[2], 0x80); /* -8 -> 0 */

    /* Q4_1: NaN skipped for min/max (min -1, max 14 -> d = 1, m = -1), code 0 (deq = m). */
    memset(x, 0, sizeof x);
    x[0] = -1, x[1] = 14, x[2] = NAN;
    qk_block_q4_1 b41;
    qk_quantize_row_q4_1__scalar(x, &b41, 32);
    ck_assert_uint_eq(b41.d, 0x3C00);
    ck_assert_uint_eq(b41.m, 0xBC00);
    ck_assert_uint_eq(b41.qs[0], 0x10);
    ck_assert_uint_eq(b41.qs[1], 0x1F);
    ck_assert_uint_eq(b41.qs[2], 0x10);
}
END_TEST

START_TEST(test_ggml_tiny_blocks) {
    /* A block so small that 1/d overflows: max = -20·2^-149 (an f32 subnormal),
     * d = max/-8 = 2.5·2^-149 -> 2·2^-149 (RNE), id = 2^148 = +Inf in f32. Then
     * x_0·id + 8.5 = -Inf and 0·id = NaN: both casts give 0 (x86-64's cvttss2si, qkern's
     * rule), so every byte is 0x00, and d = f16(2^-148) = 0x0000. */
    float x[32] = {0};
    x[0] = -20 * 0x1p-149f;
    qk_block_q4_0 b;
    qk_quantize_row_q4_0__scalar(x, &b, 32);
    ck_assert_uint_eq(b.d, 0x0000);
    for (int j = 0; j < 16; j++) ck_assert_uint_eq(b.qs[j], 0x00);
    /* Q4_1 alike: min = -20·2^-149, max = 0, d = (20/15)·2^-149 -> 2^-149, id = +Inf;
     * (x - min)·id is +Inf or NaN (x = min): all codes 0, m = f16(min) = -0 (0x8000). */
    qk_block_q4_1 b1;
    qk_quantize_row_q4_1__scalar(x, &b1, 32);
    ck_assert_uint_eq(b1.d, 0x0000);
    ck_assert_uint_eq(b1.m, 0x8000);
    for (int j = 0; j < 16; j++) ck_assert_uint_eq(b1.qs[j], 0x00);
}
END_TEST

/* The tensor path handles rows that are not 2-byte aligned (a row at an odd offset of a
 * mapping) with the same bytes. */
START_TEST(test_ggml_unaligned) {
    static const qkern_format fs[] = {QKERN_Q8_0, QKERN_Q8_1, QKERN_Q4_0, QKERN_Q4_1};
    qkern_context *ctx = qk_test_context(1);
    float x[3 * 64];
    qk_fill(x, 3 * 64, QK_PAT_GAUSS_OUTLIERS, 7);
    for (int i = 0; i < 4; i++) {
        qk_qbuf a;
        ck_assert(qk_qbuf_alloc(&a, (qkern_quant_desc){fs[i], QKERN_GROUP_DEFAULT, 0}, 3, 64));
        ck_assert_int_eq(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &a.t), QKERN_OK);
        qk_guarded odd = qk_guarded_alloc(a.t.data_bytes + 1);
        qkern_qtensor t = a.t;
        t.data = (unsigned char *)odd.p + 1;
        t.data_bytes = a.t.data_bytes;
        ck_assert_int_eq(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &t), QKERN_OK);
        ck_assert(memcmp(t.data, a.t.data, a.t.data_bytes) == 0);
        ck_assert(qk_guard_ok(&odd) && qk_qbuf_guards_ok(&a));
        float y0[3 * 64], y1[3 * 64];
        ck_assert_int_eq(qkern_dequantize(ctx, &a.t, y0, QKERN_F32, sizeof y0), QKERN_OK);
        ck_assert_int_eq(qkern_dequantize(ctx, &t, y1, QKERN_F32, sizeof y1), QKERN_OK);
        ck_assert(memcmp(y0, y1, sizeof y0) == 0);
        qk_guarded_free(&odd);
        qk_qbuf_free(&a);
    }
    qkern_context_destroy(ctx);
}
END_TEST

/* The tensor path is the row reference applied row by row (what other backends and the
 * matmul front end call directly). */
START_TEST(test_ggml_rows_match_row_functions) {
    enum { R = 5, K = 96 };
    float x[R * K];
    qk_fill(x, R * K, QK_PAT_UNIFORM, 11);
    qkern_context *ctx = qk_test_context(0);
    qk_qbuf q;
    ck_assert(qk_qbuf_alloc(&q, (qkern_quant_desc){QKERN_Q4_1, QKERN_GROUP_DEFAULT, 0}, R, K));
    ck_assert_int_eq(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &q.t), QKERN_OK);
    qk_block_q4_1 rows[R * K / 32];
    for (int r = 0; r < R; r++) qk_quantize_row_q4_1__scalar(x + r * K, rows + r * (K / 32), K);
    ck_assert(memcmp(rows, q.t.data, sizeof rows) == 0);
    qk_qbuf_free(&q);
    qkern_context_destroy(ctx);
}
END_TEST

static Suite *ggml_suite(void) {
    Suite *s = suite_create("quant_ggml");
    TCase *tc = tcase_create("known_answers");
    tcase_add_test(tc, test_q8_0_known);
    tcase_add_test(tc, test_q8_1_known);
    tcase_add_test(tc, test_q4_0_known);
    tcase_add_test(tc, test_q4_1_known);
    suite_add_tcase(s, tc);
    TCase *sp = tcase_create("special");
    tcase_add_test(sp, test_ggml_nan_inf);
    tcase_add_test(sp, test_ggml_tiny_blocks);
    tcase_add_test(sp, test_ggml_unaligned);
    tcase_add_test(sp, test_ggml_rows_match_row_functions);
    suite_add_tcase(s, sp);
    return s;
}

int main(void) { return qk_test_run(ggml_suite()); }
