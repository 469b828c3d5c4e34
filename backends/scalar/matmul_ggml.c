/* ggml's pairs: Q4_0 / Q8_0 weights × Q8_0 activations, Q4_1 × Q8_1, as llama.cpp's
 * vec_dot_q4_0_q8_0, vec_dot_q8_0_q8_0 and vec_dot_q4_1_q8_1 (docs/matmul.md):
 * activations by the reference row quantisers, exact int32 sums per 32-block. */
#include "backends/scalar/matmul_scalar.h"
#include "kernels/format_half.h"

static size_t qk_mm_q8_row_bytes(const qk_packed *p) {
    size_t bb = p->act == QKERN_ACT_Q8_1 ? sizeof(qk_block_q8_1) : sizeof(qk_block_q8_0);
    return (size_t)(p->k / QK_GGML_BLOCK) * bb;
}

size_t qk_mm_scratch_q8__scalar(const qk_packed *p, int64_t m) {
    return qk_mm_size_madd(0, (size_t)m, qk_mm_q8_row_bytes(p));
}

qkern_status qk_mm_prepare_q8__scalar(const qk_packed *p, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                      void *scratch) {
    const size_t rb = qk_mm_q8_row_bytes(p);
    for (int64_t m = m0; m < m1; m++) {
        void *row = (unsigned char *)scratch + (size_t)m * rb;
        if (p->act == QKERN_ACT_Q8_1) qk_quantize_row_q8_1__scalar(x + m * ldx, row, p->k);
        else qk_quantize_row_q8_0__scalar(x + m * ldx, row, p->k);
    }
    return QKERN_OK;
}

/* Q4_0: element j in the low nibble of qs[j], element j+16 in the high nibble, value nibble − 8. */
static float qk_mm_row_q4_0(const qk_block_q4_0 *w, const qk_block_q8_0 *a, int64_t nb) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += ((int32_t)(w[b].qs[j] & 0xf) - 8) * a[b].qs[j];
            isum += ((int32_t)(w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
        }
        acc += (qk_f16_to_f32(w[b].d) * qk_f16_to_f32(a[b].d)) * (float)isum;
    }
    return acc;
}

static float qk_mm_row_q8_0(const qk_block_q8_0 *w, const qk_block_q8_0 *a, int64_t nb) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int j = 0; j < 32; j++) isum += (int32_t)w[b].qs[j] * a[b].qs[j];
        acc += (qk_f16_to_f32(w[b].d) * qk_f16_to_f32(a[b].d)) * (float)isum;
    }
    return acc;
}

/* Q4_1 × Q8_1: the min term uses the activation block's stored s = f16(d·Σq), as ggml does. */
static float qk_mm_row_q4_1(const qk_block_q4_1 *w, const qk_block_q8_1 *a, int64_t nb) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += (int32_t)(w[b].qs[j] & 0xf) * a[b].qs[j];
            isum += (int32_t)(w[b].qs[j] >> 4) * a[b].qs[j + 16];
        }
        acc += (qk_f16_to_f32(w[b].d) * qk_f16_to_f32(a[b].d)) * (float)isum +
               qk_f16_to_f32(w[b].m) * qk_f16_to_f32(a[b].s);
    }
    return acc;
}

qkern_status qk_mm_compute_q8__scalar(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                      int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    (void)x;
    (void)ldx;
    const qk_mm_scalar *s = qk_mm_scalar_of(p);
    const int64_t nb = p->k / QK_GGML_BLOCK;
    const size_t rb = qk_mm_q8_row_bytes(p);
    for (int64_t n = n0; n < n1; n++) {
        const void *wrow = (const unsigned char *)s->w.data + (size_t)n * s->L.row_bytes;
        for (int64_t m = m0; m < m1; m++) {
            const void *arow = (const unsigned char *)scratch + (size_t)m * rb;
            float acc;
            if (s->L.format == QKERN_Q4_0) acc = qk_mm_row_q4_0(wrow, arow, nb);
            else if (s->L.format == QKERN_Q8_0) acc = qk_mm_row_q8_0(wrow, arow, nb);
            else acc = qk_mm_row_q4_1(wrow, arow, nb);
            y[m * ldy + n] = p->bias ? acc + p->bias[n] : acc;
        }
    }
    return QKERN_OK;
}
