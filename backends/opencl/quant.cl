/* quantize / dequantize for the formats quant_act.cl does not cover (I8_ASYM, I4 sym / asym,
 * Q4_0, Q4_1, NF4, FP8 E4M3 / E5M2) and dequantize for every format, bytes and values
 * identical to the scalar reference (backends/scalar/quant_*.c, the rules and special
 * values of kernels/format_int.h, format_ggml.h, format_nf4.h, format_fp8.h). Built as one
 * program after quant_act.cl (I8, Q8_0, Q8_1 quantisers, the FP8 row scale).
 *
 * Quantisers run one work-item per (group, row): gid0 = group within the row, gid1 = row
 * (FP8: a per-row scale kernel, then one work-item per 64 elements). Dequantisers run one
 * work-item per element, byte or 32-block. A per-tensor scale (`tensor` = 1) is slot 0,
 * put there by the front end; every other slot is row * groups + group. */

/* ---- kernels/format_int.h ------------------------------------------------------------ */

static inline int qk_int_code(float v, float lo, float hi) {
    v = isnan(v) ? 0.0f : v;
    return (int)rint(clamp(v, lo, hi));
}

static inline float qk_int_inv1(float s) {
    float inv = qk_div(1.0f, s);
    return (inv != 0.0f && inv - inv == 0.0f) ? inv : 0.0f;
}

#define qk_amax_finite qk_i8_amax /* quant_act.cl: max |x| over the finite elements */

static inline void qk_range_finite(__global const float *x, int n, float *lo, float *hi) {
    float l = 0.0f, h = 0.0f;
    for (int k = 0; k < n; k++) {
        float v = x[k];
        if (v < l && v >= -FLT_MAX) l = v;
        if (v > h && v <= FLT_MAX) h = v;
    }
    *lo = l;
    *hi = h;
}

/* f16 RNE, an overflow to Inf saturated at +-65504 (I4 scales stay finite). */
static inline ushort qk_i4_scale_bits(float s) {
    ushort h = qk_f16_bits(s);
    if ((h & 0x7fff) == 0x7c00) h = (ushort)((h & 0x8000) | 0x7bff);
    return h;
}

static inline float qk_half_to_float(ushort h) { return vload_half(0, (__private const half *)&h); }

__kernel void qk_quant_i8_asym(__global const float *x, int cols, int gl, int groups, int tensor,
                               __global char *q, int row_bytes, __global float *scales, __global int *zeros,
                               int static_scales) {
    int g = get_global_id(0), r = get_global_id(1);
    if (g >= groups) return;
    __global const float *xr = x + (long)r * cols + (long)g * gl;
    __global char *qr = q + (long)r * row_bytes + (long)g * gl;
    long slot = tensor ? 0 : (long)r * groups + g;
    float s, inv;
    int z;
    if (static_scales || tensor) {
        s = scales[slot];
        inv = qk_int_inv1(s);
        z = clamp(zeros[slot], -128, 127);
    } else {
        float lo, hi;
        qk_range_finite(xr, gl, &lo, &hi);
        float sc = qk_div(hi - lo, 255.0f);
        if (sc - sc != 0.0f) sc = qk_div(hi, 255.0f) - qk_div(lo, 255.0f);
        float iv = qk_int_inv1(sc);
        if (iv == 0.0f) { sc = 1.0f; iv = 1.0f; }
        s = sc;
        inv = iv;
        z = clamp(-128 - qk_int_code(lo * iv, -256.0f, 256.0f), -128, 127);
        scales[slot] = s;
        zeros[slot] = z;
    }
    for (int k = 0; k < gl; k++) qr[k] = (char)clamp(qk_int_code(xr[k] * inv, -256.0f, 256.0f) + z, -128, 127);
}

