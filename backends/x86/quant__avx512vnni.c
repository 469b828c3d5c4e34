/* Quantize (ggml block formats) and dequantize (every format but I8_ASYM) with AVX-512.
 *
 * Bytes and floats are identical to the scalar reference: every f32 result is the same
 * single IEEE operation the reference performs (q·d, then + m for Q4_1, never fused:
 * the library is built with -std=c11, so the reference does not contract either), and
 * the quantisers follow llama.cpp's *_ref rules stated in kernels/format_ggml.h. */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "backends/x86/q8_blocks_x86.h"
#include "backends/x86/x86_quant.h"
#include "kernels/format_nf4.h"
#include "kernels/format_ggml.h"
#include "kernels/format_half.h"

#define QK_AI __attribute__((always_inline)) static inline


/* 16 bytes of FP8 → 16 f32 (same decode as the matmul: exponent rebias, specials by mask). */
QK_AI __m512 qk_fp8_to_f32(__m128i bytes, int e4m3) {
    __m512i b = _mm512_cvtepu8_epi32(bytes);
    __m512i sign = _mm512_slli_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x80)), 24);
    __m512i em = _mm512_and_si512(b, _mm512_set1_epi32(0x7F));
    __m512 f;
    if (e4m3) {
        f = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(em, 20)), _mm512_set1_ps(0x1p120f));
        __mmask16 nan = _mm512_cmpeq_epi32_mask(em, _mm512_set1_epi32(0x7F));
        f = _mm512_mask_mov_ps(f, nan, _mm512_set1_ps(__builtin_nanf("")));
    } else {
        f = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(em, 21)), _mm512_set1_ps(0x1p112f));
        __mmask16 sp = _mm512_cmpge_epi32_mask(em, _mm512_set1_epi32(0x7C));
        /* S.11111.00 is Inf, the other three codes a quiet NaN with no payload (as the scalar decode) */
        __mmask16 mant = _mm512_test_epi32_mask(em, _mm512_set1_epi32(3));
        __m512 infnan = _mm512_castsi512_ps(_mm512_mask_mov_epi32(_mm512_set1_epi32(0x7F800000), mant,
                                                                  _mm512_set1_epi32(0x7FC00000)));
        f = _mm512_mask_mov_ps(f, sp, infnan);
    }
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(f), sign));
}

/* Scale buffers may sit at any alignment (a checkpoint's offsets): read through memcpy. */
static float qk_ld_f32(const void *p, size_t i) { float v; memcpy(&v, (const char *)p + i * 4, 4); return v; }
static uint16_t qk_ld_u16(const void *p, size_t i) { uint16_t v; memcpy(&v, (const char *)p + i * 2, 2); return v; }

static float qk_scale_at(const qkern_qtensor *t, const qk_layout *L, int64_t r, int64_t G) {
    return qk_ld_f32(t->scales, L->group == 0 ? 0 : (size_t)(r * L->groups_per_row + G));
}

