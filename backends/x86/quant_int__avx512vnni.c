/* I8, I8_ASYM, I4 and NF4 quantisers (and the I8_ASYM dequantiser) with AVX-512, to the
 * rules of kernels/format_int.h and kernels/format_nf4.h: the per-group parameters come
 * from the same static inline helpers as the scalar reference (or, for dynamic I8 and
 * symmetric I4 groups, from the same IEEE operations on 16 groups at once:
 * qk_sym_scales16), and each element is the header's recipe on 16 lanes (v = x·inv;
 * NaN → 0; clamp in f32; RNE by cvtps under the default MXCSR; add the offset), so the
 * bytes are identical. */
#include <float.h>
#include <immintrin.h>
#include <string.h>

#include "backends/x86/q8_blocks_x86.h"
#include "backends/x86/x86_quant.h"
#include "kernels/format_half.h"
#include "kernels/format_int.h"
#include "kernels/format_nf4.h"

#define QK_AI __attribute__((always_inline)) static inline

QK_AI __mmask16 qk_tail(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* max |x|, and with asym min(x, 0), max(x, 0), over the finite elements (NaN and ±Inf
 * ignored). The symmetric rules need only amax: one reduction per group, not three. */
static void qk_finite_stats(const float *x, int64_t n, int asym, float *amax, float *lo, float *hi) {
    __m512 a = _mm512_setzero_ps(), l = _mm512_setzero_ps(), h = _mm512_setzero_ps();
    const __m512 big = _mm512_set1_ps(FLT_MAX);
    for (int64_t i = 0; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(qk_tail(n - i), x + i);
        __mmask16 fin = _mm512_cmp_ps_mask(_mm512_abs_ps(v), big, _CMP_LE_OQ);
        a = _mm512_mask_max_ps(a, fin, a, _mm512_abs_ps(v));
        if (asym) {
            l = _mm512_mask_min_ps(l, fin, l, v);
            h = _mm512_mask_max_ps(h, fin, h, v);
        }
    }
    *amax = _mm512_reduce_max_ps(a);
    *lo = asym ? _mm512_reduce_min_ps(l) : 0.0f;
    *hi = asym ? _mm512_reduce_max_ps(h) : 0.0f;
}

/* qk_int_code on 16 lanes. */
QK_AI __m512i qk_codes(__m512 x, __m512 inv, float lo, float hi) {
    __m512 v = _mm512_mul_ps(x, inv);
    v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_setzero_ps());
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(lo)), _mm512_set1_ps(hi));
    return _mm512_cvtps_epi32(v);
}

/* Pairs of int32 lanes (element 2i, 2i+1) → one byte: low nibble first (I4) or high first (NF4). */
QK_AI __m128i qk_pack_pairs(__m512i c, int high_first) {
    const __m512i m = _mm512_set1_epi64(0xF);
    __m512i a = _mm512_and_si512(c, m), b = _mm512_and_si512(_mm512_srli_epi64(c, 32), m);
    __m512i v = high_first ? _mm512_or_si512(_mm512_slli_epi64(a, 4), b) : _mm512_or_si512(a, _mm512_slli_epi64(b, 4));
    return _mm512_cvtepi64_epi8(v);
}

/* 64 codes (0..15) in four vectors → 32 bytes of nibble pairs, low nibble first (I4) or high
 * first (NF4): two saturating packs (in-lane, codes stay in order within each 4-lane group),
 * one vpmaddubsw joining each pair as lo + 16·hi, one more pack, and one word permute undoing
 * the packs' lane interleave. Six operations where four calls of qk_pack_pairs took 24 and
 * four masked stores. */
