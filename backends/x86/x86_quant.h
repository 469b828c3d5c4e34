/* The x86 backend's quantize / dequantize kernels (quant_*__avx512vnni.c). */
#ifndef QK_X86_QUANT_H
#define QK_X86_QUANT_H

#include "kernels/backend.h"
#include "kernels/format_internal.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) /* the kernel files, built with the AVX-512 flags */
#include <float.h>
#include <immintrin.h>
/* 64 codes in four vectors of int32 → 64 bytes in order: two saturating packs (signed for
 * int8 codes in −128..127, unsigned for 0..255; exact in range) and one dword permute
 * undoing their 128-bit lane interleave. The quantisers store a row's codes 64 at a time
 * with it: one plain store where four masked byte-narrowing stores took longer. */
static inline __attribute__((always_inline)) __m512i qk_x86_bytes64(__m512i c0, __m512i c1, __m512i c2, __m512i c3,
                                                                    int is_signed) {
    const __m512i b = is_signed ? _mm512_packs_epi16(_mm512_packs_epi32(c0, c1), _mm512_packs_epi32(c2, c3))
                                : _mm512_packus_epi16(_mm512_packus_epi32(c0, c1), _mm512_packus_epi32(c2, c3));
    return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), b);
}

/* max |x| over the finite elements (NaN and ±Inf ignored; 0 if none), the value of
 * qk_int_amax and qk_fp8_amax_finite: lanes hold |x| ≥ +0, so any order gives it. */
static inline __attribute__((always_inline)) float qk_x86_amax_finite(const float *x, int64_t n) {
    __m512 m = _mm512_setzero_ps();
    const __m512 big = _mm512_set1_ps(FLT_MAX);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 t = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(t, x + i));
        m = _mm512_mask_max_ps(m, _mm512_cmp_ps_mask(a, big, _CMP_LE_OQ), m, a);
    }
    return _mm512_reduce_max_ps(m);
}
#endif

/* Kernel names, NULL where this backend has no kernel (the front end then runs scalar). */
const char *qk_x86_quant_kernel_name(const qkern_quant_desc *d);
const char *qk_x86_dequant_kernel_name(const qkern_quant_desc *d);

/* Rows [r0, r1); src / dst address row 0. Only called for formats named above. */
void qk_x86_quantize__avx512vnni(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0,
                                 int64_t r1);
/* I8, I8_ASYM, I4, NF4 quantisers; I8_ASYM dequantiser (quant_int__avx512vnni.c). */
void qk_x86_quant_int__avx512vnni(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0,
                                  int64_t r1);
void qk_x86_dequant_i8_asym__avx512vnni(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0,
                                        int64_t r1);
/* FP8 quantiser (quant_fp8__avx512vnni.c). */
void qk_x86_quant_fp8__avx512vnni(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0,
                                  int64_t r1);
/* The per-tensor reduction (kernels/backend.h tensor_reduce) for I8_ASYM and FP8
 * (quant_fp8__avx512vnni.c). */
void qk_x86_tensor_reduce__avx512vnni(qkern_format f, const float *src, size_t n, float *lo, float *hi);
/* One activation row of the FP8 × FP8 modes: the row scale sx (format_fp8.h), the saturating
 * FP8 codes of x·(1/sx), stored widened to BF16 (exact); kp - k zero padding. */
void qk_x86_fp8_act_row__avx512vnni(const float *x, int64_t k, int64_t kp, int e5m2, float *sx, uint16_t *bf);
void qk_x86_dequantize__avx512vnni(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0, int64_t r1);

#endif
