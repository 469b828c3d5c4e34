/* Float-activation matmul (W8A32, W4A32, NF4, FP8 weights) on AVX-512: the packed codes
 * are decoded in registers to f32 (sign-extension for int8, minus the int32 zero point for
 * I8_ASYM; one vpermps on a 16-entry table for nibbles and NF4; FP8 by exponent rebias, or
 * at M = 1 through f16) and multiplied with f32 FMA. Each group accumulates Σ x·code
 * unscaled; the group scale is applied once per group (docs/matmul.md: f32 accumulation,
 * order free).
 * Per 16 weights the floor is one FMA plus one or two decode µops on the same four pipes,
 * so M = 1 is compute-bound at one thread on a core with one zmm FMA per cycle (Zen 4:
 * 17-19 GB/s of 4-bit, 24-28 of int8 measured) and memory-bound at two. The tile shape is
 * the CPU's tunable (mr × 16·nr_panels: 4x32 in the common set, 8x16 on AMD Zen). */
#include <immintrin.h>
#include <string.h>

#include "backends/x86/fp8_decode_x86.h"
#include "backends/x86/x86.h"

#define QK_AI __attribute__((always_inline)) static inline


/* Compile-time code kinds, so a tile's inner loop tests nothing: the asymmetric I4 zero
 * point (NIBZ) had been a per-weight `P->zero_mode` load and taken branch, 8 per 64 B. */
enum { QK_F_INT8 = 0, QK_F_NIB = 1, QK_F_NF4 = 2, QK_F_E4M3 = 3, QK_F_E5M2 = 4, QK_F_INT8Z = 5, QK_F_NIBZ = 6 };

/* Byte t of every dword lane (int8 or FP8 codes), decoded to f32 (z: I8_ASYM's per-column
 * int32 zero points; finite: the pack holds no non-finite FP8 code). */
QK_AI __m512 qk_x86_decode(__m512i v, int t, const int KIND, __m512i z, int finite) {
    if (KIND == QK_F_INT8 || KIND == QK_F_INT8Z) {
        __m512i q = _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * t), 24);
        /* I8_ASYM: q − z exact in int32 before the conversion, as the scalar dequantiser */
        return _mm512_cvtepi32_ps(KIND == QK_F_INT8Z ? _mm512_sub_epi32(q, z) : q);
    }
    return qk_x86_fp8_lane_f32(v, t, KIND == QK_F_E4M3, finite);
}

/* Four column quads' partial sums, lane 4j + t of a[u] = column 4u + j at k ≡ t (mod 4),
 * reduced over t into lane 4u + j. */
QK_AI __m512 qk_x86_hsum_quads(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    __m512 s01 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
    __m512 s23 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    __m512 r = _mm512_add_ps(_mm512_shuffle_ps(s01, s23, 0x44), _mm512_shuffle_ps(s01, s23, 0xEE));
    /* r's lane 4j + u holds column 4u + j */
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

/* 16 byte codes (4 columns × 4 k of a c4 chunk) as f32 in byte order. FP8 goes through
 * f16, whose vcvtph2ps is exact for both: E5M2 is f16's top byte; E4M3's S.EEEE.MMM moved to
 * f16's S.0EEEE.MMM is the value × 2^-8 (subnormals included, NaN not: fp8_nan packs keep
 * the bitwise decode), the 2^8 going into the group scale. */
QK_AI __m512 qk_x86_decode16(const uint8_t *q, const int KIND, __m512i z) {
    __m128i b = _mm_loadu_si128((const __m128i *)q);
    if (KIND == QK_F_INT8Z) return _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepi8_epi32(b), z));
    if (KIND == QK_F_E5M2) return _mm512_cvtph_ps(_mm256_slli_epi16(_mm256_cvtepu8_epi16(b), 8));
    if (KIND == QK_F_E4M3) /* sign-extended word << 7: the sign lands in bits 15 and 14, 14 cleared */
        return _mm512_cvtph_ps(_mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(b), 7),
                                                _mm256_set1_epi16((short)0xBFFF)));
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
}

