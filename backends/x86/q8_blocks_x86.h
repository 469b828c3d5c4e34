/* Q8_0 / Q8_1 quantisation of 32-blocks, 16 blocks at a time (AVX-512F/BW), shared by the
 * GGUF quantiser (quant__avx512vnni.c) and the Q8 activation rows of the matmul
 * (gemm_int8__avx512vnni.c).
 *
 * The rule is quantize_row_q8_0_ref's (kernels/format_ggml.h): d = amax/127,
 * id = d ? 1/d : 0, q = roundf(x·id), NaN never entering amax. One block at a time the
 * two horizontal reductions (amax, and Σq for Q8_1 or the signed activation records) and
 * the scalar divide cost about 50 cycles per block, four times the codes themselves; here
 * 16 blocks share one transposing reduction tree and one vector divide. Every value is
 * the same single IEEE operation as the scalar one, so bytes stay identical. */
#ifndef QK_Q8_BLOCKS_X86_H
#define QK_Q8_BLOCKS_X86_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* roundf (ties away from zero), exactly: trunc, then one step away when |frac| ≥ 0.5. */
__attribute__((always_inline)) static inline __m512i qk_x86_roundf_epi32(__m512 v) {
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, one));
}

/* Lane b of the result = the reduction (max of floats, or sum of int32 if add) of the 16
 * lanes of v[b]: four levels of pairwise shuffles, 45 operations for 16 vectors. */
__attribute__((always_inline)) static inline __m512 qk_x86_tree16(__m512 *v, int add) {
#define QK_T16_OP(a, b)                                                                                   \
    (add ? _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b)))         \
         : _mm512_max_ps(a, b))
    __m512 u[8], w[4], z[2];
    for (int i = 0; i < 8; i++) /* 128-bit lane: [x, y, x, y] partials of v[2i], v[2i+1] */
        u[i] = QK_T16_OP(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int j = 0; j < 4; j++) /* 128-bit lane L: blocks 4j..4j+3, each over its lane L */
        w[j] = QK_T16_OP(_mm512_shuffle_ps(u[2 * j], u[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(u[2 * j], u[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int j = 0; j < 2; j++) /* lanes 0, 1 of w[2j] halved, then of w[2j+1] */
        z[j] = QK_T16_OP(_mm512_shuffle_f32x4(w[2 * j], w[2 * j + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(w[2 * j], w[2 * j + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    /* 128-bit lane j: blocks 4j..4j+3 in order */
    return QK_T16_OP(_mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(2, 0, 2, 0)),
                     _mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(3, 1, 3, 1)));
#undef QK_T16_OP
}

/* n (1..16) consecutive 32-blocks of x. Returns d = amax/127 per block in lanes 0..n-1 and
 * 0 above. Block b's codes go to q + b·stride as bytes (q + 128 if unsigned, else q), and
 * to sq + 32·b as signed bytes when sq is set; *sum gets Σq per block (lanes ≥ n: 0). */
__attribute__((always_inline)) static inline __m512 qk_x86_q8_blocks(const float *x, int n, uint8_t *q, size_t stride,
                                                                     int unsign, uint8_t *sq, __m512i *sum) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 m[16];
    for (int b = 0; b < 16; b++) {
        if (b >= n) { m[b] = zero; continue; }
        /* max_ps returns its second operand when either is NaN: NaN lanes become 0 */
        __m512 ab = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 32 * b + 16)), zero);
        m[b] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 32 * b)), ab);
    }
    __m512 d = _mm512_div_ps(qk_x86_tree16(m, 0), _mm512_set1_ps(127.0f));
    __m512 id = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d, zero, _CMP_NEQ_UQ), _mm512_set1_ps(1.0f), d);
    float idb[16];
    _mm512_storeu_ps(idb, id);
    const __m512i off = _mm512_set1_epi32(unsign ? 128 : 0);
    __m512 s[16];
    for (int b = 0; b < 16; b++) {
        if (b >= n) { s[b] = zero; continue; }
        __m512 vid = _mm512_set1_ps(idb[b]);
        __m512i qa = qk_x86_roundf_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 32 * b), vid));
        __m512i qb = qk_x86_roundf_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 32 * b + 16), vid));
        uint8_t *o = q + (size_t)b * stride;
        _mm_storeu_si128((__m128i *)o, _mm512_cvtepi32_epi8(_mm512_add_epi32(qa, off)));
        _mm_storeu_si128((__m128i *)(o + 16), _mm512_cvtepi32_epi8(_mm512_add_epi32(qb, off)));
        if (sq) {
            _mm_storeu_si128((__m128i *)(sq + 32 * b), _mm512_cvtepi32_epi8(qa));
            _mm_storeu_si128((__m128i *)(sq + 32 * b + 16), _mm512_cvtepi32_epi8(qb));
        }
        s[b] = _mm512_castsi512_ps(_mm512_add_epi32(qa, qb));
    }
    if (sum) *sum = _mm512_castps_si512(qk_x86_tree16(s, 1));
    return d;
}

/* f32 → f16 → f32 (RNE, as qk_f32_to_f16 then qk_f16_to_f32): what ggml's kernels multiply by */
__attribute__((always_inline)) static inline __m512 qk_x86_f16_round_ps(__m512 v) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

#endif