/* I4: element 2i in the low nibble of byte i; the codes use the stored (f16) scale. */
__kernel void qk_quant_i4(__global const float *x, int cols, int gl, int groups, __global uchar *q, int row_bytes,
                          __global ushort *scales, __global uchar *zeros, int static_scales, int asym) {
    int g = get_global_id(0), r = get_global_id(1);
    if (g >= groups) return;
    __global const float *xr = x + (long)r * cols + (long)g * gl;
    __global uchar *qr = q + (long)r * row_bytes + (long)g * gl / 2;
    long slot = (long)r * groups + g;
    ushort h;
    int zero = 8;
    if (static_scales) {
        h = scales[slot];
        if (asym) zero = min((int)zeros[slot], 15);
    } else {
        float lo = 0.0f, hi = 0.0f;
        if (asym) {
            qk_range_finite(xr, gl, &lo, &hi);
            h = qk_i4_scale_bits(qk_div(hi - lo, 15.0f));
        } else {
            h = qk_i4_scale_bits(qk_div(2.0f * qk_amax_finite(xr, gl), 15.0f));
        }
        scales[slot] = h;
        if (asym) {
            zero = qk_int_code(-lo * qk_int_inv1(qk_half_to_float(h)), 0.0f, 15.0f);
            zeros[slot] = (uchar)zero;
        }
    }
    const float inv = qk_int_inv1(qk_half_to_float(h));
    for (int k = 0; k < gl; k += 2) {
        int a, b;
        if (asym) {
            a = clamp(qk_int_code(xr[k] * inv, -32.0f, 32.0f) + zero, 0, 15);
            b = clamp(qk_int_code(xr[k + 1] * inv, -32.0f, 32.0f) + zero, 0, 15);
        } else {
            a = qk_int_code(xr[k] * inv, -8.0f, 7.0f) + 8;
            b = qk_int_code(xr[k + 1] * inv, -8.0f, 7.0f) + 8;
        }
        qr[k / 2] = (uchar)(a | b << 4);
    }
}

/* ---- kernels/format_nf4.h: bitsandbytes' codebook, thresholds and decision tree ---------- */

__constant float qk_nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};
__constant float qk_nf4_t[15] = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
    0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
    0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
};

static inline uint qk_nf4_encode(float v) {
    if (isnan(v)) return 7;
    if (v > qk_nf4_t[7]) {
        if (v > qk_nf4_t[11]) {
            if (v > qk_nf4_t[13]) return v > qk_nf4_t[14] ? 15 : 14;
            return v > qk_nf4_t[12] ? 13 : 12;
        }
        if (v > qk_nf4_t[9]) return v > qk_nf4_t[10] ? 11 : 10;
        return v > qk_nf4_t[8] ? 9 : 8;
    }
    if (v > qk_nf4_t[3]) {
        if (v > qk_nf4_t[5]) return v > qk_nf4_t[6] ? 7 : 6;
        return v > qk_nf4_t[4] ? 5 : 4;
    }
    if (v > qk_nf4_t[1]) return v > qk_nf4_t[2] ? 3 : 2;
    return v > qk_nf4_t[0] ? 1 : 0;
}

/* First element of a pair in the HIGH nibble (bitsandbytes' packing). */
__kernel void qk_quant_nf4(__global const float *x, int cols, int gl, int groups, __global uchar *q, int row_bytes,
                           __global float *scales, int static_scales) {
    int g = get_global_id(0), r = get_global_id(1);
    if (g >= groups) return;
    __global const float *xr = x + (long)r * cols + (long)g * gl;
    __global uchar *qr = q + (long)r * row_bytes + (long)g * gl / 2;
    long slot = (long)r * groups + g;
    float absmax = static_scales ? scales[slot] : qk_amax_finite(xr, gl);
    if (!static_scales) scales[slot] = absmax;
    const float inv = absmax > 0.0f ? qk_div(1.0f, absmax) : 0.0f;
    for (int k = 0; k < gl; k += 2) qr[k / 2] = (uchar)(qk_nf4_encode(xr[k] * inv) << 4 | qk_nf4_encode(xr[k + 1] * inv));
}

