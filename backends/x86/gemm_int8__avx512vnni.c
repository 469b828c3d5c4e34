/* Integer-activation matmul on AVX-512 VNNI: activation quantisation (I8_DYNAMIC,
 * Q8_0, Q8_1, and the f32 staging of the float modes) and the vpdpbusd GEMM / GEMV
 * micro-kernels for 8-bit and 4-bit weights.
 *
 * Arithmetic (docs/matmul.md): activations are stored as qx + 128 (unsigned for
 * vpdpbusd), so a group's dot product is Σ(qx+128)·qw = isum + 128·Σqw; GEMM kernels
 * start the accumulator at the packed -128·Σqw, GEMV kernels run one more
 * vpdpbusd with 0x80 bytes per chunk instead of streaming comp. Either way the int32
 * isum of every group is exactly the scalar one; only the f32 combination of the
 * groups is reordered (sx is applied once per output for I8_DYNAMIC). */
#include <immintrin.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/x86/q8_blocks_x86.h"
#include "backends/x86/x86.h"
#include "backends/x86/x86_quant.h"
#include "kernels/format_fp8.h"
#include "kernels/format_half.h"
#include "kernels/format_int.h"

#define QK_AI __attribute__((always_inline)) static inline

/* ---- activation quantisation ------------------------------------------------------- */

/* qk_i8_quant on 16 lanes: v = x·inv, NaN → 0, clamp to ±127 in f32, RNE (cvtps under
 * the default MXCSR), then + 128 so the byte is unsigned for vpdpbusd. */
static void qk_x86_quant_i8_row(const float *x, int64_t k, int64_t kp, float ix, uint8_t *q) {
    const __m512 vix = _mm512_set1_ps(ix), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    const __m512i off = _mm512_set1_epi32(128);
    int64_t i = 0;
    for (; i < k; i += 16) {
        __mmask16 t = k - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - i)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(t, x + i), vix);
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_setzero_ps());
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        __m512i r = _mm512_add_epi32(_mm512_cvtps_epi32(v), off);
        r = _mm512_mask_mov_epi32(off, t, r);
        if (kp - i >= 16) _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtepi32_epi8(r));
        else _mm512_mask_cvtepi32_storeu_epi8(q + i, (__mmask16)((1u << (kp - i)) - 1), r);
    }
    for (; i < kp; i++) q[i] = 128;
}

/* The signed part of an I8_DYNAMIC activation row (x86.h): qx = byte ^ 0x80 and, per
 * group, the record {−128·Σ qx, 0}; Σ qx = Σ bytes − 128·g, the byte sum by vpsadbw.
 * (Q8 rows get theirs from qk_x86_act_q8_row.) */
static void qk_x86_act_signed_row(const qk_x86_packed *P, uint8_t *row, size_t qbytes) {
    const int64_t groups = P->groups, g = P->g, kp = groups * g;
    uint8_t *sq = row + qk_x86_act_signed_off(P), *rec = sq + qbytes;
    const __m512i b80 = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    for (int64_t i = 0; i < kp; i += 64) {
        __mmask64 t = kp - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (kp - i)) - 1);
        _mm512_mask_storeu_epi8(sq + i, t, _mm512_xor_si512(_mm512_maskz_loadu_epi8(t, row + i), b80));
    }
    for (int64_t G = 0; G < groups; G++) {
        const uint8_t *u = row + G * g;
        __m512i s = zero;
        for (int64_t j = 0; j < g; j += 64) {
            __mmask64 t = g - j >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (g - j)) - 1);
            s = _mm512_add_epi64(s, _mm512_sad_epu8(_mm512_maskz_loadu_epi8(t, u + j), zero));
        }
        int32_t corr = (int32_t)(-128 * ((int64_t)_mm512_reduce_add_epi64(s) - 128 * g));
        const float dg = 0.0f; /* I8_DYNAMIC: one scale per row, applied per output */
        memcpy(rec + (size_t)G * 8, &corr, 4);
        memcpy(rec + (size_t)G * 8 + 4, &dg, 4);
    }
}

/* A Q8_0 / Q8_1 activation row, 16 blocks at a time (q8_blocks_x86.h): codes + 128, the
 * f16-rounded d per block (and s = d·Σq for Q8_1), which the kernels multiply by as ggml's
 * vec_dot does, and for nib_x8 packs the signed copy with its records {−128·Σq, d}. */
static void qk_x86_act_q8_row(const qk_x86_packed *P, const float *xr, uint8_t *row, size_t qbytes, float *sc) {
    const int64_t groups = P->groups;
    const int q81 = P->act == QKERN_ACT_Q8_1;
    uint8_t *sq = qk_x86_act_signed(P) ? row + qk_x86_act_signed_off(P) : NULL, *rec = sq ? sq + qbytes : NULL;
    for (int64_t b0 = 0; b0 < groups; b0 += 16) {
        const int n = groups - b0 < 16 ? (int)(groups - b0) : 16;
        const __mmask16 t = (__mmask16)((1u << n) - 1);
        __m512i sum = _mm512_setzero_si512();
        /* Σq only where it is stored: Q8_1's s, or the signed records */
        __m512 d = qk_x86_q8_blocks(xr + 32 * b0, n, row + 32 * b0, 32, 1, sq ? sq + 32 * b0 : NULL,
                                    q81 || rec ? &sum : NULL);
        __m512 dh = qk_x86_f16_round_ps(d);
        _mm512_mask_storeu_ps(sc + b0, t, dh);
        if (q81) _mm512_mask_storeu_ps(sc + groups + b0, t, qk_x86_f16_round_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), d)));
        if (rec) {
            /* {corr, d} pairs in block order: blocks 0-7, then 8-15, one two-source permute each */
            __m512i corr = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, 7)), dv = _mm512_castps_si512(dh);
            const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
            const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
            uint8_t *r = rec + (size_t)b0 * 8;
            _mm512_mask_storeu_epi32(r, (__mmask16)(n >= 8 ? 0xFFFF : (1u << (2 * n)) - 1),
                                     _mm512_permutex2var_epi32(corr, lo, dv));
            if (n > 8) _mm512_mask_storeu_epi32(r + 64, (__mmask16)((1u << (2 * (n - 8))) - 1),
                                                _mm512_permutex2var_epi32(corr, hi, dv));
        }
    }
}

void qk_x86_prepare_act__avx512vnni(const qk_x86_packed *P, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                    uint8_t *scratch) {
    const size_t rb = qk_x86_act_row_bytes(P);
    const int64_t K = P->k, kp = P->groups * P->g;
    const size_t qbytes = ((size_t)kp + 63) / 64 * 64;
    for (int64_t m = m0; m < m1; m++) {
        const float *xr = x + m * ldx;
        uint8_t *row = scratch + (size_t)m * rb;
        float *sc = (float *)(row + qbytes);
        switch (P->act) {
        case QKERN_ACT_FLOAT: {
            float *f = (float *)row;
            memcpy(f, xr, (size_t)K * sizeof(float));
            for (int64_t i = K; i < kp; i++) f[i] = 0.0f;
            if (P->has_min) /* Q4_1's m·Σ_G x: once per row here, not once per row and panel in the tile */
                for (int64_t G = 0; G < P->groups; G++) {
                    __m512 s = _mm512_setzero_ps();
                    for (int64_t k = 0; k < P->g; k += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(f + G * P->g + k));
                    f[qk_x86_f32_gsum_off(P) + G] = _mm512_reduce_add_ps(s);
                }
            break;
        }
        case QKERN_ACT_I8_DYNAMIC: {
            float sx, ix;
            qk_i8_params(qk_x86_amax_finite(xr, K), &sx, &ix);
            qk_x86_quant_i8_row(xr, K, kp, ix, row);
            sc[0] = sx;
            if (qk_x86_act_signed(P)) qk_x86_act_signed_row(P, row, qbytes);
            break;
        }
        case QKERN_ACT_Q8_0:
        case QKERN_ACT_Q8_1: qk_x86_act_q8_row(P, xr, row, qbytes, sc); break;
        case QKERN_ACT_FP8_E4M3:
        case QKERN_ACT_FP8_E5M2: {
            /* The FP8 quantiser with the row's static scale (format_fp8.h), widened to BF16. */
            float sx;
            qk_x86_fp8_act_row__avx512vnni(xr, K, kp, P->act == QKERN_ACT_FP8_E5M2, &sx, (uint16_t *)row);
            float *fs = (float *)(row + ((size_t)kp * 2 + 63) / 64 * 64);
            fs[0] = sx;
            break;
        }
        default: break;
        }
    }
}

/* ---- micro-kernels --------------------------------------------------------------------
 * One body, instantiated per (rows MR, panels NP, weight kind, activation kind, GEMV).
 * All loops have constant trip counts so the accumulators live in registers. */

/* weight kinds; QK_W8U: nib_x8 nibbles already unpacked to bytes 16·(code − 8) in a buffer
 * laid out like int8 panels (qk_x86_unpack_pair), scales still read from the packed panel */
enum { QK_W8 = 0, QK_W4Z8 = 1, QK_W4ZP = 2, QK_W4Z0 = 3, QK_W8U = 4 };
enum { QK_A_I8 = 0, QK_A_Q8_0 = 1, QK_A_Q8_1 = 2 };          /* activation kinds */

/* The group's zero points as bytes, replicated 4× in each dword lane. */
QK_AI __m512i qk_x86_zero_bytes(const uint8_t *z) {
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)z));
    return _mm512_mullo_epi32(v, _mm512_set1_epi32(0x01010101));
}

/* acc[m][p] += (activation dword at row m, byte off) · w[p], for MR rows and NP panels. */
QK_AI void qk_x86_dot_rows(__m512i acc[8][2], const uint8_t *x, size_t rb, int64_t off, const __m512i w[2],
                           const int MR, const int NP) {
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++) {
        int32_t xv;
        memcpy(&xv, x + (size_t)m * rb + off, 4);
        __m512i xb = _mm512_set1_epi32(xv);
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) acc[m][p] = _mm512_dpbusd_epi32(acc[m][p], xb, w[p]);
    }
}

/* GEMV: 0 = a GEMM tile (compensation loaded), 1 = a GEMV tile that recomputes the
 * compensation from the weights it streams, 2 = a GEMV tile on nib_x8 codes that needs none:
 * unsigned 16·code against the rows' signed activation copy, each sum starting at the
 * group's −128·Σ qx (x86.h, as the M = 8 asm tile). */
QK_AI void qk_x86_tile_int(const qk_x86_packed *P, const uint8_t *ub, const uint8_t *act, size_t rb, size_t qbytes,
                           int64_t p0, float *y, int64_t ldy, __mmask16 last_mask, const int MR, const int NP,
                           const int WK, const int AK, const int GEMV) {
    const int SG = GEMV == 2 && WK == QK_W4Z8;
    const int PAIRED = WK == QK_W4Z8 && AK == QK_A_Q8_0;
    const size_t so = SG ? qk_x86_act_signed_off(P) : 0; /* the signed copy; its records follow at + qbytes */
    const int64_t groups = P->groups, g = P->g;
    const size_t gb = P->group_bytes, pb = P->panel_bytes, cb = P->code_bytes;
    const int f16 = P->scale_f16;
    const uint8_t *pan = P->w + (size_t)p0 * pb;
    const int32_t *comp = P->comp ? P->comp + (size_t)p0 * (size_t)groups * QK_X86_NR : NULL;
    const __m512i nib = _mm512_set1_epi8(0x0F), hin = _mm512_set1_epi8((char)0xF0), b80 = _mm512_set1_epi8((char)0x80);
    const int64_t pf = GEMV ? P->tune->prefetch : 0; /* bytes ahead in the panel stream */
    /* Fixed-size arrays (not VLAs) so that, with every loop unrolled by its constant
     * bound, the compiler keeps each element in a register. */
    __m512 facc[8][2];
    __m512i acc[8][2], acc2[4][2];
    __m512i cacc[2], cacc2[2];
    /* I4 GEMV with few rows: the nibble halves go to separate accumulators, so that the
     * dependent vpdpbusd chain per group is half as long (g = 128, M = 1: 32 → 16 per
     * panel). Zen 4, weights in L3: 40 → 50 GB/s; from DRAM no change (26.5-27.2 GB/s
     * both). The 32-blocks of Q4_0 / Q4_1 have short chains already (48.8 vs 50.3). */
    const int SPLIT = GEMV && MR * NP <= 4 && WK != QK_W8 && WK != QK_W8U && AK == QK_A_I8;
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) facc[m][p] = _mm512_setzero_ps();

    for (int64_t G = 0; G < groups; G++) {
        const uint8_t *gp[2], *tp[2], *cp[2];
        __m512i zv[2];
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) {
            /* only Q4_0 × Q8_0 packs pair their groups (x86.h) */
            gp[p] = pan + (size_t)p * pb + (PAIRED ? qk_x86_code_off(P, G) : (size_t)G * gb);
            tp[p] = PAIRED ? pan + (size_t)p * pb + qk_x86_tail_off(P, G) : gp[p] + cb;
            cp[p] = WK == QK_W8U ? ub + ((size_t)p * (size_t)groups + (size_t)G) * (size_t)g * 16 : gp[p];
            zv[p] = WK == QK_W4ZP ? qk_x86_zero_bytes(tp[p] + (f16 ? 32 : 64)) : _mm512_setzero_si512();
            if (GEMV) cacc[p] = cacc2[p] = _mm512_setzero_si512();
        }