static void qk_dequant_row(const qkern_qtensor *t, const qk_layout *L, int64_t r, float *y) {
    const uint8_t *row = (const uint8_t *)t->data + (size_t)r * L->row_bytes;
    const int64_t K = L->cols;
    switch (L->format) {
    case QKERN_I8:
    case QKERN_FP8_E4M3:
    case QKERN_FP8_E5M2: {
        const int64_t g = L->group ? L->group : K;
        const int fp8 = L->format != QKERN_I8, e4 = L->format == QKERN_FP8_E4M3;
        for (int64_t k0 = 0; k0 < K; k0 += g) {
            __m512 s = _mm512_set1_ps(qk_scale_at(t, L, r, k0 / g));
            for (int64_t k = k0; k < k0 + g; k += 16) {
                int64_t n = k0 + g - k < 16 ? k0 + g - k : 16;
                __mmask16 msk = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
                __m128i b = _mm_maskz_loadu_epi8(msk, row + k);
                __m512 v = fp8 ? qk_fp8_to_f32(b, e4) : _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
                _mm512_mask_storeu_ps(y + k, msk, _mm512_mul_ps(v, s));
            }
        }
        break;
    }
    case QKERN_I4:
    case QKERN_NF4: {
        const int64_t g = L->group;
        const int nf4 = L->format == QKERN_NF4;
        const int asym = !nf4 && t->zeros != NULL && L->zeros_bytes > 0;
        const __m512 book = _mm512_loadu_ps(qk_nf4_codebook);
        for (int64_t G = 0; G < L->groups_per_row; G++) {
            size_t si = (size_t)(r * L->groups_per_row + G);
            float sc = nf4 ? qk_ld_f32(t->scales, si) : qk_f16_to_f32(qk_ld_u16(t->scales, si));
            __m512 s = _mm512_set1_ps(sc);
            uint8_t zb = asym ? ((const uint8_t *)t->zeros)[si] : 8;
            __m512i z = _mm512_set1_epi32(zb > 15 ? 15 : zb); /* out-of-range zeros clamp (format_int.h) */
            for (int64_t k = G * g; k < G * g + g; k += 16) {
                int64_t n = G * g + g - k < 16 ? G * g + g - k : 16; /* even */
                __mmask16 msk = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
                __m128i b = _mm_maskz_loadu_epi8((__mmask16)((1u << (n / 2)) - 1), row + k / 2);
                __m128i lo = _mm_and_si128(b, _mm_set1_epi8(0x0F));
                __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(0x0F));
                /* element order: I4 low nibble first, NF4 high nibble first */
                __m128i e = nf4 ? _mm_unpacklo_epi8(hi, lo) : _mm_unpacklo_epi8(lo, hi);
                __m512i c = _mm512_cvtepu8_epi32(e);
                __m512 v = nf4 ? _mm512_permutexvar_ps(c, book) : _mm512_cvtepi32_ps(_mm512_sub_epi32(c, z));
                _mm512_mask_storeu_ps(y + k, msk, _mm512_mul_ps(v, s));
            }
        }
        break;
    }
    case QKERN_Q8_0:
    case QKERN_Q8_1: {
        const size_t bs = L->format == QKERN_Q8_0 ? sizeof(qk_block_q8_0) : sizeof(qk_block_q8_1);
        const size_t qo = L->format == QKERN_Q8_0 ? 2 : 4;
        for (int64_t b = 0; b < K / 32; b++) {
            const uint8_t *blk = row + (size_t)b * bs;
            uint16_t dh;
            memcpy(&dh, blk, 2);
            __m512 d = _mm512_set1_ps(qk_f16_to_f32(dh));
            __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + qo)));
            __m512i q2 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + qo + 16)));
            _mm512_storeu_ps(y + 32 * b, _mm512_mul_ps(_mm512_cvtepi32_ps(q), d));
            _mm512_storeu_ps(y + 32 * b + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(q2), d));
        }
        break;
    }
    case QKERN_Q4_0:
    case QKERN_Q4_1: {
        const int q41 = L->format == QKERN_Q4_1;
        const size_t bs = q41 ? sizeof(qk_block_q4_1) : sizeof(qk_block_q4_0);
        for (int64_t b = 0; b < K / 32; b++) {
            const uint8_t *blk = row + (size_t)b * bs;
            uint16_t dh, mh = 0;
            memcpy(&dh, blk, 2);
            if (q41) memcpy(&mh, blk + 2, 2);
            __m512 d = _mm512_set1_ps(qk_f16_to_f32(dh)), mn = _mm512_set1_ps(qk_f16_to_f32(mh));
            __m128i v = _mm_loadu_si128((const __m128i *)(blk + (q41 ? 4 : 2)));
            __m512i lo = _mm512_cvtepu8_epi32(_mm_and_si128(v, _mm_set1_epi8(0x0F)));
            __m512i hi = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F)));
            __m512 flo, fhi;
            if (q41) {
                flo = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(lo), d), mn);
                fhi = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), d), mn);
            } else {
                const __m512i e8 = _mm512_set1_epi32(8);
                flo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(lo, e8)), d);
                fhi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(hi, e8)), d);
            }
            _mm512_storeu_ps(y + 32 * b, flo);
            _mm512_storeu_ps(y + 32 * b + 16, fhi);
        }
        break;
    }
    default: break;
    }
}

void qk_x86_dequantize__avx512vnni(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0, int64_t r1) {
    if (L->format == QKERN_I8_ASYM) {
        qk_x86_dequant_i8_asym__avx512vnni(src, L, dst, r0, r1);
        return;
    }
    for (int64_t r = r0; r < r1; r++) qk_dequant_row(src, L, r, dst + r * L->cols);
}

/* ---- ggml quantisers ------------------------------------------------------------------ */

/* n ≤ 16 Q8_0 / Q8_1 blocks of one row (q8_blocks_x86.h); d and s stored as f16 (RNE,
 * as qk_f32_to_f16). */
