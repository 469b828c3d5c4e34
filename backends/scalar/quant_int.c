/* I8, I8_ASYM and I4 reference quantiser and dequantiser (rules in kernels/format_int.h).
 *
 * Scale and zero-point buffers are read and written through memcpy: the public API does
 * not promise their alignment (a checkpoint's scales may sit at any offset in a file). */
#include <string.h>

#include "backends/scalar/scalar.h"
#include "kernels/format_half.h"
#include "kernels/format_int.h"

static inline float qk_ld_f32(const void *p, size_t i) {
    float v;
    memcpy(&v, (const unsigned char *)p + i * 4, 4);
    return v;
}
static inline void qk_st_f32(void *p, size_t i, float v) { memcpy((unsigned char *)p + i * 4, &v, 4); }
static inline int32_t qk_ld_i32(const void *p, size_t i) {
    int32_t v;
    memcpy(&v, (const unsigned char *)p + i * 4, 4);
    return v;
}
static inline void qk_st_i32(void *p, size_t i, int32_t v) { memcpy((unsigned char *)p + i * 4, &v, 4); }
static inline uint16_t qk_ld_u16(const void *p, size_t i) {
    uint16_t v;
    memcpy(&v, (const unsigned char *)p + i * 2, 2);
    return v;
}
static inline void qk_st_u16(void *p, size_t i, uint16_t v) { memcpy((unsigned char *)p + i * 2, &v, 2); }

/* One group of a row: elements [c0, c0 + g) and its scale slot. Per tensor (L->group == 0)
 * the front end has already put the scale and zero in slot 0 and set STATIC_SCALES. */
typedef struct qk_int_group {
    int64_t c0, g;
    size_t slot;
} qk_int_group;

static inline qk_int_group qk_int_group_at(const qk_layout *L, int64_t r, int64_t b) {
    qk_int_group G;
    G.g = L->group ? L->group : L->cols;
    G.c0 = b * G.g;
    G.slot = L->group ? (size_t)(r * L->groups_per_row + b) : 0;
    return G;
}

static void qk_quant_i8_group(const float *restrict x, int8_t *restrict q, int64_t g, const qkern_qtensor *t, size_t slot,
                              int is_static) {
    float s, inv;
    if (is_static) {
        s = qk_ld_f32(t->scales, slot);
        inv = qk_int_inv(s);
    } else {
        qk_i8_params(qk_int_amax(x, g), &s, &inv);
        qk_st_f32(t->scales, slot, s);
    }
    for (int64_t j = 0; j < g; j++) q[j] = qk_i8_quant(x[j], inv);
}

static void qk_quant_i8_asym_group(const float *restrict x, int8_t *restrict q, int64_t g, const qkern_qtensor *t, size_t slot,
                                   int is_static) {
    float s, inv;
    int32_t z;
    if (is_static) {
        s = qk_ld_f32(t->scales, slot);
        inv = qk_int_inv(s);
        z = qk_i8_asym_zero(qk_ld_i32(t->zeros, slot));
    } else {
        float lo, hi;
        qk_int_range(x, g, &lo, &hi);
        qk_i8_asym_params(lo, hi, &s, &inv, &z);
        qk_st_f32(t->scales, slot, s);
        qk_st_i32(t->zeros, slot, z);
    }
    for (int64_t j = 0; j < g; j++) q[j] = qk_i8_asym_quant(x[j], inv, z);
}