#pragma GCC unroll 16
        for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
            for (int p = 0; p < NP; p++)
            {
                int32_t corr = 0;
                if (SG) memcpy(&corr, act + (size_t)m * rb + so + qbytes + (size_t)G * 8, 4);
                acc[m][p] = SG     ? _mm512_set1_epi32(corr)
                            : GEMV ? _mm512_setzero_si512()
                                   : _mm512_load_si512(comp + ((size_t)p * groups + G) * QK_X86_NR);
                if (SPLIT) acc2[m & 3][p] = _mm512_setzero_si512();
            }
        const uint8_t *xa = act + (SG ? so : 0) + G * g;
        if (WK == QK_W8 || WK == QK_W8U) {
            for (int64_t c = 0; c < g / 4; c++) {
                __m512i w[2];
#pragma GCC unroll 4
                for (int p = 0; p < NP; p++) {
                    if (pf) _mm_prefetch((const char *)cp[p] + c * 64 + pf, _MM_HINT_T0);
                    w[p] = _mm512_loadu_si512(cp[p] + c * 64);
                    if (GEMV == 1) cacc[p] = _mm512_dpbusd_epi32(cacc[p], b80, w[p]);
                }
                qk_x86_dot_rows(acc, xa, rb, c * 4, w, MR, NP);
            }
        } else {
            for (int64_t v = 0; v < g / 8; v++) {
                __m512i wl[2], wh[2];
#pragma GCC unroll 4
                for (int p = 0; p < NP; p++) {
                    if (pf) _mm_prefetch((const char *)gp[p] + v * 64 + pf, _MM_HINT_T0);
                    __m512i raw = _mm512_loadu_si512(gp[p] + v * 64);
                    if (SG) { /* nib_x8 codes as unsigned 16·code: (v & 0xF0) ^ 0x80 */
                        wl[p] = _mm512_ternarylogic_epi32(_mm512_slli_epi16(raw, 4), hin, b80, 0x6A);
                        wh[p] = _mm512_ternarylogic_epi32(raw, hin, b80, 0x6A);
                    } else if (WK == QK_W4Z8) { /* nib_x8 codes: 16·(code - 8) by masking into the high nibble */
                        wl[p] = _mm512_and_si512(_mm512_slli_epi16(raw, 4), hin);
                        wh[p] = _mm512_and_si512(raw, hin);
                    } else {
                        wl[p] = _mm512_and_si512(raw, nib);
                        wh[p] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), nib);
                    }
                    if (WK == QK_W4ZP) {
                        wl[p] = _mm512_sub_epi8(wl[p], zv[p]);
                        wh[p] = _mm512_sub_epi8(wh[p], zv[p]);
                    }
                    if (GEMV == 1) {
                        cacc[p] = _mm512_dpbusd_epi32(cacc[p], b80, wl[p]);
                        if (SPLIT) cacc2[p] = _mm512_dpbusd_epi32(cacc2[p], b80, wh[p]);
                        else cacc[p] = _mm512_dpbusd_epi32(cacc[p], b80, wh[p]);
                    }
                }
#pragma GCC unroll 16
                for (int m = 0; m < MR; m++) {
                    int32_t xl, xh;
                    memcpy(&xl, xa + (size_t)m * rb + v * 8, 4);
                    memcpy(&xh, xa + (size_t)m * rb + v * 8 + 4, 4);
                    __m512i bl = _mm512_set1_epi32(xl), bh = _mm512_set1_epi32(xh);
#pragma GCC unroll 4
                    for (int p = 0; p < NP; p++) {
                        if (SG) { /* weights unsigned, activations signed */
                            acc[m][p] = _mm512_dpbusd_epi32(acc[m][p], wl[p], bl);
                            if (SPLIT) acc2[m & 3][p] = _mm512_dpbusd_epi32(acc2[m & 3][p], wh[p], bh);
                            else acc[m][p] = _mm512_dpbusd_epi32(acc[m][p], wh[p], bh);
                            continue;
                        }
                        acc[m][p] = _mm512_dpbusd_epi32(acc[m][p], bl, wl[p]);
                        if (SPLIT) acc2[m & 3][p] = _mm512_dpbusd_epi32(acc2[m & 3][p], bh, wh[p]);
                        else acc[m][p] = _mm512_dpbusd_epi32(acc[m][p], bh, wh[p]);
                    }
                }
            }
        }
        /* The group is done: isum is exact; fold it into the f32 sums. */
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) {
            __m512 sw = qk_x86_scales16(tp[p], f16);
            __m512 mw = _mm512_setzero_ps();
            if (AK == QK_A_Q8_1) mw = qk_x86_scales16(tp[p] + 32, 1);
#pragma GCC unroll 16
            for (int m = 0; m < MR; m++) {
                __m512i isum = GEMV == 1 ? _mm512_sub_epi32(acc[m][p], cacc[p]) : acc[m][p];
                if (SPLIT) isum = _mm512_add_epi32(isum, GEMV == 1 ? _mm512_sub_epi32(acc2[m & 3][p], cacc2[p]) : acc2[m & 3][p]);
                __m512 fs = _mm512_cvtepi32_ps(isum);
                if (AK == QK_A_I8) {
                    facc[m][p] = _mm512_fmadd_ps(fs, sw, facc[m][p]);
                } else {
                    const float *xs = (const float *)(act + (size_t)m * rb + qbytes);
                    __m512 dwx = _mm512_mul_ps(sw, _mm512_set1_ps(xs[G]));
                    facc[m][p] = _mm512_fmadd_ps(fs, dwx, facc[m][p]);
                    if (AK == QK_A_Q8_1) facc[m][p] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xs[groups + G]), facc[m][p]);
                }
            }
        }
    }
    /* y = bias + (sx ·) Σ; the nib_x8 sums are 16× (exact), scaled back first */
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++) {
        const float *xs = (const float *)(act + (size_t)m * rb + qbytes);
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) {
            __m512 b = _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR);
            __m512 f = WK == QK_W4Z8 || WK == QK_W8U ? _mm512_mul_ps(facc[m][p], _mm512_set1_ps(0.0625f)) : facc[m][p];
            __m512 r = AK == QK_A_I8 ? _mm512_fmadd_ps(f, _mm512_set1_ps(xs[0]), b) : _mm512_add_ps(f, b);
            if (p == NP - 1) _mm512_mask_storeu_ps(y + m * ldy + p * QK_X86_NR, last_mask, r);
            else _mm512_storeu_ps(y + m * ldy + p * QK_X86_NR, r);
        }
    }
}

typedef void (*qk_x86_tile_fn)(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                               float *y, int64_t ldy, __mmask16 last_mask);

/* A run of GEMV tiles over panels [p0, p1) in one call, NP panels (streams) at a time and
 * a last odd panel on its own (y at panel p0's columns; lm masks the last panel): the
 * weight stream never leaves the loop for a call per panel, which cost the one-thread M = 1
 * GEMV 3-5 % (docs/performance-x86.md, fourth session). */
typedef void (*qk_x86_run_fn)(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                              int64_t p1, float *y, int64_t ldy, __mmask16 last_mask);
#define QK_RUN(NAME, MR, NP, WK, AK, GV)                                                                       \
    static void NAME(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0, int64_t p1, \
                     float *y, int64_t ldy, __mmask16 lm) {                                                        \
        int64_t p = p0;                                                                                            \
        for (; p + NP <= p1; p += NP)                                                                              \
            qk_x86_tile_int(P, NULL, act, rb, qbytes, p, y + (p - p0) * QK_X86_NR, ldy,                            \
                            p + NP == p1 ? lm : (__mmask16)0xFFFF, MR, NP, WK, AK, GV);                            \
        if (p < p1) qk_x86_tile_int(P, NULL, act, rb, qbytes, p, y + (p - p0) * QK_X86_NR, ldy, lm, MR, 1, WK, AK, GV); \
    }

#define QK_TILE(NAME, MR, NP, WK, AK, GV)                                                                 \
    static void NAME(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0, float *y, \
                     int64_t ldy, __mmask16 lm) {                                                             \
        qk_x86_tile_int(P, NULL, act, rb, qbytes, p0, y, ldy, lm, MR, NP, WK, AK, GV);                       \
    }
/* Per family: GEMM tiles MR = 1..6 with two panels and one panel; GEMV runs MR = 1..8
 * over one panel at a time (gemv) or, at M ≤ 4, two (gemv2, two streams), so that M ≤ 8
 * reads every weight byte exactly once.
 * From 5 rows on, the GEMV tiles load the packed compensation (4 B per column and group)
 * instead of spending 2 vpdpbusd per 64 code bytes on it: there the tile is bound by
 * vpdpbusd, not by memory (docs/performance-x86.md). Up to 4 rows they recompute it, except
 * on nib_x8 codes (QK_W4Z8, whose activation rows always carry the signed copy, x86.h),
 * which need none (GEMV = 2). */
