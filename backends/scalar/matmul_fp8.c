/* FP8 × FP8: each activation row gets sx = its FP8 scale (kernels/format_fp8.h:
 * qk_fp8_scale_for_amax over the finite |x|) and is quantised by the FP8 quantiser with
 * that static scale; y = bias + sx·sw_n·Σ_k f32(qx)·f32(qw). Products of two FP8 values
 * are exact in f32; the sum is f32 in 64-element partials (docs/matmul.md). */
#include "backends/scalar/matmul_scalar.h"
#include "kernels/format_fp8.h"

static size_t qk_mm_fp8_row_bytes(int64_t k) { return ((size_t)k + sizeof(float) + 15u) & ~(size_t)15u; }

static qkern_format qk_mm_fp8_act_format(const qk_packed *p) {
    return p->act == QKERN_ACT_FP8_E5M2 ? QKERN_FP8_E5M2 : QKERN_FP8_E4M3;
}

size_t qk_mm_scratch_fp8__scalar(const qk_packed *p, int64_t m) {
    return qk_mm_size_madd(0, (size_t)m, qk_mm_fp8_row_bytes(p->k));
}

qkern_status qk_mm_prepare_fp8__scalar(const qk_packed *p, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                       void *scratch) {
    const qkern_format af = qk_mm_fp8_act_format(p);
    const size_t rb = qk_mm_fp8_row_bytes(p->k);
    /* A 1 × K FP8 tensor with a static per-row scale: the activation bytes are exactly
     * what qkern_quantize makes with that scale. */
    qkern_qtensor v;
    memset(&v, 0, sizeof v);
    v.desc.format = af;
    v.desc.group = QKERN_GROUP_ROW;
    v.desc.flags = QKERN_QUANT_STATIC_SCALES;
    v.rows = 1;
    v.cols = p->k;
    v.data_bytes = (size_t)p->k;
    v.scales_bytes = sizeof(float);
    qk_layout VL;
    qkern_status st = qk_resolve_layout(&v.desc, 1, p->k, &VL);
    if (st != QKERN_OK) return st;
    for (int64_t m = m0; m < m1; m++) {
        const float *xr = x + m * ldx;
        unsigned char *row = (unsigned char *)scratch + (size_t)m * rb;
        float sx = qk_fp8_scale_for_amax(qk_fp8_amax_finite(xr, (size_t)p->k), qk_fp8_max(af));
        memcpy(row, &sx, sizeof sx);
        v.data = row + sizeof(float);
        v.scales = &sx;
        st = qk_quant_fp8__scalar(xr, &v, &VL, 0, 1);
        if (st != QKERN_OK) return st;
    }
    return QKERN_OK;
}

qkern_status qk_mm_compute_fp8__scalar(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                       int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    (void)x;
    (void)ldx;
    const qk_mm_scalar *s = qk_mm_scalar_of(p);
    const int64_t K = p->k;
    const size_t rb = qk_mm_fp8_row_bytes(K);
    float ta[256], tw[256];
    qk_fp8_decode_table(qk_mm_fp8_act_format(p), ta);
    qk_fp8_decode_table(s->L.format, tw);
    const float *sws = s->w.scales;
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *qw = (const uint8_t *)s->w.data + (size_t)n * s->L.row_bytes;
        const float sw = s->L.group == 0 ? sws[0] : sws[n];
        for (int64_t m = m0; m < m1; m++) {
            const unsigned char *arow = (const unsigned char *)scratch + (size_t)m * rb;
            float sx;
            memcpy(&sx, arow, sizeof sx);
            const uint8_t *qx = arow + sizeof(float);
            float acc = 0.0f;
            for (int64_t k0 = 0; k0 < K; k0 += QK_MM_SCALAR_CHUNK) {
                int64_t c = K - k0 < QK_MM_SCALAR_CHUNK ? K - k0 : QK_MM_SCALAR_CHUNK;
                float part = 0.0f;
                for (int64_t j = 0; j < c; j++) part += ta[qx[k0 + j]] * tw[qw[k0 + j]];
                acc += part;
            }
            float r = (sx * sw) * acc;
            y[m * ldy + n] = p->bias ? r + p->bias[n] : r;
        }
    }
    return QKERN_OK;
}