/* M = 1 over byte codes (I8, I8_ASYM, Q8_0, FP8): 16 bytes of a c4 chunk decode straight
 * from memory into one zmm that meets x[4c..4c+3] repeated, so a weight costs one widening load, one
 * conversion (two or three ops for FP8) and one FMA, where the broadcast form needs two
 * shifts more (FP8: eight). */
QK_AI void qk_x86_gemv_f32_c4(const qk_x86_packed *P, const float *xa, int64_t p0, float *y, __mmask16 last_mask,
                              const int NP, const int KIND) {
    const int64_t groups = P->groups, g = P->g;
    const size_t gb = P->group_bytes, pb = P->panel_bytes, cb = P->code_bytes;
    const uint8_t *pan = P->w + (size_t)p0 * pb;
    const __m512 unit = _mm512_set1_ps(KIND == QK_F_E4M3 ? 256.0f : 1.0f);
    __m512 facc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    const int64_t pf = P->tune->prefetch; /* bytes ahead in each panel stream */
    for (int64_t G = 0; G < groups; G++) {
        const float *xg = xa + G * g;
        __m512 acc[2][4];
        __m512i zq[2][4]; /* I8_ASYM: lane 4j + t of quad u holds column 4u + j's zero point */
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++)
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) {
                acc[p][u] = _mm512_setzero_ps();
                zq[p][u] = _mm512_setzero_si512();
                if (KIND == QK_F_INT8Z) {
                    const uint8_t *zp = pan + (size_t)p * pb + (size_t)G * gb + cb + 64;
                    const __m512i lanes = _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 2);
                    zq[p][u] = _mm512_permutexvar_epi32(_mm512_add_epi32(lanes, _mm512_set1_epi32(4 * u)),
                                                        _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)zp)));
                }
            }
        for (int64_t c = 0; c < g / 4; c++) {
            __m512 x4 = _mm512_broadcast_f32x4(_mm_loadu_ps(xg + 4 * c));
#pragma GCC unroll 4
            for (int p = 0; p < NP; p++) {
                const uint8_t *q = pan + (size_t)p * pb + (size_t)G * gb + (size_t)c * 64;
                if (pf) _mm_prefetch((const char *)q + pf, _MM_HINT_T0);
#pragma GCC unroll 4
                for (int u = 0; u < 4; u++) acc[p][u] = _mm512_fmadd_ps(x4, qk_x86_decode16(q + 16 * u, KIND, zq[p][u]), acc[p][u]);
            }
        }
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) {
            const uint8_t *sc = pan + (size_t)p * pb + (size_t)G * gb + cb;
            __m512 sw = qk_x86_scales16(sc, P->scale_f16);
            facc[p] = _mm512_fmadd_ps(qk_x86_hsum_quads(acc[p][0], acc[p][1], acc[p][2], acc[p][3]),
                                      _mm512_mul_ps(sw, unit), facc[p]);
        }
    }
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) {
        __m512 r = _mm512_add_ps(facc[p], _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR));
        if (p == NP - 1) _mm512_mask_storeu_ps(y + p * QK_X86_NR, last_mask, r);
        else _mm512_storeu_ps(y + p * QK_X86_NR, r);
    }
}

/* Whether a one-row tile of this code kind runs qk_x86_gemv_f32_c4 */
QK_AI int qk_x86_f32_c4(const qk_x86_packed *P, int kind) {
    return kind == QK_F_INT8 || kind == QK_F_INT8Z || kind == QK_F_E5M2 || (kind == QK_F_E4M3 && !P->fp8_nan);
}

/* Independent accumulator chains per tile output: a decode GEMV (MR × NP = 1 or 2) would
 * otherwise wait on one FMA's 4-cycle latency per 16 weights. */
#define QK_F_SPLIT(MR, NP) ((MR) * (NP) <= 2 ? 4 : (MR) * (NP) <= 4 ? 2 : 1)

