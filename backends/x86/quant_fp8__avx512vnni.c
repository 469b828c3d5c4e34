/* FP8 (E4M3FN / E5M2) quantiser with AVX-512: kernels/format_fp8.h's branch-free encoder
 * on 16 lanes (round the f32 pattern to the FP8 mantissa, RNE; below the smallest normal,
 * let the FPU round onto the subnormal grid by adding 2^k; then the overflow / Inf / NaN
 * selections), with the row scale from the same helpers as scalar: identical bytes. */
#include <float.h>
#include <immintrin.h>
#include <string.h>

#include "backends/x86/x86_quant.h"
#include "kernels/format_fp8.h"

#define QK_AI __attribute__((always_inline)) static inline

QK_AI __m512i qk_enc(__m512 x, const int e5m2, const int saturate) {
    const __m512i u = _mm512_castps_si512(x);
    const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
    const int sh = e5m2 ? 21 : 20;
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(a, sh), _mm512_set1_epi32(1));
    /* ((a + half − 1 + lsb) >> sh) − rebias, the rebias subtracted before the shift (it is a
     * multiple of 2^sh): every lane that keeps this code has a ≥ the smallest normal, so the
     * sum stays positive */
    __m512i normal = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(a, _mm512_set1_epi32(e5m2 ? 0xfffff - (112 << 23) : 0x7ffff - (120 << 23))), lsb),
        sh);
    __m512i sub = _mm512_sub_epi32(
        _mm512_castps_si512(_mm512_add_ps(_mm512_castsi512_ps(a), _mm512_set1_ps(e5m2 ? 0x1p7f : 0x1p14f))),
        _mm512_set1_epi32(e5m2 ? 0x43000000 : 0x46800000));
    __mmask16 small = _mm512_cmplt_epu32_mask(a, _mm512_set1_epi32(e5m2 ? 0x38800000 : 0x3c800000));
    __m512i code = _mm512_mask_mov_epi32(normal, small, sub);
    /* The rounded code grows with |x| (no wrap: |x|'s bits + the rounding stay below 2^32),
     * past the largest finite code exactly where the scalar encoder overflows (E4M3 above
     * 464, E5M2 from 61440, ±Inf and NaN beyond), so overflow is one unsigned min with the
     * overflow code: ±max when saturating, else E4M3's NaN or E5M2's Inf. */
    code = _mm512_min_epu32(code, _mm512_set1_epi32(saturate ? (e5m2 ? 0x7B : 0x7E) : (e5m2 ? QK_FP8_E5M2_INF : 0x7F)));
    code = _mm512_ternarylogic_epi32(code, _mm512_srli_epi32(u, 24), _mm512_set1_epi32(0x80), 0xF8); /* | sign */
    __mmask16 nan = _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_mov_epi32(code, nan, _mm512_set1_epi32(0x7F));
}

/* min / max over the finite elements with 0 included, as qk_int_range: a lane takes v
 * only when v < lo (v > hi) strictly, so no lane holds −0 and the cross-lane min / max is
 * the scalar loop's value. */
static void qk_range_finite(const float *x, int64_t n, float *lo, float *hi) {
    __m512 l = _mm512_setzero_ps(), h = _mm512_setzero_ps();
    const __m512 big = _mm512_set1_ps(FLT_MAX), nbig = _mm512_set1_ps(-FLT_MAX);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 t = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(t, x + i);
        l = _mm512_mask_mov_ps(l, _mm512_cmp_ps_mask(v, l, _CMP_LT_OQ) & _mm512_cmp_ps_mask(v, nbig, _CMP_GE_OQ), v);
        h = _mm512_mask_mov_ps(h, _mm512_cmp_ps_mask(v, h, _CMP_GT_OQ) & _mm512_cmp_ps_mask(v, big, _CMP_LE_OQ), v);
    }
    *lo = _mm512_reduce_min_ps(l);
    *hi = _mm512_reduce_max_ps(h);
}

/* The per-tensor reduction (kernels/backend.h tensor_reduce): FP8's finite amax, I8_ASYM's
 * range, the values of qk_tensor_reduce__scalar. */
void qk_x86_tensor_reduce__avx512vnni(qkern_format f, const float *src, size_t n, float *lo, float *hi) {
    if (f == QKERN_I8_ASYM) {
        qk_range_finite(src, (int64_t)n, lo, hi);
    } else {
        *lo = 0.0f;
        *hi = qk_x86_amax_finite(src, (int64_t)n);
    }
}

