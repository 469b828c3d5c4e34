/* FP8 × FP8 on AVX512_BF16. Both FP8 formats widen to BF16 exactly (E4M3: 3 mantissa
 * bits, 2^-9..448; E5M2: 2 bits, 2^-16..57344; BF16 has 7 bits and the f32 exponent
 * range), so vdpbf16ps forms the exact products of docs/matmul.md (8-bit × 8-bit
 * significands fit f32) and accumulates them in f32; only the summation order differs
 * from scalar. The weights stay FP8 bytes in the pack (c4 chunks) and are widened on the
 * way (fp8_decode_x86.h). Its DAZ/FTZ never bites: no FP8 value or product is an f32
 * denormal. */
#include <immintrin.h>
#include <string.h>

#include "backends/x86/fp8_decode_x86.h"
#include "backends/x86/x86.h"

#define QK_AI __attribute__((always_inline)) static inline

/* Chunk c (64 FP8 codes at src) of panel p as the BF16 pairs *a, *b: by the word decode
 * when words is set (the pack holds no Inf / NaN) and fp8_sub marks no subnormal in the
 * chunk, else through f32. */
QK_AI void qk_x86_fp8_chunk(const qk_x86_packed *P, const uint8_t *src, int64_t p, int64_t c, int e4m3, int words,
                            const qk_x86_fp8_words *W, __m512i *a, __m512i *b) {
    if (words && !qk_x86_fp8_sub_at(P, p, c)) qk_x86_fp8_quad_words(src, e4m3, W, a, b);
    else qk_x86_fp8_quad_bf16(src, e4m3, !P->fp8_nan, a, b);
}

/* MR rows × NP panels over all of K, fetching the 2·pb bytes at next (the next panel pair;
 * NULL: none) into L2 on the way. DEC 1: the weights are the pack's FP8 codes (panel p
 * at codes + p·cstride, 64 bytes per 4 k), widened here through f32; DEC 2: the same for a
 * pack without Inf / NaN, each chunk by the word decode unless fp8_sub marks a subnormal in
 * it; DEC 0: BF16 pairs already widened into a buffer (64 bytes per k pair). Same products
 * and order every way, so the same bytes out. */
QK_AI void qk_x86_tile_bf16(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, const uint8_t *codes,
                            size_t cstride, int64_t p0, float *y, int64_t ldy, __mmask16 last_mask, const uint8_t *next,
                            const int MR, const int NP, const int DEC, const int E4M3) {
    const size_t pb = P->panel_bytes, cb = P->code_bytes;
    const uint8_t *pan = P->w + (size_t)p0 * pb;
    const qk_x86_fp8_words W = qk_x86_fp8_words_init(E4M3);
    __m512 acc[8][2];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 2
        for (int p = 0; p < NP; p++) acc[m][p] = _mm512_setzero_ps();
    for (int64_t c = 0; c < P->g / 4; c++) { /* 4 k: two k pairs */
        __m512i w[2][2];
        if (next) { /* two lines per chunk: the pair's codes (2·64 B per chunk) */
            _mm_prefetch((const char *)next + c * 128, _MM_HINT_T1);
            _mm_prefetch((const char *)next + c * 128 + 64, _MM_HINT_T1);
        }
#pragma GCC unroll 2
        for (int p = 0; p < NP; p++) {
            if (DEC) {
                qk_x86_fp8_chunk(P, codes + (size_t)p * cstride + c * 64, p0 + p, c, E4M3, DEC == 2, &W, &w[p][0], &w[p][1]);
            } else {
                w[p][0] = _mm512_load_si512(codes + (size_t)p * cstride + c * 128);
                w[p][1] = _mm512_load_si512(codes + (size_t)p * cstride + c * 128 + 64);
            }
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++)
#pragma GCC unroll 8
            for (int m = 0; m < MR; m++) {
                int32_t xv;
                memcpy(&xv, act + (size_t)m * rb + (2 * c + h) * 4, 4);
                __m512i xb = _mm512_set1_epi32(xv);
#pragma GCC unroll 2
                for (int p = 0; p < NP; p++)
                    acc[m][p] = _mm512_dpbf16_ps(acc[m][p], (__m512bh)xb, (__m512bh)w[p][h]);
            }
    }
#pragma GCC unroll 2
    for (int p = 0; p < NP; p++) {
        __m512 sw = _mm512_loadu_ps(pan + (size_t)p * pb + cb);
        __m512 b = _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR);
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) {
            float sx;
            memcpy(&sx, act + (size_t)m * rb + qbytes, 4);
            __m512 r = _mm512_fmadd_ps(_mm512_mul_ps(acc[m][p], sw), _mm512_set1_ps(sx), b);
            if (p == NP - 1) _mm512_mask_storeu_ps(y + m * ldy + p * QK_X86_NR, last_mask, r);
            else _mm512_storeu_ps(y + m * ldy + p * QK_X86_NR, r);
        }
    }
}

