/* ggml block formats Q8_0, Q8_1, Q4_0, Q4_1: byte-identical to llama.cpp's reference
 * quantisers (ggml/src/ggml-quants.c, quantize_row_*_ref and dequantize_row_*, as of
 * ggml-org/llama.cpp 01243c587fec). The rules are in kernels/format_ggml.h and
 * docs/formats.md; this file reproduces the reference's arithmetic step by step
 * (f32 throughout, the UNROUNDED f32 d for the codes, the f16 d only stored).
 *
 * Where llama.cpp's C is undefined or platform-dependent, qkern fixes one answer:
 *   - NaN never takes part in a block's statistics (the reference's Q4_0 / Q4_1 loops skip
 *     it already; its Q8 loop `amax = MAX(amax, |v|)` would forget earlier elements);
 *   - the float -> int8 casts (`(int8_t)roundf(v)`, `(int8_t)(v + 8.5f)`) of a value that
 *     is NaN or ±Inf (NaN inputs, Inf·0, Inf·x when 1/d overflowed) give 0, which is what
 *     the reference compiles to on x86-64 (cvttss2si returns 0x80000000, low byte 0);
 *   - Q8_1's s when d is Inf and Σq = 0 is 0·Inf = NaN: stored as 0xFE00, x86-64's
 *     default NaN (-qNaN) converted to f16, again what the reference writes there. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backends/scalar/scalar.h"
#include "kernels/format_half.h"

#define QK_GGML_NAN_F16 0xFE00u

/* C's truncating float -> int8 cast as x86-64 executes it: truncate to int32 (0x80000000
 * for NaN, ±Inf and out-of-range values), keep the low byte. In-range values are exactly
 * the C cast. */
static inline int qk_ggml_to_i8(float v) {
    const int32_t i = (v >= -2147483648.0f && v < 2147483648.0f) ? (int32_t)v : INT32_MIN;
    const unsigned b = (uint32_t)i & 0xffu;
    return b < 128u ? (int)b : (int)b - 256;
}

/* (int8_t)roundf(v) as x86-64 runs it, without the libm call: roundf rounds half away
 * from zero; v - trunc(v) is exact for every f32 below 2^31 in magnitude (above 2^23
 * v is integral and the difference is 0). Non-finite and out-of-range v give 0 (see
 * qk_ggml_to_i8). */
static inline int qk_ggml_roundf_to_i8(float v) {
    if (!(v >= -2147483648.0f && v < 2147483648.0f)) return 0;
    int32_t i = (int32_t)v;
    const float f = v - (float)i;
    i += (f >= 0.5f) - (f <= -0.5f);
    const unsigned b = (uint32_t)i & 0xffu;
    return b < 128u ? (int)b : (int)b - 256;
}

static inline float qk_ggml_amax(const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < QK_GGML_BLOCK; j++) {
        const float a = fabsf(x[j]);
        if (a > amax) amax = a; /* MAX(amax, a) for every non-NaN a */
    }
    return amax;
}

void qk_quantize_row_q8_0__scalar(const float *x, qk_block_q8_0 *y, int64_t k) {
    const int64_t nb = k / QK_GGML_BLOCK;
    for (int64_t i = 0; i < nb; i++, x += QK_GGML_BLOCK) {
        const float d = qk_ggml_amax(x) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = qk_f32_to_f16(d);
        for (int j = 0; j < QK_GGML_BLOCK; j++) y[i].qs[j] = (int8_t)qk_ggml_roundf_to_i8(x[j] * id);
    }
}

void qk_quantize_row_q8_1__scalar(const float *x, qk_block_q8_1 *y, int64_t k) {
    const int64_t nb = k / QK_GGML_BLOCK;
    for (int64_t i = 0; i < nb; i++, x += QK_GGML_BLOCK) {
        const float d = qk_ggml_amax(x) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = qk_f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < QK_GGML_BLOCK; j++) {
            y[i].qs[j] = (int8_t)qk_ggml_roundf_to_i8(x[j] * id);
            sum += y[i].qs[j];
        }
        /* d times the sum of the stored codes (not Σx), as current llama.cpp does. */
        const float s = (float)sum * d;
        y[i].s = s != s ? (uint16_t)QK_GGML_NAN_F16 : qk_f32_to_f16(s);
    }
}