/* ---- ggml Q4_0 / Q4_1 (llama.cpp's quantize_row_q4_*_ref) ------------------------------ */

/* C's (int8_t) cast of a float as x86-64 executes it: NaN, Inf and out-of-range give 0. */
static inline int qk_ggml_i8(float v) {
    return (v >= -2147483648.0f && v < 2147483648.0f) ? (int)(char)convert_int(v) : 0;
}

__kernel void qk_quant_q4_0(__global const float *x, int cols, int nb, __global uchar *out, int row_bytes) {
    int b = get_global_id(0), r = get_global_id(1);
    if (b >= nb) return;
    __global const float *xb = x + (long)r * cols + b * 32;
    __global uchar *o = out + (long)r * row_bytes + b * 18;
    float amax = 0.0f, mx = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (amax < fabs(xb[j])) { amax = fabs(xb[j]); mx = xb[j]; }
    }
    const float d = qk_div(mx, -8.0f);
    const float id = d != 0.0f ? qk_div(1.0f, d) : 0.0f;
    qk_f16_store(o, d);
    for (int j = 0; j < 16; j++) {
        int q0 = qk_ggml_i8(xb[j] * id + 8.5f), q1 = qk_ggml_i8(xb[j + 16] * id + 8.5f);
        uchar a = (uchar)(q0 < 15 ? q0 : 15), c = (uchar)(q1 < 15 ? q1 : 15);
        o[2 + j] = (uchar)(a | (uchar)(c << 4));
    }
}

__kernel void qk_quant_q4_1(__global const float *x, int cols, int nb, __global uchar *out, int row_bytes) {
    int b = get_global_id(0), r = get_global_id(1);
    if (b >= nb) return;
    __global const float *xb = x + (long)r * cols + b * 32;
    __global uchar *o = out + (long)r * row_bytes + b * 20;
    float mn = FLT_MAX, mx = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (xb[j] < mn) mn = xb[j];
        if (xb[j] > mx) mx = xb[j];
    }
    const float d = qk_div(mx - mn, 15.0f);
    const float id = d != 0.0f ? qk_div(1.0f, d) : 0.0f;
    qk_f16_store(o, d);
    qk_f16_store(o + 2, mn);
    for (int j = 0; j < 16; j++) {
        int q0 = qk_ggml_i8((xb[j] - mn) * id + 0.5f), q1 = qk_ggml_i8((xb[j + 16] - mn) * id + 0.5f);
        uchar a = (uchar)(q0 < 15 ? q0 : 15), c = (uchar)(q1 < 15 ? q1 : 15);
        o[4 + j] = (uchar)(a | (uchar)(c << 4));
    }
}

/* ---- FP8 (kernels/format_fp8.h) --------------------------------------------------------- */

/* gid0 = 64-element chunk, gid1 = row; tensor: one scale in slot 0. */
__kernel void qk_quant_fp8(__global const float *x, int cols, __global uchar *q, __global const float *scales,
                           int tensor, int e5m2, int saturate) {
    int c = get_global_id(0), r = get_global_id(1);
    int k0 = c * 64, k1 = min(k0 + 64, cols);
    if (k0 >= cols) return;
    const float inv = qk_div(1.0f, scales[tensor ? 0 : r]);
    __global const float *xr = x + (long)r * cols;
    __global uchar *qr = q + (long)r * cols;
    for (int k = k0; k < k1; k++) qr[k] = e5m2 ? qk_f32_to_e5m2(xr[k] * inv, saturate) : qk_f32_to_e4m3(xr[k] * inv, saturate);
}

/* ---- dequantisers ------------------------------------------------------------------------ */