#define QK_GV(WK) ((WK) == QK_W4Z8 ? 2 : 1)
#define QK_FAMILY(F, WK, AK)                                                                                    \
    QK_TILE(F##_g1x2, 1, 2, WK, AK, 0) QK_TILE(F##_g2x2, 2, 2, WK, AK, 0) QK_TILE(F##_g3x2, 3, 2, WK, AK, 0)      \
    QK_TILE(F##_g4x2, 4, 2, WK, AK, 0) QK_TILE(F##_g5x2, 5, 2, WK, AK, 0) QK_TILE(F##_g6x2, 6, 2, WK, AK, 0)      \
    QK_TILE(F##_g1x1, 1, 1, WK, AK, 0) QK_TILE(F##_g2x1, 2, 1, WK, AK, 0) QK_TILE(F##_g3x1, 3, 1, WK, AK, 0)      \
    QK_TILE(F##_g4x1, 4, 1, WK, AK, 0) QK_TILE(F##_g5x1, 5, 1, WK, AK, 0) QK_TILE(F##_g6x1, 6, 1, WK, AK, 0)      \
    QK_RUN(F##_v1, 1, 1, WK, AK, QK_GV(WK)) QK_RUN(F##_v2, 2, 1, WK, AK, QK_GV(WK))                              \
    QK_RUN(F##_v3, 3, 1, WK, AK, QK_GV(WK)) QK_RUN(F##_v4, 4, 1, WK, AK, QK_GV(WK)) QK_RUN(F##_v5, 5, 1, WK, AK, 0)  \
    QK_RUN(F##_v6, 6, 1, WK, AK, 0) QK_RUN(F##_v7, 7, 1, WK, AK, 0) QK_RUN(F##_v8, 8, 1, WK, AK, 0)                \
    QK_RUN(F##_w1, 1, 2, WK, AK, QK_GV(WK)) QK_RUN(F##_w2, 2, 2, WK, AK, QK_GV(WK))                              \
    QK_RUN(F##_w3, 3, 2, WK, AK, QK_GV(WK)) QK_RUN(F##_w4, 4, 2, WK, AK, QK_GV(WK))                              \
    static const qk_x86_run_fn F##_gemv2[4] = {F##_w1, F##_w2, F##_w3, F##_w4};                                 \
    static const qk_x86_tile_fn F##_gemm[2][6] = {{F##_g1x1, F##_g2x1, F##_g3x1, F##_g4x1, F##_g5x1, F##_g6x1},  \
                                                  {F##_g1x2, F##_g2x2, F##_g3x2, F##_g4x2, F##_g5x2, F##_g6x2}}; \
    static const qk_x86_run_fn F##_gemv[8] = {F##_v1, F##_v2, F##_v3, F##_v4, F##_v5, F##_v6, F##_v7, F##_v8};

/* Q4_0 × Q8_0, 6 rows × 2 panels, whole K loop in inline asm: 12 int32 accumulators
 * (zmm0-11) and 12 f32 sums (zmm12-23) stay in registers across the 32-blocks, which the
 * intrinsics tile cannot get from GCC (it moves or spills them every block). Same
 * arithmetic, same order per output as qk_x86_tile_int: isum exact, then
 * sum += f32(isum)·(d_w·d_x). Valid for g = 32 with f16 scales in the paired layout
 * (x86.h, odd_shift = 32): a pair of blocks is 576 bytes, [codes][scales][scales][codes],
 * so the loop body takes a pair, the even block's codes at 0 and scales at 256, the odd
 * block's scales at 288 and codes at 320; an odd last block leaves after the even half. */
#define QK_Q6_ROW(A, B, X1, X2)                                                                            \
    "vpbroadcastd " X1 ", %%zmm28\n\t vpbroadcastd " X2 ", %%zmm29\n\t"                                   \
    "vpdpbusd %%zmm24, %%zmm28, %%zmm" #A "\n\t vpdpbusd %%zmm26, %%zmm28, %%zmm" #B "\n\t"               \
    "vpdpbusd %%zmm25, %%zmm29, %%zmm" #A "\n\t vpdpbusd %%zmm27, %%zmm29, %%zmm" #B "\n\t"
/* the six rows of one chunk: low-nibble weights (zmm24 / zmm26) meet the activation bytes
 * at X, high-nibble weights (zmm25 / zmm27) those at X + 4 */
#define QK_Q6_ROWS(X)                                                                                      \
    QK_Q6_ROW(0, 1, X "(%[x0])", X "+4(%[x0])") QK_Q6_ROW(2, 3, X "(%[x0],%[rb],1)", X "+4(%[x0],%[rb],1)") \
    QK_Q6_ROW(4, 5, X "(%[x0],%[rb],2)", X "+4(%[x0],%[rb],2)") QK_Q6_ROW(6, 7, X "(%[x3])", X "+4(%[x3])")  \
    QK_Q6_ROW(8, 9, X "(%[x3],%[rb],1)", X "+4(%[x3],%[rb],1)")                                            \
    QK_Q6_ROW(10, 11, X "(%[x3],%[rb],2)", X "+4(%[x3],%[rb],2)")
/* one 64-byte code chunk of both panels at W (an offset expression), activation bytes at X */
#define QK_Q6_CHUNK(W, X)                                                                                  \
    "vmovdqu64 " W "(%[w0]), %%zmm24\n\t vmovdqu64 " W "(%[w1]), %%zmm26\n\t"                              \
    "vpandd %%zmm30, %%zmm24, %%zmm25\n\t vpandd %%zmm30, %%zmm26, %%zmm27\n\t"                           \
    "vpsllw $4, %%zmm24, %%zmm24\n\t vpsllw $4, %%zmm26, %%zmm26\n\t"                                     \
    "vpandd %%zmm30, %%zmm24, %%zmm24\n\t vpandd %%zmm30, %%zmm26, %%zmm26\n\t"                           \
    QK_Q6_ROWS(X)
#define QK_Q6_FOLD(A, B, FA, FB, D)                                                                        \
    "vbroadcastss " D ", %%zmm28\n\t vmulps %%zmm28, %%zmm24, %%zmm26\n\t vmulps %%zmm28, %%zmm25, %%zmm27\n\t" \
    "vcvtdq2ps %%zmm" #A ", %%zmm" #A "\n\t vcvtdq2ps %%zmm" #B ", %%zmm" #B "\n\t"                        \
    "vfmadd231ps %%zmm26, %%zmm" #A ", %%zmm" #FA "\n\t vfmadd231ps %%zmm27, %%zmm" #B ", %%zmm" #FB "\n\t"
/* The 6x2 asm tiles' common parts: the f32 sums (zmm12-23) zeroed and stored to out[12],
 * the int32 sums of a block started at the compensation at C (c0 / c1), the block's folds
 * with the rows' d at D (d0 / d3), and the clobbers (every vector register). */
#define QK_Q6_SUMS_ZERO                                                                                    \
    "vpxord %%zmm12, %%zmm12, %%zmm12\n\t vpxord %%zmm13, %%zmm13, %%zmm13\n\t"                               \
    "vpxord %%zmm14, %%zmm14, %%zmm14\n\t vpxord %%zmm15, %%zmm15, %%zmm15\n\t"                               \
    "vpxord %%zmm16, %%zmm16, %%zmm16\n\t vpxord %%zmm17, %%zmm17, %%zmm17\n\t"                               \
    "vpxord %%zmm18, %%zmm18, %%zmm18\n\t vpxord %%zmm19, %%zmm19, %%zmm19\n\t"                               \
    "vpxord %%zmm20, %%zmm20, %%zmm20\n\t vpxord %%zmm21, %%zmm21, %%zmm21\n\t"                               \
    "vpxord %%zmm22, %%zmm22, %%zmm22\n\t vpxord %%zmm23, %%zmm23, %%zmm23\n\t"
/* B: the asm operand that holds out's address */
#define QK_Q6_SUMS_STORE(B)                                                                                \
    "vmovups %%zmm12, 0(%[" B "])\n\t vmovups %%zmm13, 64(%[" B "])\n\t"                                     \
    "vmovups %%zmm14, 128(%[" B "])\n\t vmovups %%zmm15, 192(%[" B "])\n\t"                                  \
    "vmovups %%zmm16, 256(%[" B "])\n\t vmovups %%zmm17, 320(%[" B "])\n\t"                                  \
    "vmovups %%zmm18, 384(%[" B "])\n\t vmovups %%zmm19, 448(%[" B "])\n\t"                                  \
    "vmovups %%zmm20, 512(%[" B "])\n\t vmovups %%zmm21, 576(%[" B "])\n\t"                                  \
    "vmovups %%zmm22, 640(%[" B "])\n\t vmovups %%zmm23, 704(%[" B "])\n\t"
#define QK_Q6_COMP(C)                                                                                      \
    "vmovdqa64 " C "(%[c0]), %%zmm0\n\t vmovdqa64 " C "(%[c1]), %%zmm1\n\t"                                \
    "vmovdqa64 %%zmm0, %%zmm2\n\t vmovdqa64 %%zmm1, %%zmm3\n\t vmovdqa64 %%zmm0, %%zmm4\n\t"               \
    "vmovdqa64 %%zmm1, %%zmm5\n\t vmovdqa64 %%zmm0, %%zmm6\n\t vmovdqa64 %%zmm1, %%zmm7\n\t"               \
    "vmovdqa64 %%zmm0, %%zmm8\n\t vmovdqa64 %%zmm1, %%zmm9\n\t vmovdqa64 %%zmm0, %%zmm10\n\t"              \
    "vmovdqa64 %%zmm1, %%zmm11\n\t"
#define QK_Q6_FOLDS(D)                                                                                     \
    QK_Q6_FOLD(0, 1, 12, 13, D "(%[d0])") QK_Q6_FOLD(2, 3, 14, 15, D "(%[d0],%[rb],1)")                   \
    QK_Q6_FOLD(4, 5, 16, 17, D "(%[d0],%[rb],2)") QK_Q6_FOLD(6, 7, 18, 19, D "(%[d3])")                    \
    QK_Q6_FOLD(8, 9, 20, 21, D "(%[d3],%[rb],1)") QK_Q6_FOLD(10, 11, 22, 23, D "(%[d3],%[rb],2)")
#define QK_Q6_CLOBBERS                                                                                     \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",  \
        "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",       \
        "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "cc", "memory"

/* y = bias + scale·out for the rows × 2 panels of an asm tile's f32 sums (scale 1/16 for
 * nib_x8's 16·isum; with scale 1 the fma is the plain add: an exact product) */
static void qk_x86_store_x2(const qk_x86_packed *P, const __m512 *out, int rows, float scale, int64_t p0, float *y,
                            int64_t ldy, __mmask16 last_mask) {
    for (int m = 0; m < rows; m++)
        for (int p = 0; p < 2; p++) {
            __m512 r = _mm512_fmadd_ps(out[2 * m + p], _mm512_set1_ps(scale), _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR));
            if (p == 1) _mm512_mask_storeu_ps(y + m * ldy + p * QK_X86_NR, last_mask, r);
            else _mm512_storeu_ps(y + m * ldy + p * QK_X86_NR, r);
        }
}

/* What the Q-format asm tiles walk: the panel pair's codes (w0, w1) and compensation (c0,
 * c1), rows 0 and 3's activation bytes (x0, x3) and block scales d (d0, d3), the blocks
 * left (n) and the activation row stride (rb). */
typedef struct qk_q6_ptrs {
    const uint8_t *w0, *w1;
    const int32_t *c0, *c1;
    const uint8_t *x0, *x3, *d0, *d3;
    int64_t n, rb;
} qk_q6_ptrs;
static inline qk_q6_ptrs qk_q6_ptrs_of(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes,
                                       int64_t p0) {
    qk_q6_ptrs q;
    q.w0 = P->w + (size_t)p0 * P->panel_bytes;
    q.w1 = q.w0 + P->panel_bytes;
    q.c0 = P->comp + (size_t)p0 * (size_t)P->groups * QK_X86_NR;
    q.c1 = q.c0 + (size_t)P->groups * QK_X86_NR;
    q.x0 = act;
    q.x3 = act + 3 * rb;
    q.d0 = act + qbytes;
    q.d3 = act + 3 * rb + qbytes;
    q.n = P->groups;
    q.rb = (int64_t)rb;
    return q;
}
/* the struct as asm operands: outputs (the walked pointers and n), and the input rb */
#define QK_Q6_PTR_OPERANDS(q)                                                                              \
    [w0] "+r"(q.w0), [w1] "+r"(q.w1), [c0] "+r"(q.c0), [c1] "+r"(q.c1), [x0] "+r"(q.x0), [x3] "+r"(q.x3),        \
        [d0] "+r"(q.d0), [d3] "+r"(q.d3), [n] "+r"(q.n)
#define QK_Q6_RB(q) [rb] "r"(q.rb)

/* One block: codes at W, scales at S (w0 / w1), compensation at C (c0 / c1), activation
 * bytes at X and the rows' d at D (d0 / d3). */
#define QK_Q6_BLOCK(W, S, C, X, D)                                                                         \
    QK_Q6_COMP(C)                                                                                          \
    QK_Q6_CHUNK(W "+0", X "+0") QK_Q6_CHUNK(W "+64", X "+8") QK_Q6_CHUNK(W "+128", X "+16")               \
    QK_Q6_CHUNK(W "+192", X "+24")                                                                         \
    "vcvtph2ps " S "(%[w0]), %%zmm24\n\t vcvtph2ps " S "(%[w1]), %%zmm25\n\t"                              \
    QK_Q6_FOLDS(D)
static void qk_q8_q4_6x2_asm(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                             float *y, int64_t ldy, __mmask16 last_mask) {
    qk_q6_ptrs q = qk_q6_ptrs_of(P, act, rb, qbytes, p0);
    __m512 out[12];
    const __m512i hin = _mm512_set1_epi8((char)0xF0);
    __asm__ volatile(
        "vmovdqa64 %[hin], %%zmm30\n\t"
        QK_Q6_SUMS_ZERO
        "1:\n\t"
        QK_Q6_BLOCK("0", "256", "0", "0", "0")
        "dec %[n]\n\t jz 3f\n\t"
        QK_Q6_BLOCK("320", "288", "64", "32", "4")
        "add $576, %[w0]\n\t add $576, %[w1]\n\t add $128, %[c0]\n\t add $128, %[c1]\n\t"
        "add $64, %[x0]\n\t add $64, %[x3]\n\t add $8, %[d0]\n\t add $8, %[d3]\n\t"
        "dec %[n]\n\t jnz 1b\n\t"
        "3:\n\t"
        QK_Q6_SUMS_STORE("out")
        : QK_Q6_PTR_OPERANDS(q)
        : QK_Q6_RB(q), [out] "r"(out), [hin] "m"(hin)
        : QK_Q6_CLOBBERS);
    qk_x86_store_x2(P, out, 6, 0.0625f, p0, y, ldy, last_mask); /* nib_x8: 16·isum */
}

/* Q8_0 × Q8_0, 6 rows × 2 panels, the whole K loop in inline asm like the Q4_0 tile above
 * (the same registers, and the same arithmetic and order per output as qk_x86_tile_int): a
 * panel's 32-block is 512 code bytes (8 chunks of 4 k, loaded as they are) and then 32 bytes
 * of f16 scales (codes first: Q8_0 packs are not paired); the activation block is 32 bytes. */
#define QK_Q8_ROW(A, B, X)                                                                                  \
    "vpbroadcastd " X ", %%zmm28\n\t"                                                                       \
    "vpdpbusd %%zmm24, %%zmm28, %%zmm" #A "\n\t vpdpbusd %%zmm26, %%zmm28, %%zmm" #B "\n\t"
#define QK_Q8_CHUNK(W, X)                                                                                   \
    "vmovdqu64 " W "(%[w0]), %%zmm24\n\t vmovdqu64 " W "(%[w1]), %%zmm26\n\t"                               \
    QK_Q8_ROW(0, 1, X "(%[x0])") QK_Q8_ROW(2, 3, X "(%[x0],%[rb],1)") QK_Q8_ROW(4, 5, X "(%[x0],%[rb],2)")     \
    QK_Q8_ROW(6, 7, X "(%[x3])") QK_Q8_ROW(8, 9, X "(%[x3],%[rb],1)") QK_Q8_ROW(10, 11, X "(%[x3],%[rb],2)")
static void qk_q8_q8_6x2_asm(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                             float *y, int64_t ldy, __mmask16 last_mask) {
    qk_q6_ptrs q = qk_q6_ptrs_of(P, act, rb, qbytes, p0);
    __m512 out[12];
    __asm__ volatile(
        QK_Q6_SUMS_ZERO
        "1:\n\t"
        QK_Q6_COMP("")
        QK_Q8_CHUNK("0", "0") QK_Q8_CHUNK("64", "4") QK_Q8_CHUNK("128", "8") QK_Q8_CHUNK("192", "12")
        QK_Q8_CHUNK("256", "16") QK_Q8_CHUNK("320", "20") QK_Q8_CHUNK("384", "24") QK_Q8_CHUNK("448", "28")
        "vcvtph2ps 512(%[w0]), %%zmm24\n\t vcvtph2ps 512(%[w1]), %%zmm25\n\t"
        QK_Q6_FOLDS("")
        "add $544, %[w0]\n\t add $544, %[w1]\n\t add $64, %[c0]\n\t add $64, %[c1]\n\t"
        "add $32, %[x0]\n\t add $32, %[x3]\n\t add $4, %[d0]\n\t add $4, %[d3]\n\t"
        "dec %[n]\n\t jnz 1b\n\t"
        QK_Q6_SUMS_STORE("out")
        : QK_Q6_PTR_OPERANDS(q)
        : QK_Q6_RB(q), [out] "r"(out)
        : QK_Q6_CLOBBERS);
    qk_x86_store_x2(P, out, 6, 1.0f, p0, y, ldy, last_mask);
}

/* Q4_1 × Q8_1, 6 rows × 2 panels in inline asm, as the tiles above (same arithmetic and
 * order per output as qk_x86_tile_int): a panel's 32-block is 256 bytes of plain nibbles,
 * then 32 bytes of f16 scales and 32 of f16 mins (320 bytes, whole lines); per block each
 * output also gains m_w·s_x, s_x being the activation block's stored f16(d·Σq) (rows at
 * s0 / s3). */
#define QK_Q41_CHUNK(W, X)                                                                                  \
    "vmovdqu64 " W "(%[w0]), %%zmm24\n\t vmovdqu64 " W "(%[w1]), %%zmm26\n\t"                               \
    "vpsrlw $4, %%zmm24, %%zmm25\n\t vpsrlw $4, %%zmm26, %%zmm27\n\t"                                     \
    "vpandd %%zmm30, %%zmm24, %%zmm24\n\t vpandd %%zmm30, %%zmm26, %%zmm26\n\t"                           \
    "vpandd %%zmm30, %%zmm25, %%zmm25\n\t vpandd %%zmm30, %%zmm27, %%zmm27\n\t"                           \
    QK_Q6_ROWS(X)
/* m_w·s_x of one row into its two f32 sums (mins of the panels in zmm29 / zmm31) */
#define QK_Q41_MIN(FA, FB, S)                                                                               \
    "vbroadcastss " S ", %%zmm28\n\t"                                                                       \
    "vfmadd231ps %%zmm28, %%zmm29, %%zmm" #FA "\n\t vfmadd231ps %%zmm28, %%zmm31, %%zmm" #FB "\n\t"
static void qk_q81_q41_6x2_asm(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                               float *y, int64_t ldy, __mmask16 last_mask) {
    qk_q6_ptrs q = qk_q6_ptrs_of(P, act, rb, qbytes, p0);
    const uint8_t *s0 = q.d0 + (size_t)P->groups * 4, *s3 = q.d3 + (size_t)P->groups * 4;
    __m512 out[12];
    const __m512i nib = _mm512_set1_epi8(0x0F);
    __asm__ volatile(
        "vmovdqa64 %[nib], %%zmm30\n\t"
        QK_Q6_SUMS_ZERO
        "1:\n\t"
        QK_Q6_COMP("")
        QK_Q41_CHUNK("0", "0") QK_Q41_CHUNK("64", "8") QK_Q41_CHUNK("128", "16") QK_Q41_CHUNK("192", "24")
        "vcvtph2ps 256(%[w0]), %%zmm24\n\t vcvtph2ps 256(%[w1]), %%zmm25\n\t"
        "vcvtph2ps 288(%[w0]), %%zmm29\n\t vcvtph2ps 288(%[w1]), %%zmm31\n\t"
        QK_Q6_FOLD(0, 1, 12, 13, "(%[d0])") QK_Q41_MIN(12, 13, "(%[s0])")
        QK_Q6_FOLD(2, 3, 14, 15, "(%[d0],%[rb],1)") QK_Q41_MIN(14, 15, "(%[s0],%[rb],1)")
        QK_Q6_FOLD(4, 5, 16, 17, "(%[d0],%[rb],2)") QK_Q41_MIN(16, 17, "(%[s0],%[rb],2)")
        QK_Q6_FOLD(6, 7, 18, 19, "(%[d3])") QK_Q41_MIN(18, 19, "(%[s3])")
        QK_Q6_FOLD(8, 9, 20, 21, "(%[d3],%[rb],1)") QK_Q41_MIN(20, 21, "(%[s3],%[rb],1)")
        QK_Q6_FOLD(10, 11, 22, 23, "(%[d3],%[rb],2)") QK_Q41_MIN(22, 23, "(%[s3],%[rb],2)")
        "add $320, %[w0]\n\t add $320, %[w1]\n\t add $64, %[c0]\n\t add $64, %[c1]\n\t"
        "add $32, %[x0]\n\t add $32, %[x3]\n\t add $4, %[d0]\n\t add $4, %[d3]\n\t"
        "add $4, %[s0]\n\t add $4, %[s3]\n\t"
        "dec %[n]\n\t jnz 1b\n\t"
        QK_Q6_SUMS_STORE("out")
        : QK_Q6_PTR_OPERANDS(q), [s0] "+r"(s0), [s3] "+r"(s3)
        : QK_Q6_RB(q), [out] "r"(out), [nib] "m"(nib)
        : QK_Q6_CLOBBERS);
    qk_x86_store_x2(P, out, 6, 1.0f, p0, y, ldy, last_mask);
}

/* The remainder rows of the Q4_0 × Q8_0 GEMM (2 or 4 rows × 2 panels) in inline asm too:
 * with intrinsics the 2-row tile ran at about 40 % of the 6-row tile's rate, which cost
 * 4 % of the time at M = 128 (128 = 21·6 + 2). Same registers and arithmetic as the 6x2
 * tile, one nibble vector per inner iteration: int32 sums of row r in zmm(2r), zmm(2r+1),
 * f32 sums in zmm(8+2r), zmm(9+2r). A pair of blocks per outer iteration, as the 6x2 tile:
 * the even block's scales follow its codes, the odd block's precede them. */
#define QK_QS_ROW(A, B, X)                                                                                    \
    "vpbroadcastd " X ", %%zmm28\n\t vpbroadcastd 4+" X ", %%zmm29\n\t"                                     \
    "vpdpbusd %%zmm24, %%zmm28, %%zmm" #A "\n\t vpdpbusd %%zmm26, %%zmm28, %%zmm" #B "\n\t"                 \
    "vpdpbusd %%zmm25, %%zmm29, %%zmm" #A "\n\t vpdpbusd %%zmm27, %%zmm29, %%zmm" #B "\n\t"
#define QK_QS_FOLD(A, B, FA, FB, D)                                                                           \
    "vbroadcastss " D ", %%zmm28\n\t vmulps %%zmm28, %%zmm16, %%zmm18\n\t vmulps %%zmm28, %%zmm17, %%zmm19\n\t" \
    "vcvtdq2ps %%zmm" #A ", %%zmm" #A "\n\t vcvtdq2ps %%zmm" #B ", %%zmm" #B "\n\t"                         \
    "vfmadd231ps %%zmm18, %%zmm" #A ", %%zmm" #FA "\n\t vfmadd231ps %%zmm19, %%zmm" #B ", %%zmm" #FB "\n\t"
/* a block's int32 sums start at the compensation, then its codes are walked (label L) */
#define QK_QS_HEAD(COPIES, L)                                                                                 \
    "vmovdqa64 (%[c0]), %%zmm0\n\t vmovdqa64 (%[c1]), %%zmm1\n\t" COPIES                                    \
    "mov %[nv], %[iv]\n\t"                                                                                  \
    L ":\n\t"                                                                                               \
    "vmovdqu64 (%[w0]), %%zmm24\n\t vmovdqu64 (%[w1]), %%zmm26\n\t"                                          \
    "vpandd %%zmm30, %%zmm24, %%zmm25\n\t vpandd %%zmm30, %%zmm26, %%zmm27\n\t"                             \
    "vpsllw $4, %%zmm24, %%zmm24\n\t vpsllw $4, %%zmm26, %%zmm26\n\t"                                       \
    "vpandd %%zmm30, %%zmm24, %%zmm24\n\t vpandd %%zmm30, %%zmm26, %%zmm26\n\t"
#define QK_QS_MID(L)                                                                                          \
    "add $64, %[w0]\n\t add $64, %[w1]\n\t add $8, %[x0]\n\t add $8, %[x3]\n\t"                            \
    "dec %[iv]\n\t jnz " L "b\n\t"
#define QK_QS_NEXT "add $64, %[c0]\n\t add $64, %[c1]\n\t add $4, %[d0]\n\t add $4, %[d3]\n\t"
/* even block: scales after the codes, then past both scale vectors to the odd codes; odd
 * block: scales 32 bytes before its codes, loaded first */
#define QK_QS_PAIR(COPIES, ROWS, FOLDS)                                                                       \
    "vmovdqa64 %[hin], %%zmm30\n\t"                                                                         \
    "1:\n\t" QK_QS_HEAD(COPIES, "2") ROWS QK_QS_MID("2")                                                      \
    "vcvtph2ps (%[w0]), %%zmm16\n\t vcvtph2ps (%[w1]), %%zmm17\n\t" FOLDS QK_QS_NEXT                        \
    "add $64, %[w0]\n\t add $64, %[w1]\n\t"                                                                 \
    "dec %[n]\n\t jz 3f\n\t"                                                                                \
    "vcvtph2ps -32(%[w0]), %%zmm16\n\t vcvtph2ps -32(%[w1]), %%zmm17\n\t"                                   \
    QK_QS_HEAD(COPIES, "4") ROWS QK_QS_MID("4") FOLDS QK_QS_NEXT                                              \
    "dec %[n]\n\t jnz 1b\n\t"                                                                               \
    "3:\n\t"
#define QK_QS_CLOBBER                                                                                         \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",   \
        "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm24", "xmm25", "xmm26", "xmm27",      \
        "xmm28", "xmm29", "xmm30", "cc", "memory"

QK_AI void qk_q8_q4_small_asm(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                              float *y, int64_t ldy, __mmask16 last_mask, const int MR) {
    qk_q6_ptrs q = qk_q6_ptrs_of(P, act, rb, qbytes, p0);
    const int64_t nv = P->g / 8;
    int64_t iv;
    _Alignas(64) float out[8][QK_X86_NR];
    memset(out, 0, sizeof out);
    const __m512i hin = _mm512_set1_epi8((char)0xF0);
    if (MR == 2) {
        __asm__ volatile("vmovaps (%[out]), %%zmm8\n\t vmovaps 64(%[out]), %%zmm9\n\t"
                         "vmovaps 128(%[out]), %%zmm10\n\t vmovaps 192(%[out]), %%zmm11\n\t"
                         QK_QS_PAIR("vmovdqa64 (%[c0]), %%zmm2\n\t vmovdqa64 (%[c1]), %%zmm3\n\t",
                                    QK_QS_ROW(0, 1, "(%[x0])") QK_QS_ROW(2, 3, "(%[x0],%[rb],1)"),
                                    QK_QS_FOLD(0, 1, 8, 9, "(%[d0])") QK_QS_FOLD(2, 3, 10, 11, "(%[d0],%[rb],1)"))
                         "vmovaps %%zmm8, (%[out])\n\t vmovaps %%zmm9, 64(%[out])\n\t"
                         "vmovaps %%zmm10, 128(%[out])\n\t vmovaps %%zmm11, 192(%[out])\n\t"
                         : QK_Q6_PTR_OPERANDS(q), [iv] "=&r"(iv)
                         : QK_Q6_RB(q), [nv] "m"(nv), [out] "r"(out), [hin] "m"(hin)
                         : QK_QS_CLOBBER);
    } else {
        __asm__ volatile("vmovaps (%[out]), %%zmm8\n\t vmovaps 64(%[out]), %%zmm9\n\t"
                         "vmovaps 128(%[out]), %%zmm10\n\t vmovaps 192(%[out]), %%zmm11\n\t"
                         "vmovaps 256(%[out]), %%zmm12\n\t vmovaps 320(%[out]), %%zmm13\n\t"
                         "vmovaps 384(%[out]), %%zmm14\n\t vmovaps 448(%[out]), %%zmm15\n\t"
                         QK_QS_PAIR("vmovdqa64 (%[c0]), %%zmm2\n\t vmovdqa64 (%[c1]), %%zmm3\n\t"
                                    "vmovdqa64 (%[c0]), %%zmm4\n\t vmovdqa64 (%[c1]), %%zmm5\n\t"
                                    "vmovdqa64 (%[c0]), %%zmm6\n\t vmovdqa64 (%[c1]), %%zmm7\n\t",
                                    QK_QS_ROW(0, 1, "(%[x0])") QK_QS_ROW(2, 3, "(%[x0],%[rb],1)")
                                    QK_QS_ROW(4, 5, "(%[x0],%[rb],2)") QK_QS_ROW(6, 7, "(%[x3])"),
                                    QK_QS_FOLD(0, 1, 8, 9, "(%[d0])") QK_QS_FOLD(2, 3, 10, 11, "(%[d0],%[rb],1)")
                                    QK_QS_FOLD(4, 5, 12, 13, "(%[d0],%[rb],2)") QK_QS_FOLD(6, 7, 14, 15, "(%[d3])"))
                         "vmovaps %%zmm8, (%[out])\n\t vmovaps %%zmm9, 64(%[out])\n\t"
                         "vmovaps %%zmm10, 128(%[out])\n\t vmovaps %%zmm11, 192(%[out])\n\t"
                         "vmovaps %%zmm12, 256(%[out])\n\t vmovaps %%zmm13, 320(%[out])\n\t"
                         "vmovaps %%zmm14, 384(%[out])\n\t vmovaps %%zmm15, 448(%[out])\n\t"
                         : QK_Q6_PTR_OPERANDS(q), [iv] "=&r"(iv)
                         : QK_Q6_RB(q), [nv] "m"(nv), [out] "r"(out), [hin] "m"(hin)
                         : QK_QS_CLOBBER);
    }
    qk_x86_store_x2(P, (const __m512 *)out, MR, 0.0625f, p0, y, ldy, last_mask); /* nib_x8: 16·isum */
}
static void qk_q8_q4_2x2_asm(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                             float *y, int64_t ldy, __mmask16 lm) {
    qk_q8_q4_small_asm(P, act, rb, qbytes, p0, y, ldy, lm, 2);
}
static void qk_q8_q4_4x2_asm(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                             float *y, int64_t ldy, __mmask16 lm) {
    qk_q8_q4_small_asm(P, act, rb, qbytes, p0, y, ldy, lm, 4);
}

/* M = 8 GEMV for nib_x8 codes (symmetric I4 × I8_DYNAMIC, Q4_0 × Q8_0): 8 rows × 1 panel,
 * the K loop in inline asm. Each 64-byte nibble vector is unpacked once into unsigned bytes
 * 16·code (shift, then (v & 0xF0) ^ 0x80 in one vpternlogd each half) and feeds 16
 * vpdpbusd against the signed activation copy (x86.h); each row's int32 sum starts at its
 * group's −128·Σ qx, so no weight compensation is needed: 16 vpdpbusd per 64 bytes instead
 * of 18 (it was recomputed: 2 vpdpbusd with 0x80 bytes, or streamed: 64 B more per 288 B of
 * Q4_0, slower from DRAM). One panel is streamed front to back, so the weights are read
 * once; 8 int32 accumulators (zmm0-7) and 8 f32 sums (zmm8-15) stay in registers. Per
 * 32-block of one panel the floor on Zen 4 (where only vmulps / vfmadd231ps share the
 * vpdpbusd pipes) is 64 vpdpbusd + 8 mul + 8 fma = 80 pipe cycles for 288 bytes. Same
 * int32 sums and f32 operations per output as qk_x86_tile_int. */
/* the activation dwords as embedded broadcasts ({1to16}): each fed one vpdpbusd, and folded
 * in, the loop measured 15.9 instead of 16.9 cycles per 64 B in L1 on Zen 4 (+2-3 % from
 * DRAM), though a vpbroadcastd from memory alone issues beside the multiplies there */
#define QK_G8_ROW(R, X)                                                                                       \
    "vpdpbusd " X "%{1to16%}, %%zmm17, %%zmm" #R "\n\t"                                                     \
    "vpdpbusd 4+" X "%{1to16%}, %%zmm18, %%zmm" #R "\n\t"
/* a group's int32 sums start at the rows' records, then its codes are walked (label L) */
#define QK_G8_WALK(L)                                                                                         \
    "vpbroadcastd (%[d0]), %%zmm0\n\t vpbroadcastd (%[d0],%[rb],1), %%zmm1\n\t"                              \
    "vpbroadcastd (%[d0],%[rb],2), %%zmm2\n\t vpbroadcastd (%[d3]), %%zmm3\n\t"                             \
    "vpbroadcastd (%[d3],%[rb],1), %%zmm4\n\t vpbroadcastd (%[d3],%[rb],2), %%zmm5\n\t"                     \
    "vpbroadcastd (%[d6]), %%zmm6\n\t vpbroadcastd (%[d6],%[rb],1), %%zmm7\n\t"                             \
    "mov %[nv], %[iv]\n\t"                                                                                  \
    L ":\n\t"                                                                                               \
    "prefetcht0 (%[w],%[pf],1)\n\t"                                                                        \
    "vmovdqu64 (%[w]), %%zmm18\n\t"                                                                         \
    "vpsllw $4, %%zmm18, %%zmm17\n\t"                                                                       \
    "vpternlogd $0x6A, %%zmm21, %%zmm16, %%zmm18\n\t"                                                       \
    "vpternlogd $0x6A, %%zmm21, %%zmm16, %%zmm17\n\t"                                                       \
    QK_G8_ROW(0, "(%[x0])") QK_G8_ROW(1, "(%[x0],%[rb],1)") QK_G8_ROW(2, "(%[x0],%[rb],2)")          \
    QK_G8_ROW(3, "(%[x3])") QK_G8_ROW(4, "(%[x3],%[rb],1)") QK_G8_ROW(5, "(%[x3],%[rb],2)")          \
    QK_G8_ROW(6, "(%[x6])") QK_G8_ROW(7, "(%[x6],%[rb],1)")                                            \
    "add $64, %[w]\n\t add $8, %[x0]\n\t add $8, %[x3]\n\t add $8, %[x6]\n\t"                              \
    "dec %[iv]\n\t jnz " L "b\n\t"
#define QK_G8_KLOOP "1:\n\t" QK_G8_WALK("2") "vcvtph2ps (%[w]), %%zmm24\n\t"
#define QK_G8_FOLD_I8(R, F) "vcvtdq2ps %%zmm" #R ", %%zmm" #R "\n\t vfmadd231ps %%zmm24, %%zmm" #R ", %%zmm" #F "\n\t"
#define QK_G8_FOLD_Q8(R, F, D)                                                                                \
    "vmulps " D "%{1to16%}, %%zmm24, %%zmm25\n\t"                                                          \
    "vcvtdq2ps %%zmm" #R ", %%zmm" #R "\n\t vfmadd231ps %%zmm25, %%zmm" #R ", %%zmm" #F "\n\t"
#define QK_G8_FOLDS_Q8                                                                                        \
    QK_G8_FOLD_Q8(0, 8, "4(%[d0])") QK_G8_FOLD_Q8(1, 9, "4(%[d0],%[rb],1)")                                  \
    QK_G8_FOLD_Q8(2, 10, "4(%[d0],%[rb],2)") QK_G8_FOLD_Q8(3, 11, "4(%[d3])")                                \
    QK_G8_FOLD_Q8(4, 12, "4(%[d3],%[rb],1)") QK_G8_FOLD_Q8(5, 13, "4(%[d3],%[rb],2)")                        \
    QK_G8_FOLD_Q8(6, 14, "4(%[d6])") QK_G8_FOLD_Q8(7, 15, "4(%[d6],%[rb],1)")
#define QK_G8_LOAD                                                                                            \
    "vmovdqa64 %[hin], %%zmm16\n\t vmovdqa64 %[b80], %%zmm21\n\t"                                           \
    "vmovaps (%[out]), %%zmm8\n\t vmovaps 64(%[out]), %%zmm9\n\t vmovaps 128(%[out]), %%zmm10\n\t"           \
    "vmovaps 192(%[out]), %%zmm11\n\t vmovaps 256(%[out]), %%zmm12\n\t vmovaps 320(%[out]), %%zmm13\n\t"     \
    "vmovaps 384(%[out]), %%zmm14\n\t vmovaps 448(%[out]), %%zmm15\n\t"
#define QK_G8_STORE                                                                                           \
    "vmovaps %%zmm8, (%[out])\n\t vmovaps %%zmm9, 64(%[out])\n\t vmovaps %%zmm10, 128(%[out])\n\t"           \
    "vmovaps %%zmm11, 192(%[out])\n\t vmovaps %%zmm12, 256(%[out])\n\t vmovaps %%zmm13, 320(%[out])\n\t"     \
    "vmovaps %%zmm14, 384(%[out])\n\t vmovaps %%zmm15, 448(%[out])\n\t"
#define QK_G8_CLOBBER                                                                                         \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",   \
        "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm21", "xmm24", "xmm25", "cc", "memory"

/* n groups of one panel (from w; signed activation columns from x0, the rows' group
 * records {−128·Σ qx, d} from d0, both in the signed part of the rows, x86.h) added to the
 * 8 × 16 f32 sums at acc. */
static void qk_nib8_gemv8_asm(const qk_x86_packed *P, const uint8_t *w, const uint8_t *x0, const uint8_t *d0,
                              size_t rb, int64_t n, float *acc) {
    const uint8_t *x3 = x0 + 3 * rb, *x6 = x0 + 6 * rb, *d3 = d0 + 3 * rb, *d6 = d0 + 6 * rb;
    const int64_t srb = (int64_t)rb, nv = P->g / 8, sb = (int64_t)(P->group_bytes - P->code_bytes);
    const int64_t pf = P->tune->gemv8_prefetch;
    int64_t iv;
    const __m512i hin = _mm512_set1_epi8((char)0xF0), b80 = _mm512_set1_epi8((char)0x80);
    if (P->act == QKERN_ACT_Q8_0 && P->odd_shift) {
        /* the paired layout (x86.h; n starts at an even group): the even group's scales
         * follow its codes, the odd group's 32 bytes precede them */
        __asm__ volatile(QK_G8_LOAD
                         "1:\n\t" QK_G8_WALK("2") "vcvtph2ps (%[w]), %%zmm24\n\t" QK_G8_FOLDS_Q8
                         "add $64, %[w]\n\t add $8, %[d0]\n\t add $8, %[d3]\n\t add $8, %[d6]\n\t"
                         "dec %[n]\n\t jz 3f\n\t"
                         "vcvtph2ps -32(%[w]), %%zmm24\n\t" QK_G8_WALK("4") QK_G8_FOLDS_Q8
                         "add $8, %[d0]\n\t add $8, %[d3]\n\t add $8, %[d6]\n\t"
                         "dec %[n]\n\t jnz 1b\n\t"
                         "3:\n\t" QK_G8_STORE
                         : [w] "+r"(w), [x0] "+r"(x0), [x3] "+r"(x3), [x6] "+r"(x6), [d0] "+r"(d0),
                           [d3] "+r"(d3), [d6] "+r"(d6), [n] "+r"(n), [iv] "=&r"(iv)
                         : [rb] "r"(srb), [nv] "m"(nv), [out] "r"(acc), [hin] "m"(hin), [pf] "r"(pf), [b80] "m"(b80)
                         : QK_G8_CLOBBER);
    } else if (P->act == QKERN_ACT_Q8_0) {
        __asm__ volatile(QK_G8_LOAD QK_G8_KLOOP QK_G8_FOLDS_Q8
                         "add %[sb], %[w]\n\t add $8, %[d0]\n\t add $8, %[d3]\n\t add $8, %[d6]\n\t"
                         "dec %[n]\n\t jnz 1b\n\t" QK_G8_STORE
                         : [w] "+r"(w), [x0] "+r"(x0), [x3] "+r"(x3), [x6] "+r"(x6), [d0] "+r"(d0),
                           [d3] "+r"(d3), [d6] "+r"(d6), [n] "+r"(n), [iv] "=&r"(iv)
                         : [rb] "r"(srb), [nv] "m"(nv), [sb] "m"(sb), [out] "r"(acc), [hin] "m"(hin), [pf] "r"(pf), [b80] "m"(b80)
                         : QK_G8_CLOBBER);
    } else {
        __asm__ volatile(QK_G8_LOAD QK_G8_KLOOP
                         QK_G8_FOLD_I8(0, 8) QK_G8_FOLD_I8(1, 9) QK_G8_FOLD_I8(2, 10) QK_G8_FOLD_I8(3, 11)
                         QK_G8_FOLD_I8(4, 12) QK_G8_FOLD_I8(5, 13) QK_G8_FOLD_I8(6, 14) QK_G8_FOLD_I8(7, 15)
                         "add %[sb], %[w]\n\t add $8, %[d0]\n\t add $8, %[d3]\n\t add $8, %[d6]\n\t"
                         "dec %[n]\n\t jnz 1b\n\t" QK_G8_STORE
                         : [w] "+r"(w), [x0] "+r"(x0), [x3] "+r"(x3), [x6] "+r"(x6), [d0] "+r"(d0),
                           [d3] "+r"(d3), [d6] "+r"(d6), [n] "+r"(n), [iv] "=&r"(iv)
                         : [rb] "r"(srb), [nv] "m"(nv), [sb] "m"(sb), [out] "r"(acc), [hin] "m"(hin), [pf] "r"(pf), [b80] "m"(b80)
                         : QK_G8_CLOBBER);
    }
}

/* 8 rows × columns n0..n1 (one cache block, at most QK_X86_G8_PANELS panels). K is cut
 * into slices of gemv8_kb so that the 8 activation rows of a slice stay near L1 while every
 * panel of the block passes (8 rows of K = 11008 are 88 KiB); the f32 sums wait in acc
 * between slices. */
#define QK_X86_G8_PANELS 16
static void qk_nib8_gemv8(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t n0,
                          int64_t n1, float *y, int64_t ldy) {
    _Alignas(64) float acc[QK_X86_G8_PANELS][8][QK_X86_NR];
    const int64_t p0 = n0 / QK_X86_NR, np = (n1 - n0 + QK_X86_NR - 1) / QK_X86_NR;
    const int64_t groups = P->groups, g = P->g;
    int64_t gs = P->tune->gemv8_kb / g;
    if (gs < 1) gs = 1;
    if (P->odd_shift) gs += gs & 1; /* slices start at an even group (the paired layout, x86.h) */
    const size_t so = qk_x86_act_signed_off(P); /* the signed copy; its records follow at + qbytes */
    memset(acc, 0, sizeof(float) * (size_t)np * 8 * QK_X86_NR);
    for (int64_t G0 = 0; G0 < groups; G0 += gs) {
        const int64_t n = groups - G0 < gs ? groups - G0 : gs;
        for (int64_t p = 0; p < np; p++) {
            const uint8_t *w = P->w + (size_t)(p0 + p) * P->panel_bytes + (size_t)G0 * P->group_bytes;
            qk_nib8_gemv8_asm(P, w, act + so + G0 * g, act + so + qbytes + (size_t)G0 * 8, rb, n, acc[p][0]);
        }
    }
    /* y = bias + (sx ·) Σ / 16: the nib_x8 sums are 16·isum, scaled back exactly */
    const __m512 r16 = _mm512_set1_ps(0.0625f);
    for (int64_t p = 0; p < np; p++) {
        const int64_t cols = n1 - n0 - p * QK_X86_NR;
        const __mmask16 lm = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
        const __m512 b = _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR);
        for (int m = 0; m < 8; m++) {
            __m512 f = _mm512_mul_ps(_mm512_load_ps(acc[p][m]), r16);
            if (P->act == QKERN_ACT_Q8_0) f = _mm512_add_ps(f, b);
            else f = _mm512_fmadd_ps(f, _mm512_set1_ps(((const float *)(act + (size_t)m * rb + qbytes))[0]), b);
            _mm512_mask_storeu_ps(y + m * ldy + p * QK_X86_NR, lm, f);
        }
    }
}

QK_FAMILY(qk_i8_i8, QK_W8, QK_A_I8)
QK_FAMILY(qk_i8_i4, QK_W4Z8, QK_A_I8)
QK_FAMILY(qk_i8_i4a, QK_W4ZP, QK_A_I8)
QK_FAMILY(qk_q8_q8, QK_W8, QK_A_Q8_0)
QK_FAMILY(qk_q8_q4, QK_W4Z8, QK_A_Q8_0)
QK_FAMILY(qk_q81_q41, QK_W4Z0, QK_A_Q8_1)

/* I4 × I8 GEMM over nib_x8 weights unpacked once per panel pair (qk_x86_unpack_pair) and
 * reused by every row tile of the compute call. On a core where the unpack's vpsllw / vpand
 * share the two vpdpbusd ports (the Xeon), unpacking inside each 6-row tile cost 96 µops per
 * 384 vpdpbusd (g = 128); here it is paid once per call (96 rows). The remainder tiles
 * (< 6 rows) are these intrinsics; the 6-row tile is qk_u_i8_6x2_asm (I4 scales are f16,
 * which that tile assumes). */
typedef void (*qk_x86_utile_fn)(const qk_x86_packed *P, const uint8_t *ub, const uint8_t *act, size_t rb,
                                size_t qbytes, int64_t p0, float *y, int64_t ldy, __mmask16 last_mask);
#define QK_UTILE(NAME, MR, AK)                                                                              \
    static void NAME(const qk_x86_packed *P, const uint8_t *ub, const uint8_t *act, size_t rb, size_t qbytes, \
                     int64_t p0, float *y, int64_t ldy, __mmask16 lm) {                                      \
        qk_x86_tile_int(P, ub, act, rb, qbytes, p0, y, ldy, lm, MR, 2, QK_W8U, AK, 0);                       \
    }
QK_UTILE(qk_u_i8_1, 1, QK_A_I8) QK_UTILE(qk_u_i8_2, 2, QK_A_I8) QK_UTILE(qk_u_i8_3, 3, QK_A_I8)
QK_UTILE(qk_u_i8_4, 4, QK_A_I8) QK_UTILE(qk_u_i8_5, 5, QK_A_I8)

/* One k4-chunk of the 6x32 tile at byte offsets W (weights) and X (activations): the K
 * loop takes four per pointer bump. The scalar adds share the issue ports with the
 * vpdpbusd, and the 12 accumulators leave little slack over vpdpbusd's latency: with one
 * add per 12 vpdpbusd the tile measured 557-570 GOPS, with four chunks per bump 578-625
 * (Xeon, 512x4096x4096 g=128, compute() alone, alternating runs). */
#define QK_U6_STEP(W, X)                                                                                   \
    "vmovdqa64 " W "(%[u0]), %%zmm24\n\t vmovdqa64 " W "(%[u1]), %%zmm25\n\t"                             \
    "vpbroadcastd " X "(%[x0]), %%zmm28\n\t"                                                              \
    "vpdpbusd %%zmm24, %%zmm28, %%zmm0\n\t vpdpbusd %%zmm25, %%zmm28, %%zmm1\n\t"                         \
    "vpbroadcastd " X "(%[x0],%[rb],1), %%zmm29\n\t"                                                      \
    "vpdpbusd %%zmm24, %%zmm29, %%zmm2\n\t vpdpbusd %%zmm25, %%zmm29, %%zmm3\n\t"                         \
    "vpbroadcastd " X "(%[x0],%[rb],2), %%zmm28\n\t"                                                      \
    "vpdpbusd %%zmm24, %%zmm28, %%zmm4\n\t vpdpbusd %%zmm25, %%zmm28, %%zmm5\n\t"                         \
    "vpbroadcastd " X "(%[x3]), %%zmm29\n\t"                                                              \
    "vpdpbusd %%zmm24, %%zmm29, %%zmm6\n\t vpdpbusd %%zmm25, %%zmm29, %%zmm7\n\t"                         \
    "vpbroadcastd " X "(%[x3],%[rb],1), %%zmm28\n\t"                                                      \
    "vpdpbusd %%zmm24, %%zmm28, %%zmm8\n\t vpdpbusd %%zmm25, %%zmm28, %%zmm9\n\t"                         \
    "vpbroadcastd " X "(%[x3],%[rb],2), %%zmm29\n\t"                                                      \
    "vpdpbusd %%zmm24, %%zmm29, %%zmm10\n\t vpdpbusd %%zmm25, %%zmm29, %%zmm11\n\t"

/* The 6x32 tile over unpacked weights with the K loop in inline asm (the intrinsics form
 * moves all 12 int32 accumulators every k4-chunk: 24 vmovdqa per 12 vpdpbusd). Per group:
 * the int32 sums start at the packed compensation (zmm0-11), g/4 chunks of 2 weight loads,
 * 6 broadcasts and 12 vpdpbusd, then f32 sums (zmm12-23) += f32(isum)·s_w, the same
 * operations in the same order as qk_x86_tile_int. f16 scales, I8 activations. */
static void qk_u_i8_6x2_asm(const qk_x86_packed *P, const uint8_t *ub, const uint8_t *act, size_t rb, size_t qbytes,
                            int64_t p0, float *y, int64_t ldy, __mmask16 last_mask) {
    const size_t pb = P->panel_bytes, gb = P->group_bytes;
    const uint8_t *u0 = ub, *u1 = ub + (size_t)P->groups * (size_t)P->g * 16;
    const uint8_t *s0 = P->w + (size_t)p0 * pb + P->code_bytes, *s1 = s0 + pb;
    const int32_t *c0 = P->comp + (size_t)p0 * (size_t)P->groups * QK_X86_NR, *c1 = c0 + (size_t)P->groups * QK_X86_NR;
    const uint8_t *x0 = act, *x3 = act + 3 * rb;
    const int64_t srb = (int64_t)rb, sgb = (int64_t)gb, nc4 = P->g / 16, ncr = P->g / 4 % 4;
    int64_t n = P->groups, k;
    __m512 out[12];
    __m512 *outp = out;
    __asm__ volatile(
        QK_Q6_SUMS_ZERO
        "1:\n\t"
        "vmovdqa64 (%[c0]), %%zmm0\n\t vmovdqa64 (%[c1]), %%zmm1\n\t"
        "vmovdqa64 (%[c0]), %%zmm2\n\t vmovdqa64 (%[c1]), %%zmm3\n\t"
        "vmovdqa64 (%[c0]), %%zmm4\n\t vmovdqa64 (%[c1]), %%zmm5\n\t"
        "vmovdqa64 (%[c0]), %%zmm6\n\t vmovdqa64 (%[c1]), %%zmm7\n\t"
        "vmovdqa64 (%[c0]), %%zmm8\n\t vmovdqa64 (%[c1]), %%zmm9\n\t"
        "vmovdqa64 (%[c0]), %%zmm10\n\t vmovdqa64 (%[c1]), %%zmm11\n\t"
        "mov %[nc4], %[k]\n\t"
        "test %[k], %[k]\n\t"
        "jz 3f\n\t"
        "2:\n\t"
        QK_U6_STEP("0", "0") QK_U6_STEP("64", "4") QK_U6_STEP("128", "8") QK_U6_STEP("192", "12")
        "add $256, %[u0]\n\t add $256, %[u1]\n\t add $16, %[x0]\n\t add $16, %[x3]\n\t"
        "dec %[k]\n\t"
        "jnz 2b\n\t"
        "3:\n\t"
        "mov %[ncr], %[k]\n\t"
        "test %[k], %[k]\n\t"
        "jz 5f\n\t"
        "4:\n\t"
        QK_U6_STEP("0", "0")
        "add $64, %[u0]\n\t add $64, %[u1]\n\t add $4, %[x0]\n\t add $4, %[x3]\n\t"
        "dec %[k]\n\t"
        "jnz 4b\n\t"
        "5:\n\t"
        "vcvtph2ps (%[s0]), %%zmm26\n\t vcvtph2ps (%[s1]), %%zmm27\n\t"
        "vcvtdq2ps %%zmm0, %%zmm0\n\t vcvtdq2ps %%zmm1, %%zmm1\n\t"
        "vfmadd231ps %%zmm26, %%zmm0, %%zmm12\n\t vfmadd231ps %%zmm27, %%zmm1, %%zmm13\n\t"
        "vcvtdq2ps %%zmm2, %%zmm2\n\t vcvtdq2ps %%zmm3, %%zmm3\n\t"
        "vfmadd231ps %%zmm26, %%zmm2, %%zmm14\n\t vfmadd231ps %%zmm27, %%zmm3, %%zmm15\n\t"
        "vcvtdq2ps %%zmm4, %%zmm4\n\t vcvtdq2ps %%zmm5, %%zmm5\n\t"
        "vfmadd231ps %%zmm26, %%zmm4, %%zmm16\n\t vfmadd231ps %%zmm27, %%zmm5, %%zmm17\n\t"
        "vcvtdq2ps %%zmm6, %%zmm6\n\t vcvtdq2ps %%zmm7, %%zmm7\n\t"
        "vfmadd231ps %%zmm26, %%zmm6, %%zmm18\n\t vfmadd231ps %%zmm27, %%zmm7, %%zmm19\n\t"
        "vcvtdq2ps %%zmm8, %%zmm8\n\t vcvtdq2ps %%zmm9, %%zmm9\n\t"
        "vfmadd231ps %%zmm26, %%zmm8, %%zmm20\n\t vfmadd231ps %%zmm27, %%zmm9, %%zmm21\n\t"
        "vcvtdq2ps %%zmm10, %%zmm10\n\t vcvtdq2ps %%zmm11, %%zmm11\n\t"
        "vfmadd231ps %%zmm26, %%zmm10, %%zmm22\n\t vfmadd231ps %%zmm27, %%zmm11, %%zmm23\n\t"
        "add %[gb], %[s0]\n\t add %[gb], %[s1]\n\t add $64, %[c0]\n\t add $64, %[c1]\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "mov %[outp], %[u0]\n\t"
        QK_Q6_SUMS_STORE("u0")
        : [u0] "+r"(u0), [u1] "+r"(u1), [s0] "+r"(s0), [s1] "+r"(s1), [c0] "+r"(c0), [c1] "+r"(c1), [x0] "+r"(x0),
          [x3] "+r"(x3), [n] "+r"(n), [k] "=&r"(k)
        : [rb] "r"(srb), [gb] "m"(sgb), [nc4] "m"(nc4), [ncr] "m"(ncr), [outp] "m"(outp)
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
          "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
          "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "cc", "memory");
    for (int m = 0; m < 6; m++) {
        const float *xs = (const float *)(act + (size_t)m * rb + qbytes);
        for (int p = 0; p < 2; p++) {
            __m512 b = _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR);
            __m512 f = _mm512_mul_ps(out[2 * m + p], _mm512_set1_ps(0.0625f)); /* nib_x8: 16·isum */
            __m512 r = _mm512_fmadd_ps(f, _mm512_set1_ps(xs[0]), b);
            if (p == 1) _mm512_mask_storeu_ps(y + m * ldy + p * QK_X86_NR, last_mask, r);
            else _mm512_storeu_ps(y + m * ldy + p * QK_X86_NR, r);
        }
    }
}

static const qk_x86_utile_fn qk_u_i8[6] = {qk_u_i8_1, qk_u_i8_2, qk_u_i8_3, qk_u_i8_4, qk_u_i8_5, qk_u_i8_6x2_asm};

/* Two nib_x8 panels from p0 into ub: per group, g/4 chunks of 64 bytes (16 columns × 4 k),
 * the bytes 16·(code − 8) exactly as qk_x86_tile_int's QK_W4Z8 unpack makes them. */
void qk_x86_unpack_group__avx512vnni(const uint8_t *src, int64_t g, uint8_t *dst) {
    const __m512i hin = _mm512_set1_epi8((char)0xF0);
    for (int64_t v = 0; v < g / 8; v++) {
        __m512i raw = _mm512_loadu_si512(src + v * 64);
        _mm512_store_si512(dst + v * 128, _mm512_and_si512(_mm512_slli_epi16(raw, 4), hin));
        _mm512_store_si512(dst + v * 128 + 64, _mm512_and_si512(raw, hin));
    }
}

static void qk_x86_unpack_pair(const qk_x86_packed *P, int64_t p0, uint8_t *ub) {
    for (int p = 0; p < 2; p++)
        for (int64_t G = 0; G < P->groups; G++)
            qk_x86_unpack_group__avx512vnni(P->w + (size_t)(p0 + p) * P->panel_bytes + (size_t)G * P->group_bytes,
                                            P->g, ub + ((size_t)p * (size_t)P->groups + (size_t)G) * (size_t)P->g * 16);
}

/* Single-group (per-row scale) W8A8: no f32 sums live during the K loop, so the tile
 * can hold 8 rows × 2 panels of int32 accumulators. */
QK_AI void qk_x86_tile_w8row(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                             float *y, int64_t ldy, __mmask16 last_mask, const int MR, const int NP) {
    const int64_t g = P->g;
    const size_t pb = P->panel_bytes, cb = P->code_bytes;
    const uint8_t *pan = P->w + (size_t)p0 * pb;
    __m512i acc[8][2];
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++)
            acc[m][p] = _mm512_load_si512(P->comp + (size_t)(p0 + p) * QK_X86_NR);
    const int64_t pf = MR <= 8 ? P->tune->prefetch : 0;
    for (int64_t c = 0; c < g / 4; c++) {
        __m512i w[2];
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) {
            if (pf) _mm_prefetch((const char *)pan + (size_t)p * pb + c * 64 + pf, _MM_HINT_T0);
            w[p] = _mm512_load_si512(pan + (size_t)p * pb + c * 64);
        }
        qk_x86_dot_rows(acc, act, rb, c * 4, w, MR, NP);
    }
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) {
        __m512 sw = _mm512_loadu_ps(pan + (size_t)p * pb + cb);
        __m512 b = _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR);
#pragma GCC unroll 16
        for (int m = 0; m < MR; m++) {
            const float *xs = (const float *)(act + (size_t)m * rb + qbytes);
            __m512 r = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[m][p]), sw), _mm512_set1_ps(xs[0]), b);
            if (p == NP - 1) _mm512_mask_storeu_ps(y + m * ldy + p * QK_X86_NR, last_mask, r);
            else _mm512_storeu_ps(y + m * ldy + p * QK_X86_NR, r);
        }
    }
}
/* The full 8x32 W8A8 tile's K loop in inline asm: with intrinsics GCC renames the 16
 * loop-carried accumulators every iteration and pays ~20 vmovdqa per 16 vpdpbusd; here
 * they live in zmm0-15 for the whole loop (operands: pointers only). It loads the 16
 * int32 accumulators from acc ([row][panel] × 16 lanes), adds n k4-chunks of w0/w1 (the
 * two panels' codes) times the 8 activation rows from x, and stores them back. Each
 * iteration also prefetches into L2 the two lines at pf, which advances pfs ≤ 128 bytes
 * (the caller points it at weights it needs next), and into L1 its own weights 1 KiB
 * ahead: without that the first vpdpbusd of each panel waited on L2 (+3-7 % on the Xeon
 * at 512x4096x4096; 512 to 4096 B ahead all alike). */
static void qk_w8row_8x2_asm(int32_t *acc, const uint8_t *w0, const uint8_t *w1, const uint8_t *x, size_t rb,
                             int64_t n, const uint8_t *pf, int64_t pfs) {
    const uint8_t *x0 = x, *x4 = x + 4 * rb;
    const int64_t srb = (int64_t)rb, srb3 = 3 * (int64_t)rb;
    __asm__ volatile(
        "vmovdqa64 (%[acc]), %%zmm0\n\t vmovdqa64 64(%[acc]), %%zmm1\n\t"
        "vmovdqa64 128(%[acc]), %%zmm2\n\t vmovdqa64 192(%[acc]), %%zmm3\n\t"
        "vmovdqa64 256(%[acc]), %%zmm4\n\t vmovdqa64 320(%[acc]), %%zmm5\n\t"
        "vmovdqa64 384(%[acc]), %%zmm6\n\t vmovdqa64 448(%[acc]), %%zmm7\n\t"
        "vmovdqa64 512(%[acc]), %%zmm8\n\t vmovdqa64 576(%[acc]), %%zmm9\n\t"
        "vmovdqa64 640(%[acc]), %%zmm10\n\t vmovdqa64 704(%[acc]), %%zmm11\n\t"
        "vmovdqa64 768(%[acc]), %%zmm12\n\t vmovdqa64 832(%[acc]), %%zmm13\n\t"
        "vmovdqa64 896(%[acc]), %%zmm14\n\t vmovdqa64 960(%[acc]), %%zmm15\n\t"
        "test %[n], %[n]\n\t"
        "jle 2f\n\t"
        "1:\n\t"
        "vmovdqa64 (%[w0]), %%zmm30\n\t"
        "vmovdqa64 (%[w1]), %%zmm31\n\t"
        "vpbroadcastd (%[x0]), %%zmm28\n\t"
        "vpbroadcastd (%[x0],%[rb],1), %%zmm29\n\t"
        "vpdpbusd %%zmm30, %%zmm28, %%zmm0\n\t"
        "vpdpbusd %%zmm31, %%zmm28, %%zmm1\n\t"
        "vpbroadcastd (%[x0],%[rb],2), %%zmm28\n\t"
        "vpdpbusd %%zmm30, %%zmm29, %%zmm2\n\t"
        "vpdpbusd %%zmm31, %%zmm29, %%zmm3\n\t"
        "vpbroadcastd (%[x0],%[rb3],1), %%zmm29\n\t"
        "vpdpbusd %%zmm30, %%zmm28, %%zmm4\n\t"
        "vpdpbusd %%zmm31, %%zmm28, %%zmm5\n\t"
        "vpbroadcastd (%[x4]), %%zmm28\n\t"
        "vpdpbusd %%zmm30, %%zmm29, %%zmm6\n\t"
        "vpdpbusd %%zmm31, %%zmm29, %%zmm7\n\t"
        "prefetcht1 (%[pf])\n\t"
        "vpbroadcastd (%[x4],%[rb],1), %%zmm29\n\t"
        "prefetcht1 64(%[pf])\n\t"
        "prefetcht0 1024(%[w0])\n\t"
        "prefetcht0 1024(%[w1])\n\t"
        "vpdpbusd %%zmm30, %%zmm28, %%zmm8\n\t"
        "vpdpbusd %%zmm31, %%zmm28, %%zmm9\n\t"
        "vpbroadcastd (%[x4],%[rb],2), %%zmm28\n\t"
        "vpdpbusd %%zmm30, %%zmm29, %%zmm10\n\t"
        "vpdpbusd %%zmm31, %%zmm29, %%zmm11\n\t"
        "vpbroadcastd (%[x4],%[rb3],1), %%zmm29\n\t"
        "vpdpbusd %%zmm30, %%zmm28, %%zmm12\n\t"
        "vpdpbusd %%zmm31, %%zmm28, %%zmm13\n\t"
        "vpdpbusd %%zmm30, %%zmm29, %%zmm14\n\t"
        "vpdpbusd %%zmm31, %%zmm29, %%zmm15\n\t"
        "add $64, %[w0]\n\t"
        "add $64, %[w1]\n\t"
        "add %[pfs], %[pf]\n\t"
        "add $4, %[x0]\n\t"
        "add $4, %[x4]\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "2:\n\t"
        "vmovdqa64 %%zmm0, (%[acc])\n\t vmovdqa64 %%zmm1, 64(%[acc])\n\t"
        "vmovdqa64 %%zmm2, 128(%[acc])\n\t vmovdqa64 %%zmm3, 192(%[acc])\n\t"
        "vmovdqa64 %%zmm4, 256(%[acc])\n\t vmovdqa64 %%zmm5, 320(%[acc])\n\t"
        "vmovdqa64 %%zmm6, 384(%[acc])\n\t vmovdqa64 %%zmm7, 448(%[acc])\n\t"
        "vmovdqa64 %%zmm8, 512(%[acc])\n\t vmovdqa64 %%zmm9, 576(%[acc])\n\t"
        "vmovdqa64 %%zmm10, 640(%[acc])\n\t vmovdqa64 %%zmm11, 704(%[acc])\n\t"
        "vmovdqa64 %%zmm12, 768(%[acc])\n\t vmovdqa64 %%zmm13, 832(%[acc])\n\t"
        "vmovdqa64 %%zmm14, 896(%[acc])\n\t vmovdqa64 %%zmm15, 960(%[acc])\n\t"
        : [w0] "+r"(w0), [w1] "+r"(w1), [x0] "+r"(x0), [x4] "+r"(x4), [n] "+r"(n), [pf] "+r"(pf)
        : [rb] "r"(srb), [rb3] "r"(srb3), [acc] "r"(acc), [pfs] "r"(pfs)
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
          "xmm13", "xmm14", "xmm15", "xmm28", "xmm29", "xmm30", "xmm31", "cc", "memory");
}

/* Whole 8-row tiles × one panel pair starting at panel p0, K in one pass per tile: the
 * pair (32 columns × K bytes) stays in L2 while the block's row tiles pass over it. */
#define QK_W8_BLOCK_TILES 16
static void qk_w8row_8x2_block(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                               int64_t tiles, float *y, int64_t ldy, __mmask16 last_mask) {
    const size_t pb = P->panel_bytes, cb = P->code_bytes;
    const uint8_t *pan = P->w + (size_t)p0 * pb;
    _Alignas(64) int32_t acc[16][QK_X86_NR];
    const int64_t chunks = P->g / 4;
    /* The next panel pair (contiguous after this one) is fetched into L2 while this one is
     * used, spread evenly over all the K-loop iterations of the block: pfs < 64 when the
     * block has several tiles (repeats of a line in flight cost nothing), so the misses in
     * flight stay few and never hold up the tile's own L2 hits. Without it the first row
     * tile of each pair waited on DRAM for 128 KiB (K = 4096): 66 % of the vpdpbusd peak
     * instead of 75-83 % on the Xeon, where the panels do not stay in L3 (x86.h). */
    const int64_t iters = tiles * chunks;
    /* A single tile (M = 8, a GEMV in effect) streams from DRAM. On the Xeon software
     * prefetches there only take fill buffers from the hardware L2 streamer: with them
     * 12.1 GB/s, without 13.6-14.1 (1 thread; 2 threads 20.1-20.5 against 23.4-24.2; 1 GiB
     * rotated, read probe 15.8-15.9 / 30-30.6). On Zen 4 the opposite: each pair's second
     * panel starts a new stream that the hardware finds late, 20.2-22.1 GB/s without,
     * 27.1-27.4 with (read probe ~32; the tile alone in L3: 27.9). The tunables say which
     * (gemv8_prefetch). From two tiles on they pay everywhere: M = 16 672-685 GOPS with,
     * 535-555 without (Xeon). */
    const int have_next = p0 + 3 < P->panels && (tiles > 1 || P->tune->gemv8_prefetch);
    int64_t pfs = have_next ? (int64_t)((2 * pb + (size_t)iters - 1) / (size_t)iters) : 0;
    if (pfs > 128) pfs = 128; /* a few tiles over a short K: the rest is the hardware prefetcher's */
    const __m512i c0 = _mm512_load_si512(P->comp + (size_t)p0 * QK_X86_NR);
    const __m512i c1 = _mm512_load_si512(P->comp + (size_t)(p0 + 1) * QK_X86_NR);
    for (int64_t t = 0; t < tiles; t++) {
        for (int m = 0; m < 8; m++) {
            _mm512_store_si512(acc[2 * m], c0);
            _mm512_store_si512(acc[2 * m + 1], c1);
        }
        const uint8_t *pf = have_next ? pan + 2 * pb + (size_t)(t * chunks * pfs) : pan;
        qk_w8row_8x2_asm(&acc[0][0], pan, pan + pb, act + (size_t)t * 8 * rb, rb, chunks, pf, pfs);
        for (int p = 0; p < 2; p++) {
            __m512 sw = _mm512_loadu_ps(pan + (size_t)p * pb + cb);
            __m512 b = _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR);
            for (int m = 0; m < 8; m++) {
                const float *xs = (const float *)(act + (size_t)(t * 8 + m) * rb + qbytes);
                __m512 r = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(acc[2 * m + p])), sw),
                                           _mm512_set1_ps(xs[0]), b);
                float *yr = y + (t * 8 + m) * ldy + p * QK_X86_NR;
                if (p == 1) _mm512_mask_storeu_ps(yr, last_mask, r);
                else _mm512_storeu_ps(yr, r);
            }
        }
    }
}