QK_AI void qk_x86_tile_f32(const qk_x86_packed *P, const float *xa, int64_t ldx, int64_t p0, float *y, int64_t ldy,
                           __mmask16 last_mask, const int MR, const int NP, const int KIND) {
    const int S = QK_F_SPLIT(MR, NP);
    if (MR == 1 && qk_x86_f32_c4(P, KIND)) {
        qk_x86_gemv_f32_c4(P, xa, p0, y, last_mask, NP, KIND);
        return;
    }
    const int64_t groups = P->groups, g = P->g;
    const size_t gb = P->group_bytes, pb = P->panel_bytes, cb = P->code_bytes;
    const int f16 = P->scale_f16;
    const int64_t pf = MR == 1 ? P->tune->prefetch : 0; /* the GEMV's bytes ahead per panel stream */
    const uint8_t *pan = P->w + (size_t)p0 * pb;
    /* Nibbles (and NF4) decode by one vpermps on the pack's 16-entry table (only bits 3:0
     * of each lane index it); per-column zero points are subtracted after it in f32
     * (exact: small integers). */
    const __m512 lut = _mm512_loadu_ps(P->lut);
    __m512 facc[8][2], gacc[8][2][4]; /* fixed size: registers once unrolled */
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) facc[m][p] = _mm512_setzero_ps();
    for (int64_t G = 0; G < groups; G++) {
        const uint8_t *gp[2];
        __m512i zv[2];
        __m512 zf[2];
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) {
            gp[p] = pan + (size_t)p * pb + (size_t)G * gb;
            zv[p] = _mm512_setzero_si512();
            zf[p] = _mm512_setzero_ps();
            if (KIND == QK_F_INT8Z) zv[p] = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(gp[p] + cb + 64)));
            if (KIND == QK_F_NIBZ)
                zf[p] = _mm512_cvtepi32_ps(
                    _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(gp[p] + cb + (f16 ? 32 : 64)))));
        }
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
            for (int p = 0; p < NP; p++)
#pragma GCC unroll 4
                for (int s = 0; s < S; s++) gacc[m][p][s] = _mm512_setzero_ps();
        const float *xg = xa + G * g;
        if (KIND == QK_F_INT8 || KIND == QK_F_INT8Z || KIND == QK_F_E4M3 || KIND == QK_F_E5M2) {
            for (int64_t c = 0; c < g / 4; c++) {
                __m512i v[2];
#pragma GCC unroll 4
                for (int p = 0; p < NP; p++) v[p] = _mm512_loadu_si512(gp[p] + c * 64);
#pragma GCC unroll 4
                for (int t = 0; t < 4; t++) {
                    __m512 w[2];
#pragma GCC unroll 4
                    for (int p = 0; p < NP; p++) w[p] = qk_x86_decode(v[p], t, KIND, zv[p], !P->fp8_nan);
#pragma GCC unroll 8
                    for (int m = 0; m < MR; m++) {
                        __m512 xb = _mm512_set1_ps(xg[m * ldx + c * 4 + t]);
#pragma GCC unroll 4
                        for (int p = 0; p < NP; p++)
                            gacc[m][p][t % S] = _mm512_fmadd_ps(xb, w[p], gacc[m][p][t % S]);
                    }
                }
            }
        } else {
            for (int64_t c = 0; c < g / 8; c++) {
                __m512i raw[2];
#pragma GCC unroll 4
                for (int p = 0; p < NP; p++) {
                    if (pf) _mm_prefetch((const char *)gp[p] + c * 64 + pf, _MM_HINT_T0);
                    raw[p] = _mm512_loadu_si512(gp[p] + c * 64);
                }
                /* k = 8c + t: byte t & 3 of the column's dword, low nibble for t < 4 */
#pragma GCC unroll 8
                for (int t = 0; t < 8; t++) {
                    __m512 w[2];
#pragma GCC unroll 4
                    for (int p = 0; p < NP; p++) {
                        w[p] = _mm512_permutexvar_ps(_mm512_srli_epi32(raw[p], 8 * (t & 3) + 4 * (t >> 2)), lut);
                        if (KIND == QK_F_NIBZ) w[p] = _mm512_sub_ps(w[p], zf[p]);
                    }
#pragma GCC unroll 8
                    for (int m = 0; m < MR; m++) {
                        __m512 xb = _mm512_set1_ps(xg[m * ldx + c * 8 + t]);
#pragma GCC unroll 4
                        for (int p = 0; p < NP; p++)
                            gacc[m][p][t % S] = _mm512_fmadd_ps(xb, w[p], gacc[m][p][t % S]);
                    }
                }
            }
        }
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) {
            __m512 sw = qk_x86_scales16(gp[p] + cb, f16);
            __m512 mw = _mm512_setzero_ps();
            if (P->has_min) mw = qk_x86_scales16(gp[p] + cb + 32, 1);
#pragma GCC unroll 8
            for (int m = 0; m < MR; m++) {
                __m512 sum = gacc[m][p][0];
#pragma GCC unroll 4
                for (int s = 1; s < S; s++) sum = _mm512_add_ps(sum, gacc[m][p][s]);
                facc[m][p] = _mm512_fmadd_ps(sum, sw, facc[m][p]);
                if (P->has_min) /* Q4_1: w = d·q + m, so Σx·w gains m·Σ_G x (prepare_act's sums) */
                    facc[m][p] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xa[m * ldx + qk_x86_f32_gsum_off(P) + G]), facc[m][p]);
            }
        }
    }
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) {
            __m512 r = _mm512_add_ps(facc[m][p], _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR));
            if (p == NP - 1) _mm512_mask_storeu_ps(y + m * ldy + p * QK_X86_NR, last_mask, r);
            else _mm512_storeu_ps(y + m * ldy + p * QK_X86_NR, r);
        }
}