static void qk_row(const float *x, uint8_t *q, int64_t n, float inv, const int e5m2, const int sat) {
    const __m512 vi = _mm512_set1_ps(inv);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512(q + i, qk_x86_bytes64(qk_enc(_mm512_mul_ps(_mm512_loadu_ps(x + i), vi), e5m2, sat),
                                               qk_enc(_mm512_mul_ps(_mm512_loadu_ps(x + i + 16), vi), e5m2, sat),
                                               qk_enc(_mm512_mul_ps(_mm512_loadu_ps(x + i + 32), vi), e5m2, sat),
                                               qk_enc(_mm512_mul_ps(_mm512_loadu_ps(x + i + 48), vi), e5m2, sat), 0));
    for (; i < n; i += 16) {
        __mmask16 t = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512i c = qk_enc(_mm512_mul_ps(_mm512_maskz_loadu_ps(t, x + i), vi), e5m2, sat);
        _mm512_mask_cvtepi32_storeu_epi8(q + i, t, c);
    }
}

void qk_x86_fp8_act_row__avx512vnni(const float *x, int64_t k, int64_t kp, int e5m2, float *sx, uint16_t *bf) {
    const float scale = qk_fp8_scale_for_amax(qk_x86_amax_finite(x, k), e5m2 ? QK_FP8_E5M2_MAX : QK_FP8_E4M3_MAX);
    const __m512 vi = _mm512_set1_ps(1.0f / scale);
    for (int64_t i = 0; i < kp; i += 16) {
        int64_t live = k - i < 0 ? 0 : k - i;
        __mmask16 t = live >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << live) - 1);
        __m512i c = e5m2 ? qk_enc(_mm512_mul_ps(_mm512_maskz_loadu_ps(t, x + i), vi), 1, 1)
                         : qk_enc(_mm512_mul_ps(_mm512_maskz_loadu_ps(t, x + i), vi), 0, 1);
        /* FP8 → f32 is exact; its top half is the BF16 the kernels multiply. */
        __m512i sign = _mm512_slli_epi32(_mm512_and_si512(c, _mm512_set1_epi32(0x80)), 24);
        __m512i em = _mm512_and_si512(c, _mm512_set1_epi32(0x7F));
        __m512 f;
        if (e5m2) {
            f = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(em, 21)), _mm512_set1_ps(0x1p112f));
            __mmask16 sp = _mm512_cmpge_epi32_mask(em, _mm512_set1_epi32(0x7C));
            __mmask16 mant = _mm512_test_epi32_mask(em, _mm512_set1_epi32(3));
            f = _mm512_mask_mov_ps(f, sp, _mm512_castsi512_ps(_mm512_mask_mov_epi32(
                                              _mm512_set1_epi32(0x7F800000), mant, _mm512_set1_epi32(0x7FC00000))));
        } else {
            f = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(em, 20)), _mm512_set1_ps(0x1p120f));
            f = _mm512_mask_mov_ps(f, _mm512_cmpeq_epi32_mask(em, _mm512_set1_epi32(0x7F)),
                                   _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000)));
        }
        __m512i b = _mm512_srli_epi32(_mm512_or_si512(_mm512_castps_si512(f), sign), 16);
        /* each 4 k as x0, x2, x1, x3: the (k0, k2), (k1, k3) pairs of fp8_decode_x86.h */
        b = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15),
                                     _mm512_maskz_mov_epi32(t, b));
        int64_t n = kp - i < 16 ? kp - i : 16; /* kp is a multiple of 4 */
        _mm512_mask_cvtepi32_storeu_epi16(bf + i, (__mmask16)((1u << n) - 1), b);
    }
    *sx = scale;
}

void qk_x86_quant_fp8__avx512vnni(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0,
                                  int64_t r1) {
    const int e5m2 = L->format == QKERN_FP8_E5M2;
    const int saturate = !(dst->desc.flags & QKERN_QUANT_FP8_NO_SATURATE);
    const int static_scales = (dst->desc.flags & QKERN_QUANT_STATIC_SCALES) != 0;
    const float fmax = qk_fp8_max(L->format);
    const int64_t cols = L->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = src + (size_t)r * (size_t)cols;
        float scale;
        size_t slot = L->group == 0 ? 0 : (size_t)r;
        if (L->group == 0 || static_scales) {
            memcpy(&scale, (const char *)dst->scales + slot * 4, 4);
        } else {
            scale = qk_fp8_scale_for_amax(qk_x86_amax_finite(x, cols), fmax);
            memcpy((char *)dst->scales + slot * 4, &scale, 4);
        }
        const float inv = 1.0f / scale;
        uint8_t *q = (uint8_t *)dst->data + (size_t)r * L->row_bytes;
        if (e5m2) saturate ? qk_row(x, q, cols, inv, 1, 1) : qk_row(x, q, cols, inv, 1, 0);
        else saturate ? qk_row(x, q, cols, inv, 0, 1) : qk_row(x, q, cols, inv, 0, 0);
    }
}
