/* Integer formats I8, I8_ASYM and I4: constants, scale rules and the element rounding,
 * shared by every backend so that their bytes are identical to the scalar reference.
 * docs/formats.md states each format in full; the short version:
 *
 *   I8       int8 codes in [-127, 127], one f32 scale per row or per group of g:
 *              s = amax/127, inv = 1/s, q = clamp(RNE(x·inv), -127, 127), deq = q·s
 *   I8_ASYM  int8 codes in [-128, 127] + an i32 zero point, f32 scale per row or tensor:
 *              lo = min(min x, 0), hi = max(max x, 0), s = (hi-lo)/255, inv = 1/s,
 *              z = clamp(-128 - RNE(lo·inv), -128, 127),
 *              q = clamp(RNE(x·inv) + z, -128, 127), deq = (q - z)·s
 *   I4       4-bit codes, element 2i in the low nibble of byte i, f16 scale per group:
 *              sym:  s = f16(2·amax/15), q = clamp(RNE(x·inv) + 8, 0, 15), deq = (q-8)·s
 *              asym: s = f16((hi-lo)/15), zero = clamp(RNE(-lo·inv), 0, 15) (one u8),
 *                    q = clamp(RNE(x·inv) + zero, 0, 15), deq = (q-zero)·s
 *            with inv = 1/s computed from the f16-ROUNDED scale widened to f32, so the
 *            codes agree with the scale that is stored.
 *
 * Every product is one f32 multiply x·inv (never a division), rounded to nearest, ties
 * to even (RNE, nearbyintf in the default rounding mode; _mm512_cvtps_epi32 and
 * vcvtnq_s32_f32 under the default MXCSR / FPCR). A SIMD kernel reproduces the rule by
 * computing the per-group parameters with the helpers below and, per element:
 * v = x·inv; v = 0 where v is NaN; clamp v to [lo, hi] in f32; round; add the offset.
 *
 * Special values (decided here, the same on every backend):
 *   - amax, lo and hi are taken over the FINITE elements only (NaN and ±Inf ignored);
 *   - a NaN product (a NaN input, or ±Inf times inv = 0) gives the zero point's code
 *     (0 for I8, z for I8_ASYM, 8 / zero for I4), so it dequantises to exactly 0;
 *   - ±Inf with inv > 0 saturates to the end code of its sign;
 *   - an all-zero (or all-non-finite) group: I8 and I4 store s = 0 and every code is the
 *     zero point; I8_ASYM, whose scale is a divisor in static requantisation, stores s = 1
 *     and z = -128 (all codes -128). Both dequantise to exactly 0;
 *   - a group so small that 1/s overflows f32 (amax < ~3.7e-37 for I8) is treated as
 *     all-zero (I8: s = 0; I8_ASYM: s = 1), the error being below 1e-36;
 *   - I4 scales saturate at the largest finite f16 (65504) instead of becoming Inf; a
 *     scale that rounds to f16 0 (2·amax/15 or (hi-lo)/15 <= 2^-25, i.e. amax <= ~2.2e-7
 *     for sym) is 0, and the group is all zero point; f16-subnormal scales are kept;
 *   - denormal inputs are ordinary IEEE values (the library never sets FTZ/DAZ; a caller
 *     who does gets what its FP environment computes, on every backend alike);
 *   - static scales / zeros (QKERN_QUANT_STATIC_SCALES) are used as given, except that a
 *     scale whose reciprocal is not a finite non-zero f32 gives inv = 0 (all codes the
 *     zero point) and a zero point outside its code range is clamped into it
 *     ([-128, 127] for I8_ASYM, [0, 15] for I4), for quantise and dequantise alike.
 *
 * Everything is static inline (no libm call), so ISA-flagged translation units get
 * private copies. */
#ifndef QK_FORMAT_INT_H
#define QK_FORMAT_INT_H

#include <float.h>
#include <stdint.h>

#include "kernels/format_half.h"

#define QK_I8_QMAX 127           /* I8: symmetric [-127, 127]; -128 never produced */
#define QK_I8_ASYM_QMIN (-128)
#define QK_I8_ASYM_QMAX 127
#define QK_I4_QMAX 15
#define QK_I4_SYM_OFFSET 8       /* I4 sym: code = q + 8, q in [-8, 7] */
#define QK_F16_MAX_BITS 0x7bffu  /* 65504 */

/* Round to nearest, ties to even, without libm or branches: adding and removing 2^23
 * with v's sign leaves the integer the FPU rounded to (default rounding mode). Exact for
 * |v| <= 2^22, which every caller guarantees by clamping first. */
static inline float qk_int_rne(float v) {
    const float m = qk_bits_f32(qk_f32_bits(0x1p23f) | (qk_f32_bits(v) & 0x80000000u));
    return (v + m) - m;
}