#define QK_ROWTILE(MR, NP)                                                                                  \
    static void qk_w8row_##MR##x##NP(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes,    \
                                     int64_t p0, float *y, int64_t ldy, __mmask16 lm) {                        \
        qk_x86_tile_w8row(P, act, rb, qbytes, p0, y, ldy, lm, MR, NP);                                        \
    }
QK_ROWTILE(1, 1) QK_ROWTILE(2, 1) QK_ROWTILE(3, 1) QK_ROWTILE(4, 1) QK_ROWTILE(5, 1) QK_ROWTILE(6, 1) QK_ROWTILE(7, 1)
QK_ROWTILE(8, 1) QK_ROWTILE(1, 2) QK_ROWTILE(2, 2) QK_ROWTILE(3, 2) QK_ROWTILE(4, 2) QK_ROWTILE(5, 2) QK_ROWTILE(6, 2)
QK_ROWTILE(7, 2)
/* 8 rows × 2 panels never comes from this table: the driver hands whole 8-row tiles of a
 * panel pair to qk_w8row_8x2_block, so only remainders (< 8 rows) index the second row. */
static const qk_x86_tile_fn qk_w8row_gemm[2][8] = {
    {qk_w8row_1x1, qk_w8row_2x1, qk_w8row_3x1, qk_w8row_4x1, qk_w8row_5x1, qk_w8row_6x1, qk_w8row_7x1, qk_w8row_8x1},
    {qk_w8row_1x2, qk_w8row_2x2, qk_w8row_3x2, qk_w8row_4x2, qk_w8row_5x2, qk_w8row_6x2, qk_w8row_7x2, NULL}};