typedef void (*qk_x86_ftile_fn)(const qk_x86_packed *P, const float *xa, int64_t ldx, int64_t p0, float *y,
                                int64_t ldy, __mmask16 lm);
#define QK_FT(K, MR, NP)                                                                                      \
    static void qk_ft_##K##_##MR##x##NP(const qk_x86_packed *P, const float *xa, int64_t ldx, int64_t p0, float *y, \
                                        int64_t ldy, __mmask16 lm) {                                              \
        qk_x86_tile_f32(P, xa, ldx, p0, y, ldy, lm, MR, NP, K);                                                   \
    }
#define QK_FK(K)                                                                                                \
    QK_FT(K, 1, 1) QK_FT(K, 2, 1) QK_FT(K, 3, 1) QK_FT(K, 4, 1) QK_FT(K, 5, 1) QK_FT(K, 6, 1) QK_FT(K, 7, 1)       \
    QK_FT(K, 8, 1) QK_FT(K, 1, 2) QK_FT(K, 2, 2) QK_FT(K, 3, 2) QK_FT(K, 4, 2)                                    \
    static const qk_x86_ftile_fn qk_ft_##K[2][8] = {                                                            \
        {qk_ft_##K##_1x1, qk_ft_##K##_2x1, qk_ft_##K##_3x1, qk_ft_##K##_4x1, qk_ft_##K##_5x1, qk_ft_##K##_6x1,  \
         qk_ft_##K##_7x1, qk_ft_##K##_8x1},                                                                     \
        {qk_ft_##K##_1x2, qk_ft_##K##_2x2, qk_ft_##K##_3x2, qk_ft_##K##_4x2, NULL, NULL, NULL, NULL}};
QK_FK(0) QK_FK(1) QK_FK(2) QK_FK(3) QK_FK(4) QK_FK(5) QK_FK(6)

void qk_x86_compute_f32__avx512vnni(const qk_x86_packed *P, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                    int64_t n0, int64_t n1, float *y, int64_t ldy) {
    int kind;
    switch (P->codes) {
    case QK_X86_INT8: kind = P->zero_mode == 2 ? QK_F_INT8Z : QK_F_INT8; break;
    case QK_X86_NIB: kind = P->zero_mode == 2 ? QK_F_NIBZ : QK_F_NIB; break;
    case QK_X86_NF4: kind = QK_F_NF4; break;
    default: kind = P->format == QKERN_FP8_E4M3 ? QK_F_E4M3 : QK_F_E5M2; break;
    }
    static const qk_x86_ftile_fn(*const tabs[])[8] = {qk_ft_0, qk_ft_1, qk_ft_2, qk_ft_3, qk_ft_4, qk_ft_5, qk_ft_6};
    const qk_x86_ftile_fn(*tab)[8] = tabs[kind];
    /* A one-row call over byte codes runs the c4 GEMV, which reads gemv_panels panels at once */
    const int panels = m1 - m0 == 1 && qk_x86_f32_c4(P, kind) ? P->tune->gemv_panels : P->tune->nr_panels;
    const int tnp = panels >= 2 ? 2 : 1, mmax = tnp == 2 ? 4 : 8;
    const int mr = P->tune->mr < 1 ? 1 : P->tune->mr > mmax ? mmax : P->tune->mr;
    const int64_t nb = P->tune->n_block > 0 ? P->tune->n_block : n1 - n0;
    const int64_t mb = P->tune->m_block > 0 ? P->tune->m_block : m1 - m0;
    for (int64_t nb0 = n0; nb0 < n1; nb0 += nb) {
        int64_t nb1 = nb0 + nb < n1 ? nb0 + nb : n1;
        for (int64_t mb0 = m0; mb0 < m1; mb0 += mb) {
            int64_t mb1 = mb0 + mb < m1 ? mb0 + mb : m1;
            for (int64_t nn = nb0; nn < nb1; nn += tnp * QK_X86_NR) {
                int64_t cols = nb1 - nn;
                int np = tnp == 2 && cols > QK_X86_NR ? 2 : 1;
                int64_t last = cols - (np - 1) * QK_X86_NR;
                __mmask16 lm = last >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << last) - 1);
                for (int64_t r = mb0; r < mb1; r += mr) {
                    int rows = (int)(mb1 - r < mr ? mb1 - r : mr);
                    tab[np - 1][rows - 1](P, x + r * ldx, ldx, nn / QK_X86_NR, y + r * ldy + nn, ldy, lm);
                }
            }
        }
    }
}