/* The element rule's core: NaN -> 0, clamp to [lo, hi] (integers, |·| <= 2^22), RNE. */
static inline int32_t qk_int_code(float v, float lo, float hi) {
    v = v == v ? v : 0.0f;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int32_t)qk_int_rne(v);
}

/* inv = 1/s when that is a finite non-zero f32, else 0 (s = 0, ±Inf, NaN, or so small
 * that the reciprocal overflows). */
static inline float qk_int_inv(float s) {
    const float inv = 1.0f / s;
    return (inv != 0.0f && inv - inv == 0.0f) ? inv : 0.0f;
}

/* max |x| over the finite elements; 0 if there are none. */
static inline float qk_int_amax(const float *x, int64_t n) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float a = x[i] < 0.0f ? -x[i] : x[i];
        if (a <= FLT_MAX && a > amax) amax = a;
    }
    return amax;
}

/* min / max over the finite elements, with 0 included (so 0 is always representable). */
static inline void qk_int_range(const float *x, int64_t n, float *lo, float *hi) {
    float l = 0.0f, h = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        if (v < l && v >= -FLT_MAX) l = v;
        if (v > h && v <= FLT_MAX) h = v;
    }
    *lo = l;
    *hi = h;
}

/* ---- I8 ---------------------------------------------------------------------------- */

static inline void qk_i8_params(float amax, float *s, float *inv) {
    *s = amax / (float)QK_I8_QMAX;
    *inv = qk_int_inv(*s);
    if (*inv == 0.0f) *s = 0.0f;
}

static inline int8_t qk_i8_quant(float x, float inv) {
    return (int8_t)qk_int_code(x * inv, -(float)QK_I8_QMAX, (float)QK_I8_QMAX);
}

/* ---- I8_ASYM ----------------------------------------------------------------------- */

static inline int32_t qk_i8_asym_zero(int32_t z) {
    return z < QK_I8_ASYM_QMIN ? QK_I8_ASYM_QMIN : z > QK_I8_ASYM_QMAX ? QK_I8_ASYM_QMAX : z;
}

/* lo <= 0 <= hi, finite. */
static inline void qk_i8_asym_params(float lo, float hi, float *s, float *inv, int32_t *z) {
    float sc = (hi - lo) / 255.0f;
    /* hi - lo above FLT_MAX: the same quotient, reached without the overflowing sum. */
    if (sc - sc != 0.0f) sc = hi / 255.0f - lo / 255.0f;
    float iv = qk_int_inv(sc);
    if (iv == 0.0f) { sc = 1.0f; iv = 1.0f; }
    *s = sc;
    *inv = iv;
    *z = qk_i8_asym_zero(QK_I8_ASYM_QMIN - qk_int_code(lo * iv, -256.0f, 256.0f));
}

/* z already in [-128, 127]; clamping v to ±256 first cannot change the clamped sum. */
static inline int8_t qk_i8_asym_quant(float x, float inv, int32_t z) {
    const int32_t q = qk_int_code(x * inv, -256.0f, 256.0f) + z;
    return (int8_t)(q < QK_I8_ASYM_QMIN ? QK_I8_ASYM_QMIN : q > QK_I8_ASYM_QMAX ? QK_I8_ASYM_QMAX : q);
}

/* ---- I4 ---------------------------------------------------------------------------- */

/* f16 RNE, but an overflow to Inf saturates at ±65504 (a scale must stay finite). */
static inline uint16_t qk_i4_scale_f16(float s) {
    uint16_t h = qk_f32_to_f16(s);
    if ((h & 0x7fffu) == 0x7c00u) h = (uint16_t)((h & 0x8000u) | QK_F16_MAX_BITS);
    return h;
}

static inline uint16_t qk_i4_sym_scale(float amax) { return qk_i4_scale_f16(2.0f * amax / 15.0f); }

static inline uint16_t qk_i4_asym_scale(float lo, float hi) { return qk_i4_scale_f16((hi - lo) / 15.0f); }

static inline uint8_t qk_i4_zero(uint8_t zero) { return zero > QK_I4_QMAX ? QK_I4_QMAX : zero; }

/* lo <= 0 finite; inv from the stored f16 scale. */
static inline uint8_t qk_i4_asym_zero_for(float lo, float inv) {
    return (uint8_t)qk_int_code(-lo * inv, 0.0f, (float)QK_I4_QMAX);
}

static inline uint8_t qk_i4_sym_quant(float x, float inv) {
    return (uint8_t)(qk_int_code(x * inv, -8.0f, 7.0f) + QK_I4_SYM_OFFSET);
}

/* zero already in [0, 15]; clamping v to ±32 first cannot change the clamped sum. */
static inline uint8_t qk_i4_asym_quant(float x, float inv, uint8_t zero) {
    const int32_t q = qk_int_code(x * inv, -32.0f, 32.0f) + zero;
    return (uint8_t)(q < 0 ? 0 : q > QK_I4_QMAX ? QK_I4_QMAX : q);
}

#endif