typedef void (*qk_bf_fn)(const qk_x86_packed *, const uint8_t *, size_t, size_t, const uint8_t *, size_t, int64_t,
                         float *, int64_t, __mmask16, const uint8_t *);
/* One function per rows × panels × decode × format: the format fixes the word decode's
 * shift and masks, which as run-time values were re-broadcast inside the K loop. */
#define QK_BT(MR, NP, DEC, E)                                                                                   \
    static void qk_bf_##MR##x##NP##_##DEC##E(const qk_x86_packed *P, const uint8_t *a, size_t rb, size_t qb,        \
                                             const uint8_t *codes, size_t cs, int64_t p0, float *y, int64_t ldy,     \
                                             __mmask16 lm, const uint8_t *next) {                                    \
        qk_x86_tile_bf16(P, a, rb, qb, codes, cs, p0, y, ldy, lm, next, MR, NP, DEC, E);                            \
    }
#define QK_BT_ROWS(NP, DEC, E)                                                                                  \
    QK_BT(1, NP, DEC, E) QK_BT(2, NP, DEC, E) QK_BT(3, NP, DEC, E) QK_BT(4, NP, DEC, E) QK_BT(5, NP, DEC, E)        \
    QK_BT(6, NP, DEC, E) QK_BT(7, NP, DEC, E) QK_BT(8, NP, DEC, E)