/* q points at the group's first byte; g is even, so a group never shares a byte. */
static void qk_quant_i4_group(const float *restrict x, uint8_t *restrict q, int64_t g, const qkern_qtensor *t, size_t slot,
                              int is_static, int asym) {
    uint16_t h;
    uint8_t zero = QK_I4_SYM_OFFSET;
    if (is_static) {
        h = qk_ld_u16(t->scales, slot);
        if (asym) zero = qk_i4_zero(((const uint8_t *)t->zeros)[slot]);
    } else {
        float lo = 0.0f, hi = 0.0f;
        if (asym) qk_int_range(x, g, &lo, &hi);
        h = asym ? qk_i4_asym_scale(lo, hi) : qk_i4_sym_scale(qk_int_amax(x, g));
        qk_st_u16(t->scales, slot, h);
        if (asym) {
            zero = qk_i4_asym_zero_for(lo, qk_int_inv(qk_f16_to_f32(h)));
            ((uint8_t *)t->zeros)[slot] = zero;
        }
    }
    /* The codes use the scale as stored: the f16 value widened, then its reciprocal. */
    const float inv = qk_int_inv(qk_f16_to_f32(h));
    if (asym) {
        for (int64_t j = 0; j < g; j += 2)
            q[j / 2] = (uint8_t)(qk_i4_asym_quant(x[j], inv, zero) | qk_i4_asym_quant(x[j + 1], inv, zero) << 4);
    } else {
        for (int64_t j = 0; j < g; j += 2)
            q[j / 2] = (uint8_t)(qk_i4_sym_quant(x[j], inv) | qk_i4_sym_quant(x[j + 1], inv) << 4);
    }
}

qkern_status qk_quant_int__scalar(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0,
                                  int64_t r1) {
    const int is_static = (dst->desc.flags & QKERN_QUANT_STATIC_SCALES) || L->group == 0;
    const int asym = (dst->desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    const int64_t cols = L->cols, nb = L->group ? L->groups_per_row : 1;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = src + (size_t)r * (size_t)cols;
        unsigned char *row = (unsigned char *)dst->data + (size_t)r * L->row_bytes;
        for (int64_t b = 0; b < nb; b++) {
            const qk_int_group G = qk_int_group_at(L, r, b);
            switch (L->format) {
            case QKERN_I8: qk_quant_i8_group(x + G.c0, (int8_t *)row + G.c0, G.g, dst, G.slot, is_static); break;
            case QKERN_I8_ASYM:
                qk_quant_i8_asym_group(x + G.c0, (int8_t *)row + G.c0, G.g, dst, G.slot, is_static);
                break;
            case QKERN_I4: qk_quant_i4_group(x + G.c0, row + G.c0 / 2, G.g, dst, G.slot, is_static, asym); break;
            default: return QKERN_UNSUPPORTED;
            }
        }
    }
    return QKERN_OK;
}

qkern_status qk_dequant_int__scalar(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0,
                                    int64_t r1) {
    const int asym = (src->desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    const int64_t cols = L->cols, nb = L->group ? L->groups_per_row : 1;
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *row = (const unsigned char *)src->data + (size_t)r * L->row_bytes;
        float *y = dst + (size_t)r * (size_t)cols;
        for (int64_t b = 0; b < nb; b++) {
            const qk_int_group G = qk_int_group_at(L, r, b);
            float *yg = y + G.c0;
            if (L->format == QKERN_I8) {
                const int8_t *q = (const int8_t *)row + G.c0;
                const float s = qk_ld_f32(src->scales, G.slot);
                for (int64_t j = 0; j < G.g; j++) yg[j] = (float)q[j] * s;
            } else if (L->format == QKERN_I8_ASYM) {
                const int8_t *q = (const int8_t *)row + G.c0;
                const float s = qk_ld_f32(src->scales, G.slot);
                const int32_t z = qk_i8_asym_zero(qk_ld_i32(src->zeros, G.slot));
                for (int64_t j = 0; j < G.g; j++) yg[j] = (float)(q[j] - z) * s;
            } else if (L->format == QKERN_I4) {
                const unsigned char *q = row + G.c0 / 2;
                const float s = qk_f16_to_f32(qk_ld_u16(src->scales, G.slot));
                const int zero = asym ? qk_i4_zero(((const uint8_t *)src->zeros)[G.slot]) : QK_I4_SYM_OFFSET;
                for (int64_t j = 0; j < G.g; j += 2) {
                    yg[j] = (float)((q[j / 2] & 0x0f) - zero) * s;
                    yg[j + 1] = (float)((q[j / 2] >> 4) - zero) * s;
                }
            } else {
                return QKERN_UNSUPPORTED;
            }
        }
    }
    return QKERN_OK;
}