QK_AI __m256i qk_pack_pairs64(__m512i c0, __m512i c1, __m512i c2, __m512i c3, int high_first) {
    /* after the packs, lane L holds 16-bit unit k = the pair run 8k + 2L, 8k + 2L + 1 */
    static const uint16_t order[32] = {0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27,
                                       0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27};
    const __m512i b = _mm512_packus_epi16(_mm512_packus_epi32(c0, c1), _mm512_packus_epi32(c2, c3));
    const __m512i w = _mm512_maddubs_epi16(b, _mm512_set1_epi16(high_first ? 0x0110 : 0x1001));
    const __m512i v = _mm512_packus_epi16(w, w);
    return _mm512_castsi512_si256(_mm512_permutexvar_epi16(_mm512_loadu_si512(order), v));
}

/* NF4 codes by bins: v·16 + 16 (v = x / absmax, in [-1, 1]) clamped to [0, 31] and
 * truncated picks one of 32 bins of width 1/16; the thresholds lie in 15 different bins,
 * each at least 0.0017 from a bin edge, so a bin holds at most one threshold and the
 * rounding of v·16 + 16 can only move a v within ~1e-7 of an edge into the neighbouring
 * bin, with no threshold in between. The code is then the count of thresholds below the
 * bin (lo) plus one if v > the bin's own threshold (+Inf when it has none): the tree's
 * strict '>' decisions for every v, in two table lookups and one compare instead of four
 * levels of three operations. NaN v clamps to bin 0 and is set to code 7 as in the tree. */
typedef struct qk_nf4_bins {
    __m512i lo0, lo1;
    __m512 th0, th1;
} qk_nf4_bins;

static qk_nf4_bins qk_nf4_bins_make(void) {
    qk_nf4_bins b;
    __m512i lo[2];
    __m512 th[2];
    for (int h = 0; h < 2; h++) {
        const __m512 start = _mm512_sub_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(
                                                              _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                              _mm512_set1_epi32(16 * h))),
                                                          _mm512_set1_ps(0.0625f)),
                                           _mm512_set1_ps(1.0f));
        const __m512 end = _mm512_add_ps(start, _mm512_set1_ps(0.0625f));
        lo[h] = _mm512_setzero_si512();
        th[h] = _mm512_set1_ps(__builtin_inff());
        for (int i = 0; i < 15; i++) {
            const __m512 t = _mm512_set1_ps(qk_nf4_thresholds[i]);
            lo[h] = _mm512_mask_add_epi32(lo[h], _mm512_cmp_ps_mask(t, start, _CMP_LT_OQ), lo[h], _mm512_set1_epi32(1));
            th[h] = _mm512_mask_mov_ps(th[h], _mm512_cmp_ps_mask(t, start, _CMP_GE_OQ) & _mm512_cmp_ps_mask(t, end, _CMP_LT_OQ), t);
        }
    }
    b.lo0 = lo[0], b.lo1 = lo[1], b.th0 = th[0], b.th1 = th[1];
    return b;
}

QK_AI __m512i qk_nf4_codes(__m512 x, __m512 vi, const qk_nf4_bins *b) {
    const __m512 v = _mm512_mul_ps(x, vi);
    /* max(·, 0) first: it returns its second operand for NaN */
    const __m512 p = _mm512_min_ps(_mm512_max_ps(_mm512_fmadd_ps(v, _mm512_set1_ps(16.0f), _mm512_set1_ps(16.0f)),
                                                 _mm512_setzero_ps()),
                                   _mm512_set1_ps(31.0f));
    const __m512i bin = _mm512_cvttps_epi32(p);
    const __m512i lo = _mm512_permutex2var_epi32(b->lo0, bin, b->lo1);
    const __m512 th = _mm512_permutex2var_ps(b->th0, bin, b->th1);
    const __m512i q = _mm512_mask_add_epi32(lo, _mm512_cmp_ps_mask(v, th, _CMP_GT_OQ), lo, _mm512_set1_epi32(1));
    return _mm512_mask_mov_epi32(q, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_set1_epi32((int)QK_NF4_ZERO_CODE));
}

