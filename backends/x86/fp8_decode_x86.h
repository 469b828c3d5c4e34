/* FP8 codes to f32 and BF16 on AVX-512F/BW, exactly (every FP8 value is an f32 and a BF16:
 * at most 3 mantissa bits). Shared by the float-activation tiles (gemm_f32__avx512vnni.c)
 * and FP8 × FP8 (gemm_fp8__avx512bf16.c), whose packs hold FP8 bytes in c4 chunks: 64
 * bytes per 4 k of a panel, column j's k = 4c..4c+3 in dword lane j. */
#ifndef QK_BACKENDS_X86_FP8_DECODE_X86_H
#define QK_BACKENDS_X86_FP8_DECODE_X86_H

#include <immintrin.h>
#include <stdint.h>

/* Byte t of every dword lane of v as f32. finite: the pack holds no non-finite code. */
static inline __attribute__((always_inline)) __m512 qk_x86_fp8_lane_f32(__m512i v, int t, int e4m3, int finite) {
    if (finite) {
        /* Byte t at the top, then an arithmetic shift and a mask: S.EEEE.MMM lands as f32's
         * sign, exponent bits 26:23 and mantissa 22:20 (E5M2's S.EEEEE.MM as sign, 27:23,
         * 22:21), the value × 2^-120 (× 2^-112), subnormals included; one multiply restores
         * it. Four operations per 16 codes (three for the top byte) where the general decode
         * below takes ten. */
        const __m512i top = t == 3 ? v : _mm512_slli_epi32(v, 24 - 8 * t);
        const __m512i f = e4m3 ? _mm512_and_si512(_mm512_srai_epi32(top, 4), _mm512_set1_epi32((int)0x87F00000u))
                               : _mm512_and_si512(_mm512_srai_epi32(top, 3), _mm512_set1_epi32((int)0x8FE00000u));
        return _mm512_mul_ps(_mm512_castsi512_ps(f), _mm512_set1_ps(e4m3 ? 0x1p120f : 0x1p112f));
    }
    __m512i b = _mm512_and_si512(_mm512_srli_epi32(v, 8 * t), _mm512_set1_epi32(0xFF));
    __m512i sign = _mm512_slli_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x80)), 24);
    __m512i em = _mm512_and_si512(b, _mm512_set1_epi32(0x7F));
    __m512 f;
    __mmask16 special;
    if (e4m3) {
        /* eeee.mmm placed as an f32 exponent / mantissa is x·2^-120 (subnormals included). */
        f = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(em, 20)), _mm512_set1_ps(0x1p120f));
        special = _mm512_cmpeq_epi32_mask(em, _mm512_set1_epi32(0x7F)); /* S.1111.111 = NaN */
        f = _mm512_mask_mov_ps(f, special, _mm512_set1_ps(__builtin_nanf("")));
    } else {
        f = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(em, 21)), _mm512_set1_ps(0x1p112f));
        special = _mm512_cmpge_epi32_mask(em, _mm512_set1_epi32(0x7C)); /* exponent 11111: Inf / NaN */
        __mmask16 mant = _mm512_test_epi32_mask(em, _mm512_set1_epi32(3));
        __m512 infnan = _mm512_castsi512_ps(_mm512_mask_mov_epi32(_mm512_set1_epi32(0x7F800000), mant,
                                                                  _mm512_set1_epi32(0x7FC00000)));
        f = _mm512_mask_mov_ps(f, special, infnan);
    }
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(f), sign));
}

/* The word decode's constants (below), built once per tile. */
typedef struct qk_x86_fp8_words {
    __m512i mask, bias, nz;
} qk_x86_fp8_words;

static inline __attribute__((always_inline)) qk_x86_fp8_words qk_x86_fp8_words_init(int e4m3) {
    qk_x86_fp8_words W;
    W.mask = _mm512_set1_epi16((short)(e4m3 ? 0x87F0 : 0x8FE0));
    W.bias = _mm512_set1_epi16((short)(e4m3 ? 120 << 7 : 112 << 7));
    W.nz = _mm512_set1_epi16(0x7FFF);
    return W;
}

/* One c4 chunk of FP8 codes at src (64 bytes: 16 columns × 4 k) as the BF16 pairs of
 * vdpbf16ps: *p02 lane j = (k0, k2) of column j, *p13 = (k1, k3), the lower k in the low
 * half (the activation rows store each 4 k as x0, x2, x1, x3 to match). BF16 is f32's
 * top half, exact here.
 * The word decode (qk_x86_fp8_quad_words), for a chunk of normal codes and zeros only (no
 * subnormal, Inf or NaN): each code is widened in place in its own 16-bit lane. Word 0 of
 * a dword lane holds k1:k0 and word 1 k3:k2, so k1 and k3 already sit in the high halves
 * and k0, k2 get there by one 8-bit shift; an arithmetic shift and a mask then leave
 * S.EEEE.MMM (S.EEEEE.MM) as BF16's sign, low exponent bits and top mantissa bits, and
 * the exponent bias (+120, +112) is one add, skipped for ±0: 9 operations per 64 codes and
 * no shuffle, where the f32 route (qk_x86_fp8_quad_bf16) takes 19. Zen 4, one row × 2
 * panels in L1: 12.6 cycles per chunk against 14.3 for the (k0, k1) pairs, whose words
 * needed a byte shuffle each. */
static inline __attribute__((always_inline)) void qk_x86_fp8_quad_words(const uint8_t *src, int e4m3,
                                                                        const qk_x86_fp8_words *W, __m512i *p02,
                                                                        __m512i *p13) {
    const __m512i v = _mm512_loadu_si512(src);
    const int sh = e4m3 ? 4 : 3;
    __m512i a = _mm512_and_si512(_mm512_srai_epi16(_mm512_slli_epi16(v, 8), sh), W->mask);
    __m512i b = _mm512_and_si512(_mm512_srai_epi16(v, sh), W->mask);
    *p02 = _mm512_mask_add_epi16(a, _mm512_test_epi16_mask(a, W->nz), a, W->bias);
    *p13 = _mm512_mask_add_epi16(b, _mm512_test_epi16_mask(b, W->nz), b, W->bias);
}

/* Any chunk (finite: the pack holds no Inf / NaN), through f32; the same pairs. */
static inline __attribute__((always_inline)) void qk_x86_fp8_quad_bf16(const uint8_t *src, int e4m3, int finite,
                                                                       __m512i *p02, __m512i *p13) {
    const __m512i v = _mm512_loadu_si512(src);
    __m512i f[4];
    for (int t = 0; t < 4; t++) f[t] = _mm512_castps_si512(qk_x86_fp8_lane_f32(v, t, e4m3, finite));
    const __mmask32 odd = 0xAAAAAAAAu; /* the high word of each dword lane */
    *p02 = _mm512_mask_blend_epi16(odd, _mm512_srli_epi32(f[0], 16), f[2]);
    *p13 = _mm512_mask_blend_epi16(odd, _mm512_srli_epi32(f[1], 16), f[3]);
}

#endif