static void qk_quant_q8_blocks(const float *x, int n, uint8_t *blk, int with_sum) {
    const size_t bs = with_sum ? sizeof(qk_block_q8_1) : sizeof(qk_block_q8_0), qo = with_sum ? 4 : 2;
    __m512i sum = _mm512_setzero_si512();
    __m512 d = qk_x86_q8_blocks(x, n, blk + qo, bs, 0, NULL, with_sum ? &sum : NULL);
    uint16_t dh[16], sh[16];
    _mm256_storeu_si256((__m256i *)dh, _mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (with_sum)
        _mm256_storeu_si256((__m256i *)sh, _mm512_cvtps_ph(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), d),
                                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (int b = 0; b < n; b++) {
        memcpy(blk + (size_t)b * bs, &dh[b], 2);
        if (with_sum) memcpy(blk + (size_t)b * bs + 2, &sh[b], 2);
    }
}

/* Two 16-lane halves of nibbles (elements j and j+16) → 16 bytes lo | hi << 4. */
static void qk_store_nibbles(uint8_t *qs, __m512i lo, __m512i hi) {
    __m512i v = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 4));
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtepi32_epi8(v));
}

/* Blocks are written through byte pointers: a row of ggml blocks may start at any
 * address (the caller's buffer), so no struct member is accessed in place. */
static void qk_store_f16(unsigned char *p, float v) {
    uint16_t h = qk_f32_to_f16(v);
    memcpy(p, &h, sizeof h);
}

static void qk_quant_q4_0(const float *x, unsigned char *blk) {
    __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    /* the first element whose |x| is amax, sign kept */
    __m512 va = _mm512_set1_ps(amax);
    uint32_t hit = (uint32_t)_mm512_cmpeq_ps_mask(_mm512_abs_ps(a), va) |
                   ((uint32_t)_mm512_cmpeq_ps_mask(_mm512_abs_ps(b), va) << 16);
    float max = hit ? x[__builtin_ctz(hit)] : 0.0f;
    float d = max / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512 vid = _mm512_set1_ps(id), h = _mm512_set1_ps(8.5f);
    const __m512i q15 = _mm512_set1_epi32(15);
    /* (int8_t)(x·id + 8.5f): truncation of a value in (-1, 17), then min 15 */
    __m512i qa = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(a, vid), h)), q15);
    __m512i qb = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(b, vid), h)), q15);
    qk_store_f16(blk + offsetof(qk_block_q4_0, d), d);
    qk_store_nibbles(blk + offsetof(qk_block_q4_0, qs), qa, qb);
}

static void qk_quant_q4_1(const float *x, unsigned char *blk) {
    __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
    float mn = _mm512_reduce_min_ps(_mm512_min_ps(a, b));
    float mx = _mm512_reduce_max_ps(_mm512_max_ps(a, b));
    float d = (mx - mn) / 15.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512 vid = _mm512_set1_ps(id), vmn = _mm512_set1_ps(mn), h = _mm512_set1_ps(0.5f);
    const __m512i q15 = _mm512_set1_epi32(15);
    __m512i qa = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(a, vmn), vid), h)), q15);
    __m512i qb = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(b, vmn), vid), h)), q15);
    qk_store_f16(blk + offsetof(qk_block_q4_1, d), d);
    qk_store_f16(blk + offsetof(qk_block_q4_1, m), mn);
    qk_store_nibbles(blk + offsetof(qk_block_q4_1, qs), qa, qb);
}

void qk_x86_quantize__avx512vnni(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0,
                                 int64_t r1) {
    if (L->format == QKERN_I8 || L->format == QKERN_I8_ASYM || L->format == QKERN_I4 || L->format == QKERN_NF4) {
        qk_x86_quant_int__avx512vnni(src, dst, L, r0, r1);
        return;
    }
    if (L->format == QKERN_FP8_E4M3 || L->format == QKERN_FP8_E5M2) {
        qk_x86_quant_fp8__avx512vnni(src, dst, L, r0, r1);
        return;
    }
    const int64_t K = L->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = src + r * K;
        uint8_t *row = (uint8_t *)dst->data + (size_t)r * L->row_bytes;
        if (L->format == QKERN_Q8_0 || L->format == QKERN_Q8_1) {
            const int with_sum = L->format == QKERN_Q8_1;
            const size_t bs = with_sum ? sizeof(qk_block_q8_1) : sizeof(qk_block_q8_0);
            for (int64_t b = 0; b < K / 32; b += 16)
                qk_quant_q8_blocks(x + 32 * b, K / 32 - b < 16 ? (int)(K / 32 - b) : 16, row + (size_t)b * bs, with_sum);
            continue;
        }
        for (int64_t b = 0; b < K / 32; b++) {
            switch (L->format) {
            case QKERN_Q4_0: qk_quant_q4_0(x + 32 * b, row + (size_t)b * sizeof(qk_block_q4_0)); break;
            case QKERN_Q4_1: qk_quant_q4_1(x + 32 * b, row + (size_t)b * sizeof(qk_block_q4_1)); break;
            default: break;
            }
        }
    }
}