static float ld_f32(const void *p, size_t i) { float v; memcpy(&v, (const char *)p + i * 4, 4); return v; }
static void st_f32(void *p, size_t i, float v) { memcpy((char *)p + i * 4, &v, 4); }
static int32_t ld_i32(const void *p, size_t i) { int32_t v; memcpy(&v, (const char *)p + i * 4, 4); return v; }
static void st_i32(void *p, size_t i, int32_t v) { memcpy((char *)p + i * 4, &v, 4); }
static uint16_t ld_u16(const void *p, size_t i) { uint16_t v; memcpy(&v, (const char *)p + i * 2, 2); return v; }
static void st_u16(void *p, size_t i, uint16_t v) { memcpy((char *)p + i * 2, &v, 2); }

static void qk_quant_group(const float *x, uint8_t *row, int64_t c0, int64_t g, const qkern_qtensor *t, size_t slot,
                           int is_static, qkern_format f, int asym, const qk_nf4_bins *bins) {
    float amax = 0, lo = 0, hi = 0;
    if (!is_static) qk_finite_stats(x, g, f == QKERN_I8_ASYM || (f == QKERN_I4 && asym), &amax, &lo, &hi);
    switch (f) {
    case QKERN_I8: {
        float s, inv;
        if (is_static) { s = ld_f32(t->scales, slot); inv = qk_int_inv(s); }
        else { qk_i8_params(amax, &s, &inv); st_f32(t->scales, slot, s); }
        const __m512 vi = _mm512_set1_ps(inv);
#define QK_I8_CODES(xv) qk_codes(xv, vi, -127.0f, 127.0f)
        int64_t i = 0;
        for (; i + 64 <= g; i += 64)
            _mm512_storeu_si512(row + c0 + i,
                                qk_x86_bytes64(QK_I8_CODES(_mm512_loadu_ps(x + i)), QK_I8_CODES(_mm512_loadu_ps(x + i + 16)),
                                               QK_I8_CODES(_mm512_loadu_ps(x + i + 32)), QK_I8_CODES(_mm512_loadu_ps(x + i + 48)), 1));
        for (; i < g; i += 16) {
            __mmask16 m = qk_tail(g - i);
            _mm512_mask_cvtepi32_storeu_epi8(row + c0 + i, m, QK_I8_CODES(_mm512_maskz_loadu_ps(m, x + i)));
        }
#undef QK_I8_CODES
        break;
    }
    case QKERN_I8_ASYM: {
        float s, inv;
        int32_t z;
        if (is_static) { s = ld_f32(t->scales, slot); inv = qk_int_inv(s); z = qk_i8_asym_zero(ld_i32(t->zeros, slot)); }
        else { qk_i8_asym_params(lo, hi, &s, &inv, &z); st_f32(t->scales, slot, s); st_i32(t->zeros, slot, z); }
        const __m512 vi = _mm512_set1_ps(inv);
        const __m512i vz = _mm512_set1_epi32(z), qmin = _mm512_set1_epi32(-128), qmax = _mm512_set1_epi32(127);
#define QK_I8A_CODES(xv)                                                                                       \
    _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(qk_codes(xv, vi, -256.0f, 256.0f), vz), qmin), qmax)
        int64_t i = 0;
        for (; i + 64 <= g; i += 64)
            _mm512_storeu_si512(row + c0 + i,
                                qk_x86_bytes64(QK_I8A_CODES(_mm512_loadu_ps(x + i)), QK_I8A_CODES(_mm512_loadu_ps(x + i + 16)),
                                               QK_I8A_CODES(_mm512_loadu_ps(x + i + 32)),
                                               QK_I8A_CODES(_mm512_loadu_ps(x + i + 48)), 1));
        for (; i < g; i += 16) {
            __mmask16 m = qk_tail(g - i);
            _mm512_mask_cvtepi32_storeu_epi8(row + c0 + i, m, QK_I8A_CODES(_mm512_maskz_loadu_ps(m, x + i)));
        }
#undef QK_I8A_CODES
        break;
    }
    case QKERN_I4: {
        uint16_t h;
        uint8_t zero = QK_I4_SYM_OFFSET;
        if (is_static) {
            h = ld_u16(t->scales, slot);
            if (asym) zero = qk_i4_zero(((const uint8_t *)t->zeros)[slot]);
        } else {
            h = asym ? qk_i4_asym_scale(lo, hi) : qk_i4_sym_scale(amax);
            st_u16(t->scales, slot, h);
            if (asym) {
                zero = qk_i4_asym_zero_for(lo, qk_int_inv(qk_f16_to_f32(h)));
                ((uint8_t *)t->zeros)[slot] = zero;
            }
        }
        const __m512 vi = _mm512_set1_ps(qk_int_inv(qk_f16_to_f32(h)));
        const __m512i vz = _mm512_set1_epi32(zero), z0 = _mm512_setzero_si512(), q15 = _mm512_set1_epi32(15);
        int64_t i = 0;
#define QK_I4_CODES(xv)                                                                                         \
    (asym ? _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(qk_codes(xv, vi, -32.0f, 32.0f), vz), z0), q15) \
          : _mm512_add_epi32(qk_codes(xv, vi, -8.0f, 7.0f), vz)) /* sym: −8..7 + 8 is already 0..15 */
        for (; i + 64 <= g; i += 64)
            _mm256_storeu_si256((__m256i *)(row + (c0 + i) / 2),
                                qk_pack_pairs64(QK_I4_CODES(_mm512_loadu_ps(x + i)), QK_I4_CODES(_mm512_loadu_ps(x + i + 16)),
                                                QK_I4_CODES(_mm512_loadu_ps(x + i + 32)),
                                                QK_I4_CODES(_mm512_loadu_ps(x + i + 48)), 0));
        for (; i < g; i += 16) {
            __mmask16 m = qk_tail(g - i);
            __m512i q = QK_I4_CODES(_mm512_maskz_loadu_ps(m, x + i));
            __m128i b = qk_pack_pairs(q, 0);
            int64_t nb = (g - i < 16 ? g - i : 16) / 2;
            _mm_mask_storeu_epi8(row + (c0 + i) / 2, (__mmask16)((1u << nb) - 1), b);
        }