static void qk_x86_compute_int8_vnni(const qk_x86_packed *P, const uint8_t *scratch, int64_t m0, int64_t m1,
                                     int64_t n0, int64_t n1, float *y, int64_t ldy) {
    const qk_x86_tile_fn(*gemm)[6] = NULL;
    const qk_x86_run_fn *gemv = NULL, *gemv2 = NULL;
    switch (P->act) {
    case QKERN_ACT_I8_DYNAMIC:
        if (P->codes == QK_X86_INT8) { gemm = qk_i8_i8_gemm; gemv = qk_i8_i8_gemv; gemv2 = qk_i8_i8_gemv2; }
        else if (P->zero_mode == 2) { gemm = qk_i8_i4a_gemm; gemv = qk_i8_i4a_gemv; gemv2 = qk_i8_i4a_gemv2; }
        else { gemm = qk_i8_i4_gemm; gemv = qk_i8_i4_gemv; gemv2 = qk_i8_i4_gemv2; }
        break;
    case QKERN_ACT_Q8_0:
        if (P->codes == QK_X86_INT8) { gemm = qk_q8_q8_gemm; gemv = qk_q8_q8_gemv; gemv2 = qk_q8_q8_gemv2; }
        else { gemm = qk_q8_q4_gemm; gemv = qk_q8_q4_gemv; gemv2 = qk_q8_q4_gemv2; }
        break;
    case QKERN_ACT_Q8_1: gemm = qk_q81_q41_gemm; gemv = qk_q81_q41_gemv; gemv2 = qk_q81_q41_gemv2; break;
    case QKERN_ACT_LLM_INT8: break; /* per-row I8 only: the row tiles */
    default: return;
    }
    const int row_w8 = (P->act == QKERN_ACT_I8_DYNAMIC || P->act == QKERN_ACT_LLM_INT8) && P->codes == QK_X86_INT8 &&
                       P->groups == 1;
    const size_t rb = qk_x86_act_row_bytes(P);
    const size_t qbytes = ((size_t)(P->groups * P->g) + 63) / 64 * 64;
    const int64_t m = m1 - m0;
    /* M ≤ gemv_max_m: one pass over the weights, one panel stream, all rows at once. */
    const int use_gemv = !row_w8 && m <= P->tune->gemv_max_m;
    /* M = 8 on nib_x8 codes: the 8-row asm GEMV tile, one pass over the weights */
    const int gemv8 = !use_gemv && P->nib_x8 && m == 8 && P->tune->gemv8_kb > 0;
    /* The tile comes from the tunables (x86.h), bounded by the tiles instantiated here. */
    const int tmr = P->tune->mr < 1 ? 1 : P->tune->mr, tnp = P->tune->nr_panels >= 2 ? 2 : 1;
    const int mr = row_w8 ? (tmr > 8 ? 8 : tmr) : use_gemv ? (int)m : (tmr > 6 ? 6 : tmr);
    int64_t nb = P->tune->n_block > 0 ? P->tune->n_block : n1 - n0;
    if (gemv8 && nb > QK_X86_G8_PANELS * QK_X86_NR) nb = QK_X86_G8_PANELS * QK_X86_NR;
    const int64_t mb = P->tune->m_block > 0 ? P->tune->m_block : m;
    /* I4 × I8 GEMM: unpack each panel pair once per compute call (qk_x86_unpack_pair) */
    const qk_x86_utile_fn *ut = !use_gemv && !gemv8 && P->ubufs && P->tune->unpack_once && tnp == 2 ? qk_u_i8 : NULL;
    int ub_slot = -1;
    uint8_t *ub = ut ? qk_x86_ubuf_take(P->ubufs, &ub_slot) : NULL;
    if (!ub) ut = NULL; /* no memory: the tiles that unpack in registers give the same bytes */
    if (ut) {
        /* Panel pairs outermost: each pair is unpacked once for all the rows of this call
         * (the front end's m_step of them), then every row tile runs over the bytes in L2.
         * A single panel left over (≤ 16 columns) goes to the in-register tiles below. */
        int64_t nn = n0;
        for (; n1 - nn > QK_X86_NR; nn += 2 * QK_X86_NR) {
            const int64_t p0 = nn / QK_X86_NR, last = n1 - nn - QK_X86_NR;
            const __mmask16 lm = last >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << last) - 1);
            qk_x86_unpack_pair(P, p0, ub);
            for (int64_t r = m0; r < m1; r += mr) {
                int rows = (int)(m1 - r < mr ? m1 - r : mr);
                ut[rows - 1](P, ub, scratch + (size_t)r * rb, rb, qbytes, p0, y + r * ldy + nn, ldy, lm);
            }
        }
        n0 = nn;
    }
    /* Cache blocking: an n_block of weight panels stays in L2 while m_block rows of
     * activations stream past it. */
    for (int64_t nb0 = n0; nb0 < n1; nb0 += nb) {
        int64_t nb1 = nb0 + nb < n1 ? nb0 + nb : n1;
        if (gemv8) {
#if defined(QKERN_HAVE_AMX)
            if (P->amx && qk_x86_amx_gemv8__amx(P, scratch + (size_t)m0 * rb, rb, qbytes, nb0, nb1, y + m0 * ldy + nb0, ldy))
                continue;
#endif
            qk_nib8_gemv8(P, scratch + (size_t)m0 * rb, rb, qbytes, nb0, nb1, y + m0 * ldy + nb0, ldy);
            continue;
        }
        for (int64_t mb0 = m0; mb0 < m1; mb0 += mb) {
            int64_t mb1 = mb0 + mb < m1 ? mb0 + mb : m1;
            /* GEMV at M ≤ 4 reads two panels at once: two streams keep more DRAM lines in flight */
            const int gv2 = use_gemv && m <= 4 && P->tune->gemv_panels >= 2;
            if (use_gemv) {
                /* the block's panels in one run per row group, one or two streams */
                const int64_t p1 = (nb1 + QK_X86_NR - 1) / QK_X86_NR, last = nb1 - (p1 - 1) * QK_X86_NR;
                const __mmask16 lm = last >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << last) - 1);
                for (int64_t r = mb0; r < mb1; r += mr) {
                    int rows = (int)(mb1 - r < mr ? mb1 - r : mr);
                    (gv2 ? gemv2 : gemv)[rows - 1](P, scratch + (size_t)r * rb, rb, qbytes, nb0 / QK_X86_NR, p1,
                                                   y + r * ldy + nb0, ldy, lm);
                }
                continue;
            }
            for (int64_t nn = nb0; nn < nb1; nn += tnp * QK_X86_NR) {
                int64_t cols = nb1 - nn;
                int np = tnp == 2 && cols > QK_X86_NR ? 2 : 1;
                int64_t last = cols - (np - 1) * QK_X86_NR;
                __mmask16 lm = last >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << last) - 1);
                int64_t r = mb0;
                if (row_w8 && np == 2 && mr == 8)
                    /* whole 8-row tiles: the asm block, up to QK_W8_BLOCK_TILES tiles at a time */
                    for (int64_t t; (t = (mb1 - r) / 8) > 0; r += t * 8) {
                        if (t > QK_W8_BLOCK_TILES) t = QK_W8_BLOCK_TILES;
                        qk_w8row_8x2_block(P, scratch + (size_t)r * rb, rb, qbytes, nn / QK_X86_NR, t,
                                           y + r * ldy + nn, ldy, lm);
                    }
                for (; r < mb1; r += mr) {
                    int rows = (int)(mb1 - r < mr ? mb1 - r : mr);
                    const uint8_t *a = scratch + (size_t)r * rb;
                    float *yt = y + r * ldy + nn;
                    qk_x86_tile_fn fn = row_w8 ? qk_w8row_gemm[np - 1][rows - 1] : gemm[np - 1][rows - 1];
                    if (P->nib_x8 && P->g == 32 && P->code_bytes == 256 && P->group_bytes == 288 && P->odd_shift) {
                        if (fn == qk_q8_q4_g6x2) fn = qk_q8_q4_6x2_asm;
                        else if (fn == qk_q8_q4_g2x2) fn = qk_q8_q4_2x2_asm;
                        else if (fn == qk_q8_q4_g4x2) fn = qk_q8_q4_4x2_asm;
                    }
                    if (fn == qk_q8_q8_g6x2 && P->g == 32 && P->code_bytes == 512 && P->group_bytes == 544 &&
                        !P->odd_shift)
                        fn = qk_q8_q8_6x2_asm;
                    if (fn == qk_q81_q41_g6x2 && P->g == 32 && P->code_bytes == 256 && P->group_bytes == 320 &&
                        !P->odd_shift)
                        fn = qk_q81_q41_6x2_asm;
                    fn(P, a, rb, qbytes, nn / QK_X86_NR, yt, ldy, lm);
                }
            }
        }
    }
    if (ub) qk_x86_ubuf_give(P->ubufs, ub, ub_slot);
}