/* I8 and I8_ASYM: gid0 = element, gid1 = row; (q - z) * s, z = 0 for I8. */
__kernel void qk_deq_i8(__global const char *q, int cols, int gl, int groups, int tensor, __global const float *scales,
                        __global const int *zeros, __global float *y) {
    int k = get_global_id(0), r = get_global_id(1);
    if (k >= cols) return;
    long slot = tensor ? 0 : (long)r * groups + k / gl;
    int z = zeros ? clamp(zeros[slot], -128, 127) : 0;
    y[(long)r * cols + k] = (float)(q[(long)r * cols + k] - z) * scales[slot];
}

/* I4: gid0 = byte (elements 2i low, 2i+1 high). */
__kernel void qk_deq_i4(__global const uchar *q, int cols, int gl, int groups, __global const ushort *scales,
                        __global const uchar *zeros, __global float *y) {
    int i = get_global_id(0), r = get_global_id(1);
    if (2 * i >= cols) return;
    long slot = (long)r * groups + (2 * i) / gl;
    const float s = qk_half_to_float(scales[slot]);
    const int zero = zeros ? min((int)zeros[slot], 15) : 8;
    uchar b = q[(long)r * (cols / 2) + i];
    y[(long)r * cols + 2 * i] = (float)((b & 15) - zero) * s;
    y[(long)r * cols + 2 * i + 1] = (float)((b >> 4) - zero) * s;
}

/* NF4: gid0 = byte (element 2i in the high nibble). */
__kernel void qk_deq_nf4(__global const uchar *q, int cols, int gl, int groups, __global const float *scales,
                         __global float *y) {
    int i = get_global_id(0), r = get_global_id(1);
    if (2 * i >= cols) return;
    const float absmax = scales[(long)r * groups + (2 * i) / gl];
    uchar b = q[(long)r * (cols / 2) + i];
    y[(long)r * cols + 2 * i] = qk_nf4_code[b >> 4] * absmax;
    y[(long)r * cols + 2 * i + 1] = qk_nf4_code[b & 15] * absmax;
}

/* FP8: gid0 = element. */
__kernel void qk_deq_fp8(__global const uchar *q, int cols, int tensor, __global const float *scales, int e5m2,
                         __global float *y) {
    int k = get_global_id(0), r = get_global_id(1);
    if (k >= cols) return;
    uchar b = q[(long)r * cols + k];
    float v = e5m2 ? qk_e5m2_to_f32(b) : qk_e4m3_to_f32(b);
    y[(long)r * cols + k] = v * scales[tensor ? 0 : r];
}

/* ggml blocks: gid0 = 32-block, gid1 = row; fmt 0 Q8_0, 1 Q8_1, 2 Q4_0, 3 Q4_1. Q4_1 is
 * nibble*d + m with two roundings (FP_CONTRACT is off, see common.cl). */
__kernel void qk_deq_ggml(__global const uchar *q, int nb, int row_bytes, int fmt, __global float *y) {
    int b = get_global_id(0), r = get_global_id(1);
    if (b >= nb) return;
    const int bb = fmt == 0 ? 34 : fmt == 1 ? 36 : fmt == 2 ? 18 : 20;
    __global const uchar *p = q + (long)r * row_bytes + (long)b * bb;
    __global float *o = y + (long)r * nb * 32 + b * 32;
    const float d = qk_f16_load(p);
    if (fmt <= 1) {
        __global const char *qs = (__global const char *)(p + (fmt == 0 ? 2 : 4));
        for (int j = 0; j < 32; j++) o[j] = (float)qs[j] * d;
    } else if (fmt == 2) {
        for (int j = 0; j < 16; j++) {
            o[j] = (float)((p[2 + j] & 15) - 8) * d;
            o[j + 16] = (float)((p[2 + j] >> 4) - 8) * d;
        }
    } else {
        const float m = qk_f16_load(p + 2);
        for (int j = 0; j < 16; j++) {
            float p0 = (float)(p[4 + j] & 15) * d, p1 = (float)(p[4 + j] >> 4) * d;
            o[j] = p0 + m;
            o[j + 16] = p1 + m;
        }
    }
}