#undef QK_I4_CODES
        break;
    }
    case QKERN_NF4: {
        float *sp = (float *)t->scales + slot;
        float absmax;
        if (is_static) absmax = ld_f32(sp, 0);
        else { absmax = amax; st_f32(sp, 0, amax); }
        const __m512 vi = _mm512_set1_ps(qk_nf4_inv_absmax(absmax));
        int64_t i = 0;
        for (; i + 64 <= g; i += 64)
            _mm256_storeu_si256((__m256i *)(row + (c0 + i) / 2),
                                qk_pack_pairs64(qk_nf4_codes(_mm512_loadu_ps(x + i), vi, bins),
                                                qk_nf4_codes(_mm512_loadu_ps(x + i + 16), vi, bins),
                                                qk_nf4_codes(_mm512_loadu_ps(x + i + 32), vi, bins),
                                                qk_nf4_codes(_mm512_loadu_ps(x + i + 48), vi, bins), 1));
        for (; i < g; i += 16) {
            __mmask16 m = qk_tail(g - i);
            __m128i b = qk_pack_pairs(qk_nf4_codes(_mm512_maskz_loadu_ps(m, x + i), vi, bins), 1);
            int64_t nb = (g - i < 16 ? g - i : 16) / 2;
            _mm_mask_storeu_epi8(row + (c0 + i) / 2, (__mmask16)((1u << nb) - 1), b);
        }
        break;
    }
    default: break;
    }
}

/* Per group j < n of n ≤ 16 consecutive groups of g elements, over its finite elements:
 * a[j] lanes of max |x| (asym: of max(−x, 0)), b[j] (asym only) of max(x, 0); groups j ≥ n
 * stay 0. qk_x86_tree16 then reduces them to one lane per group. */