QK_BT_ROWS(1, 0, 0) QK_BT_ROWS(2, 0, 0)
QK_BT_ROWS(1, 1, 0) QK_BT_ROWS(2, 1, 0) QK_BT_ROWS(1, 1, 1) QK_BT_ROWS(2, 1, 1)
QK_BT_ROWS(1, 2, 0) QK_BT_ROWS(2, 2, 0) QK_BT_ROWS(1, 2, 1) QK_BT_ROWS(2, 2, 1)
#define QK_BT_TAB(NP, DEC, E)                                                                                   \
    {qk_bf_1x##NP##_##DEC##E, qk_bf_2x##NP##_##DEC##E, qk_bf_3x##NP##_##DEC##E, qk_bf_4x##NP##_##DEC##E,             \
     qk_bf_5x##NP##_##DEC##E, qk_bf_6x##NP##_##DEC##E, qk_bf_7x##NP##_##DEC##E, qk_bf_8x##NP##_##DEC##E}
/* [decode][E4M3][panels − 1][rows − 1]; widened buffers (decode 0) are the same for both formats */
static const qk_bf_fn qk_bf_tiles[3][2][2][8] = {
    {{QK_BT_TAB(1, 0, 0), QK_BT_TAB(2, 0, 0)}, {QK_BT_TAB(1, 0, 0), QK_BT_TAB(2, 0, 0)}},
    {{QK_BT_TAB(1, 1, 0), QK_BT_TAB(2, 1, 0)}, {QK_BT_TAB(1, 1, 1), QK_BT_TAB(2, 1, 1)}},
    {{QK_BT_TAB(1, 2, 0), QK_BT_TAB(2, 2, 0)}, {QK_BT_TAB(1, 2, 1), QK_BT_TAB(2, 2, 1)}}};

/* np panels from p0 widened to BF16 pairs at dst, panel p at dst + p·g·32. */
static void qk_x86_fp8_widen_panels(const qk_x86_packed *P, int64_t p0, int np, uint8_t *dst) {
    const int e4m3 = P->format == QKERN_FP8_E4M3, finite = !P->fp8_nan;
    const qk_x86_fp8_words W = qk_x86_fp8_words_init(e4m3);
    for (int p = 0; p < np; p++) {
        const uint8_t *src = P->w + (size_t)(p0 + p) * P->panel_bytes;
        uint8_t *d = dst + (size_t)p * (size_t)P->g * 32;
        for (int64_t c = 0; c < P->g / 4; c++) {
            __m512i p02, p13;
            qk_x86_fp8_chunk(P, src + c * 64, p0 + p, c, e4m3, finite, &W, &p02, &p13);
            _mm512_store_si512(d + c * 128, p02);
            _mm512_store_si512(d + c * 128 + 64, p13);
        }
    }
}

/* A call range of one tile's rows (M ≤ mr, the GEMV) widens the weights in the tile; more
 * rows widen each panel pair once into a buffer (2·K·32 bytes, L2-resident) that all their
 * tiles read. */
void qk_x86_compute_fp8__avx512bf16(const qk_x86_packed *P, const uint8_t *scratch, int64_t m0, int64_t m1,
                                    int64_t n0, int64_t n1, float *y, int64_t ldy) {
    const size_t rb = qk_x86_act_row_bytes(P);
    const size_t qbytes = ((size_t)(P->g * 2) + 63) / 64 * 64;
    const int64_t nb = P->tune->n_block > 0 ? P->tune->n_block : n1 - n0;
    const int mr = P->tune->mr < 1 ? 1 : P->tune->mr > 8 ? 8 : P->tune->mr;
    const int tnp = P->tune->nr_panels >= 2 ? 2 : 1;
    const int words = !P->fp8_nan; /* the word decode, chunk by chunk (DEC 2) */
    int slot = -1;
    uint8_t *ub = m1 - m0 > mr && P->ubufs ? qk_x86_ubuf_take(P->ubufs, &slot) : NULL;
    for (int64_t nb0 = n0; nb0 < n1; nb0 += nb) {
        int64_t nb1 = nb0 + nb < n1 ? nb0 + nb : n1;
        for (int64_t nn = nb0; nn < nb1; nn += tnp * QK_X86_NR) {
            int64_t cols = nb1 - nn;
            int np = tnp == 2 && cols > QK_X86_NR ? 2 : 1;
            int64_t last = cols - (np - 1) * QK_X86_NR;
            __mmask16 lm = last >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << last) - 1);
            const int64_t p0 = nn / QK_X86_NR;
            const uint8_t *codes = P->w + (size_t)p0 * P->panel_bytes;
            size_t cstride = P->panel_bytes;
            if (ub) {
                qk_x86_fp8_widen_panels(P, p0, np, ub);
                codes = ub;
                cstride = (size_t)P->g * 32;
            }
            /* one tile of rows (M ≤ mr) streams the pack from DRAM: on Zen 4 the next pair's
             * panels start streams the hardware prefetcher finds late (gemv8_prefetch), also
             * the next task's first pair, which the pool gives this thread next (its own run
             * of tasks, in order). M = 1, 1 t: 24 -> 30 GB/s; M = 8: 9.2-9.9 -> 10.4-10.9 */
            const uint8_t *next = !ub && P->tune->gemv8_prefetch && p0 + np + 1 < P->panels
                                      ? P->w + (size_t)(p0 + np) * P->panel_bytes
                                      : NULL;
            for (int64_t r = m0; r < m1; r += mr) {
                int rows = (int)(m1 - r < mr ? m1 - r : mr);
                qk_bf_tiles[ub ? 0 : words ? 2 : 1][P->format == QKERN_FP8_E4M3][np - 1][rows - 1](
                    P, scratch + (size_t)r * rb, rb, qbytes, codes, cstride, p0, y + r * ldy + nn, ldy, lm, next);
            }
        }
    }
    if (ub) qk_x86_ubuf_give(P->ubufs, ub, slot);
}