/* The AMX kinds (x86.h) take the whole 16-row blocks of a call's panel pairs; the rows
 * left over (< 16) and a last single panel go to the vpdpbusd tiles. Which rows take which
 * unit depends only on the call's rows, which the front end derives from the shape, and
 * both give the same bytes for a row anyway (gemm_int8__amx.c). */
void qk_x86_compute_int8__avx512vnni(const qk_x86_packed *P, const uint8_t *scratch, int64_t m0, int64_t m1,
                                     int64_t n0, int64_t n1, float *y, int64_t ldy) {
#if defined(QKERN_HAVE_AMX)
    const int64_t ma = m0 + (m1 - m0) / 16 * 16;
    if (P->amx != QK_X86_AMX_NONE && ma > m0 && n1 - n0 > QK_X86_NR) {
        const size_t rb = qk_x86_act_row_bytes(P);
        const size_t qbytes = ((size_t)(P->groups * P->g) + 63) / 64 * 64;
        int slot = -1;
        uint8_t *ub = NULL;
        if (P->amx != QK_X86_AMX_W8ROW && !(ub = qk_x86_ubuf_take(P->ubufs, &slot))) {
            qk_x86_compute_int8_vnni(P, scratch, m0, m1, n0, n1, y, ldy); /* no memory: same bytes */
            return;
        }
        int64_t nn = n0;
        for (; n1 - nn > QK_X86_NR; nn += 2 * QK_X86_NR) {
            const int64_t p0 = nn / QK_X86_NR, last = n1 - nn - QK_X86_NR;
            const uint16_t lm = last >= 16 ? 0xFFFF : (uint16_t)((1u << last) - 1);
            if (ub) qk_x86_unpack_pair(P, p0, ub);
            qk_x86_amx_pair__amx(P, ub, scratch + (size_t)m0 * rb, rb, qbytes, ma - m0, p0, y + m0 * ldy + nn, ldy, lm);
        }
        if (ub) qk_x86_ubuf_give(P->ubufs, ub, slot);
        if (nn < n1) qk_x86_compute_int8_vnni(P, scratch, m0, ma, nn, n1, y, ldy);
        if (ma < m1) qk_x86_compute_int8_vnni(P, scratch, ma, m1, n0, n1, y, ldy);
        return;
    }
#endif
    qk_x86_compute_int8_vnni(P, scratch, m0, m1, n0, n1, y, ldy);
}