QK_AI void qk_group_max16(const float *x, int64_t g, int n, int asym, __m512 a[16], __m512 b[16]) {
    const __m512 big = _mm512_set1_ps(FLT_MAX), zero = _mm512_setzero_ps(), sign = _mm512_set1_ps(-0.0f);
    for (int j = 0; j < 16; j++) {
        __m512 u = zero, w = zero; /* in registers through the loop, stored once */
        for (int64_t i = 0; j < n && i < g; i += 16) {
            const __m512 v = _mm512_loadu_ps(x + j * g + i);
            const __mmask16 fin = _mm512_cmp_ps_mask(_mm512_abs_ps(v), big, _CMP_LE_OQ);
            u = _mm512_mask_max_ps(u, fin, u, asym ? _mm512_xor_ps(v, sign) : _mm512_abs_ps(v));
            if (asym) w = _mm512_mask_max_ps(w, fin, w, v);
        }
        a[j] = u;
        if (asym) b[j] = w;
    }
}

/* qk_int_inv on 16 lanes: 1/s where that is finite and non-zero, else 0. */
QK_AI __m512 qk_int_inv16(__m512 s) {
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), s), zero = _mm512_setzero_ps();
    const __mmask16 ok = _mm512_cmp_ps_mask(inv, zero, _CMP_NEQ_OQ) & _mm512_cmp_ps_mask(_mm512_sub_ps(inv, inv), zero, _CMP_EQ_OQ);
    return _mm512_maskz_mov_ps(ok, inv);
}

/* qk_i4_scale_f16 on 16 lanes of s ≥ 0: f16 by vcvtps2ph (RNE, as qk_f32_to_f16), +Inf → the
 * largest finite f16. */