void qk_quantize_row_q4_0__scalar(const float *x, qk_block_q4_0 *y, int64_t k) {
    const int64_t nb = k / QK_GGML_BLOCK;
    for (int64_t i = 0; i < nb; i++, x += QK_GGML_BLOCK) {
        /* The signed value of the first element with the largest |x|, so that it maps to
         * code 0 (= -8·d) and the other side gets the extra level. */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK_GGML_BLOCK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = qk_f32_to_f16(d);
        for (int j = 0; j < QK_GGML_BLOCK / 2; j++) {
            /* (int8_t)(v + 8.5f) truncates: round half up, then MIN(15, ·) as an int whose
             * uint8_t image is stored, bits above the nibble included (as the reference). */
            const int q0 = qk_ggml_to_i8(x[j] * id + 8.5f), q1 = qk_ggml_to_i8(x[j + 16] * id + 8.5f);
            const uint8_t xi0 = (uint8_t)(q0 < 15 ? q0 : 15), xi1 = (uint8_t)(q1 < 15 ? q1 : 15);
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

void qk_quantize_row_q4_1__scalar(const float *x, qk_block_q4_1 *y, int64_t k) {
    const int64_t nb = k / QK_GGML_BLOCK;
    for (int64_t i = 0; i < nb; i++, x += QK_GGML_BLOCK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK_GGML_BLOCK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = qk_f32_to_f16(d);
        y[i].m = qk_f32_to_f16(min);
        for (int j = 0; j < QK_GGML_BLOCK / 2; j++) {
            const int q0 = qk_ggml_to_i8((x[j] - min) * id + 0.5f), q1 = qk_ggml_to_i8((x[j + 16] - min) * id + 0.5f);
            const uint8_t xi0 = (uint8_t)(q0 < 15 ? q0 : 15), xi1 = (uint8_t)(q1 < 15 ? q1 : 15);
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

void qk_dequantize_row_q8_0__scalar(const qk_block_q8_0 *x, float *y, int64_t k) {
    const int64_t nb = k / QK_GGML_BLOCK;
    for (int64_t i = 0; i < nb; i++, y += QK_GGML_BLOCK) {
        const float d = qk_f16_to_f32(x[i].d);
        for (int j = 0; j < QK_GGML_BLOCK; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* llama.cpp has no dequantize_row_q8_1 (Q8_1 is an activation format); s is a cache of
 * d·Σq for dot products and plays no part here. */
void qk_dequantize_row_q8_1__scalar(const qk_block_q8_1 *x, float *y, int64_t k) {
    const int64_t nb = k / QK_GGML_BLOCK;
    for (int64_t i = 0; i < nb; i++, y += QK_GGML_BLOCK) {
        const float d = qk_f16_to_f32(x[i].d);
        for (int j = 0; j < QK_GGML_BLOCK; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

void qk_dequantize_row_q4_0__scalar(const qk_block_q4_0 *x, float *y, int64_t k) {
    const int64_t nb = k / QK_GGML_BLOCK;
    for (int64_t i = 0; i < nb; i++, y += QK_GGML_BLOCK) {
        const float d = qk_f16_to_f32(x[i].d);
        for (int j = 0; j < QK_GGML_BLOCK / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* q·d + m as two roundings: the reference's C has no fused multiply-add (ISO C mode
 * leaves contraction off), and a SIMD kernel must not fuse either to match it. */
void qk_dequantize_row_q4_1__scalar(const qk_block_q4_1 *x, float *y, int64_t k) {
    const int64_t nb = k / QK_GGML_BLOCK;
    for (int64_t i = 0; i < nb; i++, y += QK_GGML_BLOCK) {
        const float d = qk_f16_to_f32(x[i].d), m = qk_f16_to_f32(x[i].m);
        for (int j = 0; j < QK_GGML_BLOCK / 2; j++) {
            const float p0 = (float)(x[i].qs[j] & 0x0f) * d, p1 = (float)(x[i].qs[j] >> 4) * d;
            y[j] = p0 + m;
            y[j + 16] = p1 + m;
        }
    }
}

/* The row functions take typed block pointers; a caller's buffer need not be 2-byte
 * aligned (a row inside a file mapping, say), so such rows go block by block through an
 * aligned copy. */
#define QK_GGML_QUANT_ROW(T, fn, x, out, k)                                                    \
    do {                                                                                       \
        if ((uintptr_t)(out) % _Alignof(T) == 0) {                                             \
            fn(x, (T *)(void *)(out), k);                                                      \
        } else {                                                                               \
            for (int64_t b_ = 0; b_ < (k) / QK_GGML_BLOCK; b_++) {                             \
                T blk_;                                                                        \
                fn((x) + b_ * QK_GGML_BLOCK, &blk_, QK_GGML_BLOCK);                            \
                memcpy((out) + (size_t)b_ * sizeof(T), &blk_, sizeof(T));                      \
            }                                                                                  \
        }                                                                                      \
    } while (0)

#define QK_GGML_DEQUANT_ROW(T, fn, in, y, k)                                                   \
    do {                                                                                       \
        if ((uintptr_t)(in) % _Alignof(T) == 0) {                                              \
            fn((const T *)(const void *)(in), y, k);                                           \
        } else {                                                                               \
            for (int64_t b_ = 0; b_ < (k) / QK_GGML_BLOCK; b_++) {                             \
                T blk_;                                                                        \
                memcpy(&blk_, (in) + (size_t)b_ * sizeof(T), sizeof(T));                       \
                fn(&blk_, (y) + b_ * QK_GGML_BLOCK, QK_GGML_BLOCK);                            \
            }                                                                                  \
        }                                                                                      \
    } while (0)

qkern_status qk_quant_ggml__scalar(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0,
                                   int64_t r1) {
    const int64_t k = L->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = src + (size_t)r * (size_t)k;
        uint8_t *out = (uint8_t *)dst->data + (size_t)r * L->row_bytes;
        switch (L->format) {
        case QKERN_Q8_0: QK_GGML_QUANT_ROW(qk_block_q8_0, qk_quantize_row_q8_0__scalar, x, out, k); break;
        case QKERN_Q8_1: QK_GGML_QUANT_ROW(qk_block_q8_1, qk_quantize_row_q8_1__scalar, x, out, k); break;
        case QKERN_Q4_0: QK_GGML_QUANT_ROW(qk_block_q4_0, qk_quantize_row_q4_0__scalar, x, out, k); break;
        case QKERN_Q4_1: QK_GGML_QUANT_ROW(qk_block_q4_1, qk_quantize_row_q4_1__scalar, x, out, k); break;
        default: return QKERN_UNSUPPORTED;
        }
    }
    return QKERN_OK;
}

qkern_status qk_dequant_ggml__scalar(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0,
                                     int64_t r1) {
    const int64_t k = L->cols;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *in = (const uint8_t *)src->data + (size_t)r * L->row_bytes;
        float *y = dst + (size_t)r * (size_t)k;
        switch (L->format) {
        case QKERN_Q8_0: QK_GGML_DEQUANT_ROW(qk_block_q8_0, qk_dequantize_row_q8_0__scalar, in, y, k); break;
        case QKERN_Q8_1: QK_GGML_DEQUANT_ROW(qk_block_q8_1, qk_dequantize_row_q8_1__scalar, in, y, k); break;
        case QKERN_Q4_0: QK_GGML_DEQUANT_ROW(qk_block_q4_0, qk_dequantize_row_q4_0__scalar, in, y, k); break;
        case QKERN_Q4_1: QK_GGML_DEQUANT_ROW(qk_block_q4_1, qk_dequantize_row_q4_1__scalar, in, y, k); break;
        default: return QKERN_UNSUPPORTED;
        }
    }
    return QKERN_OK;
}