/* ---- LLM.int8 ---------------------------------------------------------------------------- */

void qk_x86_prepare_llm__avx512vnni(const qk_x86_packed *P, const float *x, int64_t ldx, const uint8_t *mask,
                                    int64_t m0, int64_t m1, uint8_t *rows) {
    const size_t rb = qk_x86_act_row_bytes(P);
    const int64_t K = P->k, kp = P->groups * P->g;
    const size_t qbytes = ((size_t)kp + 63) / 64 * 64;
    const __m512 big = _mm512_set1_ps(FLT_MAX), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    const __m512i off = _mm512_set1_epi32(128);
    for (int64_t m = m0; m < m1; m++) {
        const float *xr = x + m * ldx;
        uint8_t *q = rows + (size_t)m * rb;
        /* outlier columns read as 0: they neither set amax nor contribute to isum */
        __m512 am = _mm512_setzero_ps();
        for (int64_t i = 0; i < K; i += 16) {
            __mmask16 t = K - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (K - i)) - 1);
            __mmask16 in = t & _mm512_cmpeq_epi32_mask(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(t, mask + i)),
                                                       _mm512_setzero_si512());
            __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(in, xr + i));
            am = _mm512_mask_max_ps(am, _mm512_cmp_ps_mask(a, big, _CMP_LE_OQ), am, a);
        }
        float sx, ix;
        qk_i8_params(_mm512_reduce_max_ps(am), &sx, &ix);
        const __m512 vix = _mm512_set1_ps(ix);
        for (int64_t i = 0; i < kp; i += 16) {
            int64_t live = K - i < 0 ? 0 : K - i;
            __mmask16 t = live >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << live) - 1);
            __mmask16 in = t & _mm512_cmpeq_epi32_mask(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(t, mask + i)),
                                                       _mm512_setzero_si512());
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(in, xr + i), vix);
            v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_setzero_ps());
            v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            __m512i r = _mm512_add_epi32(_mm512_cvtps_epi32(v), off);
            int64_t n = kp - i < 16 ? kp - i : 16;
            _mm512_mask_cvtepi32_storeu_epi8(q + i, (__mmask16)((1u << n) - 1), r);
        }
        float *sc = (float *)(q + qbytes);
        sc[0] = sx;
    }
}

