/* FP8 × FP8 on AVX512_BF16. Both FP8 formats widen to BF16 exactly (E4M3: 3 mantissa
 * bits, 2^-9..448; E5M2: 2 bits, 2^-16..57344; BF16 has 7 bits and the f32 exponent
 * range), so vdpbf16ps forms the exact products of docs/matmul.md (8-bit × 8-bit
 * significands fit f32) and accumulates them in f32; only the summation order differs
 * from scalar. Its DAZ/FTZ never bites: no FP8 value or product is an f32 denormal. */
#include <immintrin.h>
#include <string.h>

#include "backends/x86/x86.h"

#define QK_AI __attribute__((always_inline)) static inline

QK_AI void qk_x86_tile_bf16(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                            float *y, int64_t ldy, __mmask16 last_mask, const int MR, const int NP) {
    const size_t pb = P->panel_bytes, cb = P->code_bytes;
    const uint8_t *pan = P->w + (size_t)p0 * pb;
    __m512 acc[8][2];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 2
        for (int p = 0; p < NP; p++) acc[m][p] = _mm512_setzero_ps();
    for (int64_t c = 0; c < P->g / 2; c++) {
        __m512i w[2];
#pragma GCC unroll 2
        for (int p = 0; p < NP; p++) w[p] = _mm512_load_si512(pan + (size_t)p * pb + c * 64);
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) {
            int32_t xv;
            memcpy(&xv, act + (size_t)m * rb + c * 4, 4);
            __m512i xb = _mm512_set1_epi32(xv);
#pragma GCC unroll 2
            for (int p = 0; p < NP; p++)
                acc[m][p] = _mm512_dpbf16_ps(acc[m][p], (__m512bh)xb, (__m512bh)w[p]);
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

typedef void (*qk_bf_fn)(const qk_x86_packed *, const uint8_t *, size_t, size_t, int64_t, float *, int64_t, __mmask16);
#define QK_BT(MR, NP)                                                                                           \
    static void qk_bf_##MR##x##NP(const qk_x86_packed *P, const uint8_t *a, size_t rb, size_t qb, int64_t p0,       \
                                  float *y, int64_t ldy, __mmask16 lm) {                                           \
        qk_x86_tile_bf16(P, a, rb, qb, p0, y, ldy, lm, MR, NP);                                                     \
    }
QK_BT(1, 1) QK_BT(2, 1) QK_BT(3, 1) QK_BT(4, 1) QK_BT(5, 1) QK_BT(6, 1) QK_BT(7, 1) QK_BT(8, 1)
QK_BT(1, 2) QK_BT(2, 2) QK_BT(3, 2) QK_BT(4, 2) QK_BT(5, 2) QK_BT(6, 2) QK_BT(7, 2) QK_BT(8, 2)
static const qk_bf_fn qk_bf_tiles[2][8] = {
    {qk_bf_1x1, qk_bf_2x1, qk_bf_3x1, qk_bf_4x1, qk_bf_5x1, qk_bf_6x1, qk_bf_7x1, qk_bf_8x1},
    {qk_bf_1x2, qk_bf_2x2, qk_bf_3x2, qk_bf_4x2, qk_bf_5x2, qk_bf_6x2, qk_bf_7x2, qk_bf_8x2}};

void qk_x86_compute_fp8__avx512bf16(const qk_x86_packed *P, const uint8_t *scratch, int64_t m0, int64_t m1,
                                    int64_t n0, int64_t n1, float *y, int64_t ldy) {
    const size_t rb = qk_x86_act_row_bytes(P);
    const size_t qbytes = ((size_t)(P->g * 2) + 63) / 64 * 64;
    const int64_t nb = P->tune->n_block > 0 ? P->tune->n_block : n1 - n0;
    const int mr = P->tune->mr < 1 ? 1 : P->tune->mr > 8 ? 8 : P->tune->mr;
    const int tnp = P->tune->nr_panels >= 2 ? 2 : 1;
    for (int64_t nb0 = n0; nb0 < n1; nb0 += nb) {
        int64_t nb1 = nb0 + nb < n1 ? nb0 + nb : n1;
        for (int64_t nn = nb0; nn < nb1; nn += tnp * QK_X86_NR) {
            int64_t cols = nb1 - nn;
            int np = tnp == 2 && cols > QK_X86_NR ? 2 : 1;
            int64_t last = cols - (np - 1) * QK_X86_NR;
            __mmask16 lm = last >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << last) - 1);
            for (int64_t r = m0; r < m1; r += mr) {
                int rows = (int)(m1 - r < mr ? m1 - r : mr);
                qk_bf_tiles[np - 1][rows - 1](P, scratch + (size_t)r * rb, rb, qbytes, nn / QK_X86_NR, y + r * ldy + nn,
                                              ldy, lm);
            }
        }
    }
}