QK_AI __m256i qk_i4_scale16(__m512 s) {
    __m256i h = _mm512_cvtps_ph(s, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_mask_mov_epi16(h, _mm256_cmpeq_epi16_mask(h, _mm256_set1_epi16(0x7c00)),
                                 _mm256_set1_epi16((short)QK_F16_MAX_BITS));
}

/* The scales of n ≤ 16 consecutive dynamic groups of I8 or symmetric I4, stored at
 * slot..slot + n − 1: each group's finite amax as one lane of a transposing reduction tree,
 * then the format's rule on 16 lanes with the same IEEE operations as format_int.h (I4's
 * f16 rounding by vcvtps2ph, RNE, as qk_f32_to_f16). The codes then follow from the stored
 * scales exactly as from static ones. One tree and one vector divide per 16 groups, where
 * each group alone waited on a reduction, a divide, an f16 round trip and another divide
 * (about 100 cycles against 30 for its codes). NF4's scale is amax itself, with no divide
 * chain: batching measured 4 % slower there, so it keeps the per-group path. */
static void qk_sym_scales16(const float *x, int64_t g, int n, qkern_format f, const qkern_qtensor *t, size_t slot) {
    __m512 m[16];
    qk_group_max16(x, g, n, 0, m, NULL);
    const __m512 amax = qk_x86_tree16(m, 0);
    const __mmask16 live = (__mmask16)((1u << n) - 1);
    if (f == QKERN_I8) { /* qk_i8_params: s, stored as 0 where 1/s is not usable */
        const __m512 s = _mm512_div_ps(amax, _mm512_set1_ps((float)QK_I8_QMAX));
        const __mmask16 ok = _mm512_cmp_ps_mask(qk_int_inv16(s), _mm512_setzero_ps(), _CMP_NEQ_OQ);
        _mm512_mask_storeu_ps((float *)t->scales + slot, live, _mm512_maskz_mov_ps(ok, s));
    } else { /* I4 symmetric: qk_i4_sym_scale */
        const __m512 s = _mm512_div_ps(_mm512_mul_ps(_mm512_set1_ps(2.0f), amax), _mm512_set1_ps(15.0f));
        _mm256_mask_storeu_epi16((uint16_t *)t->scales + slot, live, qk_i4_scale16(s));
    }
}

/* The same for n ≤ 16 dynamic groups of asymmetric I4: lo = min(x, 0) and hi = max(x, 0)
 * over each group's finite elements (lo as −max(−x, 0)), two trees, then
 * qk_i4_asym_scale and qk_i4_asym_zero_for on 16 lanes (f16 by vcvtps2ph, RNE). Adding +0
 * makes a zero lo or hi +0, as the scalar rule's comparisons leave it, so hi − lo is never
 * −0 whichever ±0 elements the trees pick. Per group the scale and zero point had cost
 * about 100 cycles of dependent scalar work against 30 for the codes: 4096², 1 thread,
 * 50.6 → 61.5 % of the copy bandwidth. */
static void qk_asym4_params16(const float *x, int64_t g, int n, const qkern_qtensor *t, size_t slot) {
    const __m512 zero = _mm512_setzero_ps(), sign = _mm512_set1_ps(-0.0f);
    __m512 nl[16], ph[16];
    qk_group_max16(x, g, n, 1, nl, ph);
    const __m512 lo = _mm512_add_ps(_mm512_xor_ps(qk_x86_tree16(nl, 0), sign), zero);
    const __m512 hi = _mm512_add_ps(qk_x86_tree16(ph, 0), zero);
    const __mmask16 live = (__mmask16)((1u << n) - 1);
    /* qk_i4_asym_scale, then qk_i4_asym_zero_for(lo, qk_int_inv(scale)) = qk_int_code(−lo·inv, 0, 15) */
    const __m256i h = qk_i4_scale16(_mm512_div_ps(_mm512_sub_ps(hi, lo), _mm512_set1_ps(15.0f)));
    _mm256_mask_storeu_epi16((uint16_t *)t->scales + slot, live, h);
    const __m512i z = qk_codes(_mm512_xor_ps(lo, sign), qk_int_inv16(_mm512_cvtph_ps(h)), 0.0f, (float)QK_I4_QMAX);
    _mm512_mask_cvtepi32_storeu_epi8((uint8_t *)t->zeros + slot, live, z);
}

void qk_x86_quant_int__avx512vnni(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0,
                                  int64_t r1) {
    const int is_static = (dst->desc.flags & QKERN_QUANT_STATIC_SCALES) || L->group == 0;
    const int asym = (dst->desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    const int64_t cols = L->cols, g = L->group ? L->group : cols, nb = L->group ? L->groups_per_row : 1;
    const qkern_format f = L->format;
    const int batch = !is_static && nb >= 4 && g % 16 == 0 && (f == QKERN_I8 || f == QKERN_I4);
    const qk_nf4_bins bins = f == QKERN_NF4 ? qk_nf4_bins_make() : (qk_nf4_bins){0};
    for (int64_t r = r0; r < r1; r++) {
        const float *x = src + (size_t)r * (size_t)cols;
        uint8_t *row = (uint8_t *)dst->data + (size_t)r * L->row_bytes;
        for (int64_t b = 0; b < nb; b++) {
            size_t slot = L->group ? (size_t)(r * L->groups_per_row + b) : 0;
            if (batch && b % 16 == 0) {
                const int n = nb - b < 16 ? (int)(nb - b) : 16;
                if (asym) qk_asym4_params16(x + b * g, g, n, dst, slot);
                else qk_sym_scales16(x + b * g, g, n, f, dst, slot);
            }
            qk_quant_group(x + b * g, row, b * g, g, dst, slot, is_static || batch, f, asym, &bins);
        }
    }
}

void qk_x86_dequant_i8_asym__avx512vnni(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0,
                                        int64_t r1) {
    const int64_t cols = L->cols;
    for (int64_t r = r0; r < r1; r++) {
        const int8_t *q = (const int8_t *)src->data + (size_t)r * L->row_bytes;
        size_t slot = L->group ? (size_t)r : 0;
        const __m512 s = _mm512_set1_ps(ld_f32(src->scales, slot));
        const __m512i z = _mm512_set1_epi32(qk_i8_asym_zero(ld_i32(src->zeros, slot)));
        float *y = dst + (size_t)r * (size_t)cols;
        for (int64_t i = 0; i < cols; i += 16) {
            __mmask16 m = qk_tail(cols - i);
            __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, q + i));
            _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, z)), s));
        }
    }
}
