/* QKERN_ACT_FLOAT for every weight format: W is dequantised a chunk at a time by the
 * format's own scalar dequantiser (so deq(W) here is bit-for-bit qkern_dequantize's),
 * then y = bias + Σ_k x[k]·deq(W)[n][k] in f32. */
#include <string.h>

#include "backends/scalar/matmul_scalar.h"

int64_t qk_mm_chunk_len__scalar(const qk_mm_scalar *s, int64_t k0) {
    const qk_layout *L = &s->L;
    int64_t g = qk_format_info(L->format)->block == QK_GGML_BLOCK ? QK_GGML_BLOCK : (L->group ? L->group : L->cols);
    int64_t left = g - k0 % g;
    return left < QK_MM_SCALAR_CHUNK ? left : QK_MM_SCALAR_CHUNK;
}

static void qk_mm_dequant_ggml(const qk_mm_scalar *s, int64_t n, int64_t k0, float *out) {
    const unsigned char *blk = (const unsigned char *)s->w.data + (size_t)n * s->L.row_bytes +
                               (size_t)(k0 / QK_GGML_BLOCK) * qk_format_info(s->L.format)->block_bytes;
    switch (s->L.format) {
    case QKERN_Q8_0: qk_dequantize_row_q8_0__scalar((const qk_block_q8_0 *)blk, out, QK_GGML_BLOCK); break;
    case QKERN_Q8_1: qk_dequantize_row_q8_1__scalar((const qk_block_q8_1 *)blk, out, QK_GGML_BLOCK); break;
    case QKERN_Q4_0: qk_dequantize_row_q4_0__scalar((const qk_block_q4_0 *)blk, out, QK_GGML_BLOCK); break;
    case QKERN_Q4_1: qk_dequantize_row_q4_1__scalar((const qk_block_q4_1 *)blk, out, QK_GGML_BLOCK); break;
    default: break;
    }
}

/* A 1 × c view of W[n][k0 .. k0+c) with the one scale (and zero) of its group, handed
 * to the format's tensor dequantiser: the chunk never crosses a group, so the view's
 * "one scale per row" is exactly that group's scale. */
void qk_mm_dequant_chunk__scalar(const qk_mm_scalar *s, int64_t n, int64_t k0, int64_t c, float *out) {
    const qk_layout *L = &s->L;
    qkern_format f = L->format;
    if (qk_format_info(f)->block == QK_GGML_BLOCK) {
        qk_mm_dequant_ggml(s, n, k0, out);
        return;
    }
    int nibbles = f == QKERN_I4 || f == QKERN_NF4;
    size_t si = L->group == 0 ? 0 : (size_t)n * (size_t)L->groups_per_row + (size_t)(k0 / L->group);
    size_t ssz = f == QKERN_I4 ? 2 : 4, zsz = f == QKERN_I8_ASYM ? 4 : 1;
    qkern_qtensor v;
    memset(&v, 0, sizeof v);
    v.desc.format = f;
    v.desc.group = L->group == 0 ? QKERN_GROUP_TENSOR : QKERN_GROUP_ROW;
    v.desc.flags = s->w.desc.flags & QKERN_QUANT_ASYMMETRIC;
    v.rows = 1;
    v.cols = c;
    v.data = (unsigned char *)s->w.data + (size_t)n * L->row_bytes + (size_t)(nibbles ? k0 / 2 : k0);
    v.data_bytes = (size_t)(nibbles ? c / 2 : c);
    v.scales = (unsigned char *)s->w.scales + si * ssz;
    v.scales_bytes = ssz;
    if (s->w.zeros) {
        v.zeros = (unsigned char *)s->w.zeros + si * zsz;
        v.zeros_bytes = zsz;
    }
    qk_layout VL;
    if (qk_resolve_layout(&v.desc, 1, c, &VL) != QKERN_OK) return; /* cannot happen: W was validated */
    switch (f) {
    case QKERN_I8: case QKERN_I8_ASYM: case QKERN_I4: qk_dequant_int__scalar(&v, &VL, out, 0, 1); break;
    case QKERN_NF4: qk_dequant_nf4__scalar(&v, &VL, out, 0, 1); break;
    case QKERN_FP8_E4M3: case QKERN_FP8_E5M2: qk_dequant_fp8__scalar(&v, &VL, out, 0, 1); break;
    default: break;
    }
}

/* Chunk partial sums keep the rounding error near (chunk + K/chunk)·ε instead of K·ε;
 * the order is fixed by the format's groups, never by the tile, so any split gives the
 * same bytes. */
qkern_status qk_mm_compute_float__scalar(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                         int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    (void)scratch;
    const qk_mm_scalar *s = qk_mm_scalar_of(p);
    const int64_t K = p->k;
    float w[QK_MM_SCALAR_CHUNK];
    for (int64_t n = n0; n < n1; n++) {
        for (int64_t ma = m0; ma < m1; ma += QK_MM_SCALAR_ROWS) {
            int64_t rows = m1 - ma < QK_MM_SCALAR_ROWS ? m1 - ma : QK_MM_SCALAR_ROWS;
            float acc[QK_MM_SCALAR_ROWS] = {0};
            for (int64_t k0 = 0; k0 < K;) {
                int64_t c = qk_mm_chunk_len__scalar(s, k0);
                qk_mm_dequant_chunk__scalar(s, n, k0, c, w);
                for (int64_t i = 0; i < rows; i++) {
                    const float *xr = x + (ma + i) * ldx + k0;
                    float part = 0.0f;
                    for (int64_t j = 0; j < c; j++) part += xr[j] * w[j];
                    acc[i] += part;
                }
                k0 += c;
            }
            for (int64_t i = 0; i < rows; i++) y[(ma + i) * ldy + n] = p->bias ? acc[i] + p->bias[n] : acc[i];
        }
    }
    return QKERN_OK;
}
