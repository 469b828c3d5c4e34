/* LLM.int8() (Dettmers et al.): activation columns the front end marked as outliers
 * (kernels/backend.h header, decided over the whole call) go through f32 against
 * deq(W); the rest is I8 × I8 with the row scale taken over the inlier columns only
 * (outlier columns contribute qx = 0). y = bias + outlier + sx·sw_n·isum (docs/matmul.md). */
#include "backends/scalar/matmul_scalar.h"

static size_t qk_mm_llm_row_bytes(int64_t k) { return ((size_t)k + sizeof(float) + 15u) & ~(size_t)15u; }

size_t qk_mm_scratch_llm_int8__scalar(const qk_packed *p, int64_t m) {
    return qk_mm_size_madd(qk_llm_int8_header_bytes(p->k), (size_t)m, qk_mm_llm_row_bytes(p->k));
}

qkern_status qk_mm_prepare_llm_int8__scalar(const qk_packed *p, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                            void *scratch) {
    const uint8_t *mask = qk_llm_int8_mask(scratch);
    unsigned char *rows = (unsigned char *)scratch + qk_llm_int8_header_bytes(p->k);
    const size_t rb = qk_mm_llm_row_bytes(p->k);
    for (int64_t m = m0; m < m1; m++) {
        unsigned char *row = rows + (size_t)m * rb;
        float sx;
        qk_mm_quantize_act_i8__scalar(x + m * ldx, mask, p->k, &sx, (int8_t *)(row + sizeof(float)));
        memcpy(row, &sx, sizeof sx);
    }
    return QKERN_OK;
}

qkern_status qk_mm_compute_llm_int8__scalar(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                            int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    const qk_mm_scalar *s = qk_mm_scalar_of(p);
    const int64_t K = p->k;
    const uint8_t *mask = qk_llm_int8_mask(scratch);
    qk_llm_int8_header h;
    memcpy(&h, scratch, sizeof h);
    const unsigned char *rows = (const unsigned char *)scratch + qk_llm_int8_header_bytes(K);
    const size_t rb = qk_mm_llm_row_bytes(K);
    const float *sws = s->w.scales;
    float w[QK_MM_SCALAR_CHUNK];
    for (int64_t n = n0; n < n1; n++) {
        const int8_t *qw = (const int8_t *)s->w.data + (size_t)n * s->L.row_bytes;
        const float sw = sws[n];
        for (int64_t m = m0; m < m1; m++) {
            const unsigned char *arow = rows + (size_t)m * rb;
            float sx;
            memcpy(&sx, arow, sizeof sx);
            const int8_t *qx = (const int8_t *)(arow + sizeof(float));
            int32_t isum = 0;
            for (int64_t k = 0; k < K; k++) isum += (int32_t)qx[k] * qw[k];
            float out = 0.0f;
            if (h.n_outliers) {
                const float *xr = x + m * ldx;
                for (int64_t k0 = 0; k0 < K; k0 += QK_MM_SCALAR_CHUNK) {
                    int64_t c = K - k0 < QK_MM_SCALAR_CHUNK ? K - k0 : QK_MM_SCALAR_CHUNK;
                    int any = 0;
                    for (int64_t j = 0; j < c; j++) any |= mask[k0 + j];
                    if (!any) continue;
                    qk_mm_dequant_chunk__scalar(s, n, k0, c, w);
                    for (int64_t j = 0; j < c; j++)
                        if (mask[k0 + j]) out += xr[k0 + j] * w[j];
                }
            }
            float r = (sx * sw) * (float)isum + out;
            y[m * ldy + n] = p->bias ? r + p->bias[n] : r;
        }
    }
    return QKERN_OK;
}