/* R rows (x's gathered outliers at xo, stride ldo) meet c decoded outlier weight vectors,
 * and add to 16 columns of y: one FMA chain per row, so four rows keep four going. */
static inline __attribute__((always_inline)) void qk_llm_outlier_rows(const __m512 *w, int c, const float *xo, int ldo,
                                                                      float *y, int64_t ldy, __mmask16 lm, const int R) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int j = 0; j < c; j++)
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(xo[i * ldo + j]), w[j], acc[i]);
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        _mm512_mask_storeu_ps(y + i * ldy, lm, _mm512_add_ps(_mm512_maskz_loadu_ps(lm, y + i * ldy), acc[i]));
}

/* y += Σ_{k outlier} x[m][k]·deq(W)[n][k] over the front end's outlier list: each panel's
 * outlier weights are decoded once per chunk of the list and block of rows (deq = q·s_n
 * exactly as the scalar dequantiser, then the f32 product, in ascending k), then every row
 * of the block meets them. */
void qk_x86_llm_outliers__avx512vnni(const qk_x86_packed *P, const float *x, int64_t ldx, const int64_t *list,
                                     int64_t n_out, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y,
                                     int64_t ldy) {
    /* CHUNK outlier columns of ROWS rows of x gathered once (8 KiB), then every panel meets
     * them: read in place, each panel's pass re-read the same scattered elements of x (one
     * line per element, 64 KiB for 128 rows × 8 outliers, out of L1), which made this pass
     * 6 % of the LLM.int8 call at M = 128. Four rows at a time keep four FMA chains going. */
    enum { CHUNK = 64, ROWS = 32 };
    float xo[ROWS * CHUNK];
    __m512 w[CHUNK]; /* 4 KiB of decoded weights */
    for (int64_t j0 = 0; j0 < n_out; j0 += CHUNK) {
        const int c = (int)(n_out - j0 < CHUNK ? n_out - j0 : CHUNK);
        for (int64_t mb = m0; mb < m1; mb += ROWS) {
            const int rows = (int)(m1 - mb < ROWS ? m1 - mb : ROWS);
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < c; j++) xo[r * CHUNK + j] = x[(mb + r) * ldx + list[j0 + j]];
            for (int64_t nn = n0; nn < n1; nn += QK_X86_NR) {
                const int64_t cols = n1 - nn;
                const __mmask16 lm = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
                const uint8_t *pan = P->w + (size_t)(nn / QK_X86_NR) * P->panel_bytes;
                const __m512 sw = _mm512_loadu_ps(pan + P->code_bytes);
                for (int j = 0; j < c; j++) {
                    const int64_t k = list[j0 + j];
                    __m512i v = _mm512_load_si512(pan + (k / 4) * 64);
                    __m512i q = _mm512_srai_epi32(_mm512_sllv_epi32(v, _mm512_set1_epi32(24 - 8 * (int)(k % 4))), 24);
                    w[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(q), sw);
                }
                int r = 0;
                for (; r + 4 <= rows; r += 4) qk_llm_outlier_rows(w, c, xo + r * CHUNK, CHUNK, y + (mb + r) * ldy + nn, ldy, lm, 4);
                for (; r < rows; r++) qk_llm_outlier_rows(w, c, xo + r * CHUNK, CHUNK, y + (mb + r) * ldy + nn, ldy, lm, 1);
            }
        }
    }
}
