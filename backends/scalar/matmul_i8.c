/* QKERN_ACT_I8_DYNAMIC: activations quantised per row by the I8 rule (kernels/format_int.h),
 * exact int32 sums per weight group, y = bias + Σ_G (sx·sw_G)·isum_G (docs/matmul.md). */
#include "backends/scalar/matmul_scalar.h"
#include "kernels/format_half.h"
#include "kernels/format_int.h"

/* One scratch row: the f32 scale, then K int8 codes; 16-byte rows keep the next scale aligned. */
static size_t qk_mm_i8_row_bytes(int64_t k) { return ((size_t)k + sizeof(float) + 15u) & ~(size_t)15u; }

size_t qk_mm_scratch_i8__scalar(const qk_packed *p, int64_t m) {
    return qk_mm_size_madd(0, (size_t)m, qk_mm_i8_row_bytes(p->k));
}

void qk_mm_quantize_act_i8__scalar(const float *x, const uint8_t *mask, int64_t k, float *sx, int8_t *qx) {
    float amax = 0.0f;
    if (mask) {
        for (int64_t i = 0; i < k; i++) {
            if (mask[i]) continue;
            const float a = x[i] < 0.0f ? -x[i] : x[i];
            if (a <= FLT_MAX && a > amax) amax = a;
        }
    } else {
        amax = qk_int_amax(x, k);
    }
    float s, inv;
    qk_i8_params(amax, &s, &inv);
    *sx = s;
    for (int64_t i = 0; i < k; i++) qx[i] = mask && mask[i] ? 0 : qk_i8_quant(x[i], inv);
}

qkern_status qk_mm_prepare_i8__scalar(const qk_packed *p, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                      void *scratch) {
    const size_t rb = qk_mm_i8_row_bytes(p->k);
    for (int64_t m = m0; m < m1; m++) {
        unsigned char *row = (unsigned char *)scratch + (size_t)m * rb;
        float sx;
        qk_mm_quantize_act_i8__scalar(x + m * ldx, NULL, p->k, &sx, (int8_t *)(row + sizeof(float)));
        memcpy(row, &sx, sizeof sx);
    }
    return QKERN_OK;
}

/* isum over one group: I8 weights are the stored codes; I4 weights are nibble − 8 (sym)
 * or nibble − zero (asym), element 2i in the low nibble. */
static int32_t qk_mm_isum_i8(const int8_t *qx, const int8_t *qw, int64_t g) {
    int32_t s = 0;
    for (int64_t j = 0; j < g; j++) s += (int32_t)qx[j] * qw[j];
    return s;
}

static int32_t qk_mm_isum_i4(const int8_t *qx, const uint8_t *qw, int64_t g, int32_t off) {
    int32_t s = 0;
    for (int64_t j = 0; j < g; j += 2) {
        s += (int32_t)qx[j] * ((int32_t)(qw[j / 2] & 0xf) - off);
        s += (int32_t)qx[j + 1] * ((int32_t)(qw[j / 2] >> 4) - off);
    }
    return s;
}

qkern_status qk_mm_compute_i8__scalar(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                      int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    (void)x;
    (void)ldx;
    const qk_mm_scalar *s = qk_mm_scalar_of(p);
    const qk_layout *L = &s->L;
    const int64_t K = p->k, g = L->group, ng = L->groups_per_row;
    const size_t rb = qk_mm_i8_row_bytes(K);
    const int i4 = L->format == QKERN_I4, asym = (s->w.desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    const uint16_t *s16 = s->w.scales;
    const float *s32 = s->w.scales;
    const uint8_t *zeros = s->w.zeros;
    for (int64_t n = n0; n < n1; n++) {
        const unsigned char *wrow = (const unsigned char *)s->w.data + (size_t)n * L->row_bytes;
        for (int64_t m = m0; m < m1; m++) {
            const unsigned char *arow = (const unsigned char *)scratch + (size_t)m * rb;
            float sx;
            memcpy(&sx, arow, sizeof sx);
            const int8_t *qx = (const int8_t *)(arow + sizeof(float));
            float acc = 0.0f;
            for (int64_t G = 0; G < ng; G++) {
                const size_t si = (size_t)(n * ng + G);
                int32_t isum;
                float sw;
                if (i4) {
                    int32_t off = asym ? qk_i4_zero(zeros[si]) : QK_I4_SYM_OFFSET;
                    isum = qk_mm_isum_i4(qx + G * g, wrow + G * g / 2, g, off);
                    sw = qk_f16_to_f32(s16[si]);
                } else {
                    isum = qk_mm_isum_i8(qx + G * g, (const int8_t *)wrow + G * g, g);
                    sw = s32[si];
                }
                acc += (sx * sw) * (float)isum;
            }
            y[m * ldy + n] = p->bias ? acc + p->bias[n] : acc;
        }
    }
    return QKERN_OK;
}
