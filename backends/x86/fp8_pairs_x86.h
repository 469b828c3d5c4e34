/* FP8 × FP8 weights, packed as FP8 bytes in k pairs (QK_X86_FP8_PAIRS: 32 bytes per pair
 * of k, column j at bytes 2j and 2j + 1) and widened to the BF16 pairs of vdpbf16ps in
 * registers: half the bytes of packing them as BF16. Both formats go through f16 exactly:
 * E5M2 is f16's top byte; E4M3's S.EEEE.MMM moved to f16's S.0EEEE.MMM is the value × 2^-8
 * (subnormals included; the 2^8 goes into the output scale); an E4M3 NaN (S.1111.111) would
 * read as 480·2^-8, so a pack holding one (fp8_nan) patches it to NaN. f16 → f32 is exact,
 * and so is f32 → BF16 by the top half: no FP8 value has more than 3 mantissa bits. */
#ifndef QK_BACKENDS_X86_FP8_PAIRS_X86_H
#define QK_BACKENDS_X86_FP8_PAIRS_X86_H

#include <immintrin.h>
#include <stdint.h>

/* 32 FP8 weight bytes at src → 32 BF16 in the same order (E4M3: × 2^-8). */
static inline __attribute__((always_inline)) __m512i qk_x86_fp8_pairs_bf16(const uint8_t *src, int e4m3, int nan) {
    static const uint16_t top_halves[32] = {1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
                                            33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63};
    const __m256i b = _mm256_loadu_si256((const __m256i *)src);
    __m512i h;
    if (e4m3) {
        /* sign-extended word << 7: the sign lands in bits 15 and 14, 14 cleared */
        const __m512i s = _mm512_cvtepi8_epi16(b);
        h = _mm512_and_si512(_mm512_slli_epi16(s, 7), _mm512_set1_epi16((short)0xBFFF));
        if (nan) {
            const __m512i mag = _mm512_and_si512(s, _mm512_set1_epi16(0x7F));
            h = _mm512_mask_mov_epi16(h, _mm512_cmpeq_epi16_mask(mag, _mm512_set1_epi16(0x7F)),
                                      _mm512_set1_epi16(0x7E00));
        }
    } else {
        h = _mm512_slli_epi16(_mm512_cvtepu8_epi16(b), 8);
    }
    const __m512 lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
    const __m512 hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
    return _mm512_permutex2var_epi16(_mm512_castps_si512(lo), _mm512_loadu_si512(top_halves),
                                     _mm512_castps_si512(hi));
}

#endif