/* FP8 × FP8 without AVX512_BF16: the pack's FP8 codes decoded to f32 (fp8_decode_x86.h) and
 * multiplied with f32 FMA in the vdpbf16ps kernel's order (k pairs): the same exact
 * products and sums. */
void qk_x86_compute_fp8_f32__avx512vnni(const qk_x86_packed *P, const uint8_t *scratch, int64_t m0, int64_t m1,
                                        int64_t n0, int64_t n1, float *y, int64_t ldy) {
    const size_t rb = qk_x86_act_row_bytes(P);
    const size_t qbytes = ((size_t)(P->g * 2) + 63) / 64 * 64;
    const int e4m3 = P->format == QKERN_FP8_E4M3, finite = !P->fp8_nan;
    for (int64_t nn = n0; nn < n1; nn += QK_X86_NR) {
        int64_t cols = n1 - nn;
        __mmask16 lm = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
        const uint8_t *pan = P->w + (size_t)(nn / QK_X86_NR) * P->panel_bytes;
        __m512 sw = _mm512_loadu_ps(pan + P->code_bytes);
        __m512 b = _mm512_load_ps(P->bias + nn);
        for (int64_t r = m0; r < m1; r += 4) {
            int rows = (int)(m1 - r < 4 ? m1 - r : 4);
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (int64_t c = 0; c < P->g / 4; c++) {
                const __m512i v = _mm512_loadu_si512(pan + c * 64);
                __m512 w[4];
                for (int t = 0; t < 4; t++) w[t] = qk_x86_fp8_lane_f32(v, t, e4m3, finite);
                for (int m = 0; m < rows; m++) {
                    const uint16_t *xa = (const uint16_t *)(scratch + (size_t)(r + m) * rb);
                    for (int h = 0; h < 2; h++) { /* the pairs (k0, k2), (k1, k3): xa holds x0, x2, x1, x3 */
                        __m512 x0 = _mm512_castsi512_ps(_mm512_set1_epi32((int)((uint32_t)xa[4 * c + 2 * h] << 16)));
                        __m512 x1 = _mm512_castsi512_ps(_mm512_set1_epi32((int)((uint32_t)xa[4 * c + 2 * h + 1] << 16)));
                        acc[m] = _mm512_fmadd_ps(x1, w[h + 2], _mm512_fmadd_ps(x0, w[h], acc[m]));
                    }
                }
            }
            for (int m = 0; m < rows; m++) {
                float sx;
                memcpy(&sx, scratch + (size_t)(r + m) * rb + qbytes, 4);
                __m512 v = _mm512_fmadd_ps(_mm512_mul_ps(acc[m], sw), _mm512_set1_ps(sx), b);
                _mm512_mask_storeu_ps(y + (r + m) * ldy + nn, lm, v);
            }
        }
    }
}
