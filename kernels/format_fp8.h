/* OCP OFP8 (v1.0) E4M3FN and E5M2 <-> binary32, bit-exact; the scaled FP8 quantiser rule.
 *
 * Codes (S = sign bit 7):
 *   E4M3FN  S.EEEE.MMM  bias 7   normal (1+M/8)·2^(E-7), E = 1..15 except S.1111.111
 *                                subnormal (M/8)·2^-6 (E = 0; min 2^-9), max S.1111.110 = 448
 *                                NaN S.1111.111 (0x7F / 0xFF), no infinities
 *   E5M2    S.EEEEE.MM   bias 15 normal (1+M/4)·2^(E-15), E = 1..30
 *                                subnormal (M/4)·2^-14 (E = 0; min 2^-16), max S.11110.11 = 57344
 *                                Inf S.11111.00, NaN S.11111.{01,10,11}
 *
 * f32 -> fp8 (qk_f32_to_e4m3 / qk_f32_to_e5m2):
 *   - round to nearest, ties to even, on the exact f32 value, in the subnormal and normal
 *     ranges alike (a carry out of the mantissa moves to the next binade, so the largest
 *     subnormal / smallest normal boundary needs no special case); half the minimum
 *     subnormal rounds to ±0 (0 is even); the sign of zero and of underflow is kept.
 *   - "overflow" = the value rounds (RNE) above max: |x| > 464 for E4M3 (464 is the tie
 *     between 448 = 1.110b·2^8 and the missing 480 = 1.111b·2^8, and goes to the even 448);
 *     |x| >= 61440 for E5M2 (the tie between 57344 = 1.11b·2^15 and 2^16 goes to the even
 *     2^16, i.e. out of range, exactly as binary16 overflows at 65520).
 *   - saturate != 0 (the default, NVIDIA's __NV_SATFINITE): overflow and ±Inf give ±max.
 *     saturate == 0 (QKERN_QUANT_FP8_NO_SATURATE): overflow and ±Inf give S.1111.111 (NaN)
 *     for E4M3, ±Inf for E5M2.
 *   - NaN input gives 0x7F in both formats (sign dropped), as NVIDIA's cuda_fp8.h host
 *     path does (it canonicalises the NaN before converting).
 * fp8 -> f32 is exact (every FP8 value is an f32); NaN codes give a quiet f32 NaN with the
 * code's sign, E5M2 Inf gives ±Inf.
 *
 * The scaled quantiser (qkern FP8_E4M3 / FP8_E5M2, scale per tensor or per row, f32):
 *   scale = qk_fp8_scale_for_amax(amax over the finite |x|, FMAX), inv = 1.0f / scale (f32),
 *   q = fp8(x * inv) (the product rounded to f32 first), dequant = f32(q) * scale.
 *
 * Everything is static inline so every backend (ISA-flagged translation units included)
 * gets a private copy and no libm call. */
#ifndef QK_FORMAT_FP8_H
#define QK_FORMAT_FP8_H

#include <float.h>
#include <stdint.h>
#include <string.h>

#include "qkern/format.h"

#define QK_FP8_E4M3_MAX 448.0f
#define QK_FP8_E5M2_MAX 57344.0f
#define QK_FP8_E4M3_NAN 0x7Fu   /* the NaN the encoder produces */
#define QK_FP8_E5M2_NAN 0x7Fu
#define QK_FP8_E5M2_INF 0x7Cu

