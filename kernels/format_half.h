/* IEEE binary16 and bfloat16 <-> binary32, bit-exact, round to nearest even.
 *
 * f32 -> f16 follows the classic exponent-rebias trick (as F16C's vcvtps2ph with
 * imm 0 / RNE): |x| >= 65520 -> Inf, f16 subnormals rounded by an FP add against
 * 0.5f, NaN stays NaN with its top payload bits and the quiet bit set.
 * f32 -> bf16 rounds the low 16 bits to nearest even; NaN is quietened, never
 * rounded into Inf. These are static inline so every backend (ISA-flagged TUs
 * included) gets its own private copy. */
#ifndef QK_FORMAT_HALF_H
#define QK_FORMAT_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t qk_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float qk_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static inline float qk_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        float f = (float)m * 0x1p-24f; /* exact: m < 2^10 */
        return qk_bits_f32(qk_f32_bits(f) | sign);
    }
    /* Inf, or NaN made quiet with its payload kept (as vcvtph2ps: a signalling f16 NaN
     * must not come out as a signalling f32 NaN). */
    if (e == 31) return qk_bits_f32(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u));
    return qk_bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

static inline uint16_t qk_f32_to_f16(float f) {
    uint32_t x = qk_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); /* NaN, quiet */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);                         /* >= 65520: Inf */
    if (ax < 0x38800000u) {                                                           /* < 2^-14: subnormal */
        float a = qk_bits_f32(ax) + 0.5f; /* the FPU rounds to the 2^-24 grid, RNE */
        return (uint16_t)(sign | (uint16_t)(qk_f32_bits(a) - 0x3f000000u));
    }
    uint32_t odd = (ax >> 13) & 1u;
    ax += 0xc8000fffu + odd; /* rebias 127 -> 15 and round to nearest even */
    return (uint16_t)(sign | (uint16_t)(ax >> 13));
}

static inline float qk_bf16_to_f32(uint16_t h) { return qk_bits_f32((uint32_t)h << 16); }

static inline uint16_t qk_f32_to_bf16(float f) {
    uint32_t x = qk_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* NaN, quiet */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

#endif