static inline uint32_t qk_fp8_bits_(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float qk_fp8_float_(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* The encoders are branch-free so that element loops vectorise and random data costs no
 * mispredictions. Normal range: round the f32 bit pattern to the FP8 mantissa width
 * (add half an FP8 ulp minus one, plus the kept lsb: ties to even; a mantissa carry moves
 * into the exponent), then rebias the exponent. Below the smallest normal: add 2^k with
 * ulp(2^k) = the smallest FP8 subnormal (k = 14 for E4M3, 7 for E5M2), so the FPU's own
 * RNE rounds |x| onto the subnormal grid, and read the grid index off the sum's bits
 * (index 2^mbits is exactly the smallest normal's code). Checked against a plain
 * field-by-field encoder on all 2^32 f32 inputs, both formats, both modes. */
static inline uint8_t qk_f32_to_e4m3(float x, int saturate) {
    const uint32_t u = qk_fp8_bits_(x), sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
    const uint32_t normal = ((a + 0x7ffffu + ((a >> 20) & 1u)) >> 20) - (120u << 3); /* 127 - 7 = 120 */
    const uint32_t sub = qk_fp8_bits_(qk_fp8_float_(a) + 0x1p14f) - 0x46800000u;
    uint32_t code = a < 0x3c800000u ? sub : normal;                /* |x| < 2^-6 */
    if (a > 0x43e80000u) code = saturate ? 0x7Eu : 0x7Fu;         /* |x| > 464, ±Inf */
    return (uint8_t)(a > 0x7f800000u ? 0x7Fu : code | sign);      /* NaN: 0x7F, sign dropped */
}

static inline uint8_t qk_f32_to_e5m2(float x, int saturate) {
    const uint32_t u = qk_fp8_bits_(x), sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
    const uint32_t normal = ((a + 0xfffffu + ((a >> 21) & 1u)) >> 21) - (112u << 2); /* 127 - 15 = 112 */
    const uint32_t sub = qk_fp8_bits_(qk_fp8_float_(a) + 0x1p7f) - 0x43000000u;
    uint32_t code = a < 0x38800000u ? sub : normal;                     /* |x| < 2^-14 */
    if (a >= 0x47700000u) code = saturate ? 0x7Bu : QK_FP8_E5M2_INF;    /* |x| >= 61440, ±Inf */
    return (uint8_t)(a > 0x7f800000u ? 0x7Fu : code | sign);
}

static inline float qk_e4m3_to_f32(uint8_t b) {
    const uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    const uint32_t e = (b >> 3) & 0xfu, m = b & 0x7u;
    if (e == 0xfu && m == 0x7u) return qk_fp8_float_(sign | 0x7fc00000u);
    if (e == 0) return qk_fp8_float_(qk_fp8_bits_((float)m * 0x1p-9f) | sign); /* exact: m < 8 */
    return qk_fp8_float_(sign | ((e + 120u) << 23) | (m << 20));
}

static inline float qk_e5m2_to_f32(uint8_t b) {
    const uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    const uint32_t e = (b >> 2) & 0x1fu, m = b & 0x3u;
    if (e == 0x1fu) return qk_fp8_float_(sign | (m ? 0x7fc00000u : 0x7f800000u));
    if (e == 0) return qk_fp8_float_(qk_fp8_bits_((float)m * 0x1p-16f) | sign);
    return qk_fp8_float_(sign | ((e + 112u) << 23) | (m << 21));
}

/* f is QKERN_FP8_E4M3 or QKERN_FP8_E5M2. */
static inline uint8_t qk_f32_to_fp8(float x, qkern_format f, int saturate) {
    return f == QKERN_FP8_E5M2 ? qk_f32_to_e5m2(x, saturate) : qk_f32_to_e4m3(x, saturate);
}
static inline float qk_fp8_to_f32(uint8_t b, qkern_format f) {
    return f == QKERN_FP8_E5M2 ? qk_e5m2_to_f32(b) : qk_e4m3_to_f32(b);
}
static inline float qk_fp8_max(qkern_format f) { return f == QKERN_FP8_E5M2 ? QK_FP8_E5M2_MAX : QK_FP8_E4M3_MAX; }

/* All 256 decoded values, for table-driven dequantisers. */
static inline void qk_fp8_decode_table(qkern_format f, float table[256]) {
    for (int i = 0; i < 256; i++) table[i] = qk_fp8_to_f32((uint8_t)i, f);
}

/* The scale of a tensor or row whose largest finite |x| is amax: amax / fmax in f32, 1 when
 * amax is 0 (all zeros, or nothing finite). Clamped below at FLT_MIN: for amax under
 * fmax·2^-126 the quotient would be subnormal and 1/scale could overflow to Inf (then
 * 0·Inf = NaN codes); with FLT_MIN every |x| ≤ amax still maps below fmax. */
static inline float qk_fp8_scale_for_amax(float amax, float fmax) {
    if (!(amax > 0.0f)) return 1.0f;
    const float s = amax / fmax;
    return s < FLT_MIN ? FLT_MIN : s;
}

/* max |x| over the finite elements (NaN and ±Inf ignored); 0 if there are none.
 * Non-negative floats order as their bit patterns do, so this is an integer max over
 * |x|'s bits with Inf / NaN (bits above FLT_MAX's) read as 0: the same result as a float
 * compare loop, and a reduction compilers vectorise (the float one they may not reorder),
 * which matters for the one-pass per-tensor scale over a whole weight matrix. */
static inline float qk_fp8_amax_finite(const float *x, size_t n) {
    int32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const int32_t b = (int32_t)(qk_fp8_bits_(x[i]) & 0x7fffffffu);
        const int32_t f = b <= 0x7f7fffff ? b : 0;
        m = f > m ? f : m;
    }
    return qk_fp8_float_((uint32_t)m);
}

#endif
