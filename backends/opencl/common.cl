/* Prepended to every qkern OpenCL program.
 *
 * Byte-identical quantisation needs IEEE semantics the OpenCL defaults do not give:
 * contraction of a*b+c into fma is allowed by default (it would change ggml's
 * x*id + 8.5f), and f32 division may be 2.5 ulp. So contraction is off everywhere,
 * and divisions that feed a stored scale go through qk_div: a double quotient of two
 * floats rounds to the correctly rounded float quotient (53 >= 2*24+2), or the host
 * passes -cl-fp32-correctly-rounded-divide-sqrt when the device lacks fp64. */
#pragma OPENCL FP_CONTRACT OFF
#ifdef QK_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
static inline float qk_div(float a, float b) { return (float)((double)a / (double)b); }
#else
static inline float qk_div(float a, float b) { return a / b; }
#endif

/* IEEE binary16 storage, round to nearest even (no fp16 arithmetic is needed). */
static inline ushort qk_f16_bits(float f) {
    ushort h;
    vstore_half_rte(f, 0, (__private half *)&h);
    return h;
}
static inline float qk_f16_round(float f) {
    ushort h = qk_f16_bits(f);
    return vload_half(0, (__private const half *)&h);
}
static inline float qk_f16_load(__global const uchar *p) {
    ushort h = (ushort)p[0] | (ushort)((ushort)p[1] << 8);
    return vload_half(0, (__private const half *)&h);
}
static inline void qk_f16_store(__global uchar *p, float f) {
    ushort h = qk_f16_bits(f);
    p[0] = (uchar)(h & 0xff);
    p[1] = (uchar)(h >> 8);
}

/* ---- FP8 (kernels/format_fp8.h), bit-exact: RNE on the f32 bits, saturating or not ---- */
static inline uchar qk_fp8_encode(float x, int mbits, int bias, uint max_code, uint overflow_code, int saturate) {
    const uint u = as_uint(x);
    const uint sign = (u >> 24) & 0x80u;
    const uint a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uchar)0x7f;
    const int e = (int)(a >> 23) - 127;
    const uint m = a & 0x7fffffu;
    const int emin = 1 - bias;
    uint code;
    if (e >= emin) {
        const int sh = 23 - mbits;
        const uint rem = m & ((1u << sh) - 1u), hw = 1u << (sh - 1);
        code = ((uint)(e + bias) << mbits) | (m >> sh);
        code += (rem > hw || (rem == hw && (code & 1u))) ? 1u : 0u;
    } else {
        const int sh = 23 + emin - mbits - e;
        if (sh > 24) {
            code = 0;
        } else {
            const uint sig = m | 0x800000u;
            const uint rem = sig & ((1u << sh) - 1u), hw = 1u << (sh - 1);
            code = sig >> sh;
            code += (rem > hw || (rem == hw && (code & 1u))) ? 1u : 0u;
        }
    }
    if (code > max_code) code = saturate ? max_code : overflow_code;
    return (uchar)(code | sign);
}
static inline uchar qk_f32_to_e4m3(float x, int saturate) { return qk_fp8_encode(x, 3, 7, 0x7eu, 0x7fu, saturate); }
static inline uchar qk_f32_to_e5m2(float x, int saturate) { return qk_fp8_encode(x, 2, 15, 0x7bu, 0x7cu, saturate); }

static inline float qk_e4m3_to_f32(uchar b) {
    const uint sign = (uint)(b & 0x80u) << 24;
    const uint e = (b >> 3) & 0xfu, m = b & 0x7u;
    if (e == 0xfu && m == 0x7u) return as_float(sign | 0x7fc00000u);
    if (e == 0) return as_float(as_uint((float)m * 0x1p-9f) | sign);
    return as_float(sign | ((e + 120u) << 23) | (m << 20));
}
static inline float qk_e5m2_to_f32(uchar b) {
    const uint sign = (uint)(b & 0x80u) << 24;
    const uint e = (b >> 2) & 0x1fu, m = b & 0x3u;
    if (e == 0x1fu) return as_float(sign | (m ? 0x7fc00000u : 0x7f800000u));
    if (e == 0) return as_float(as_uint((float)m * 0x1p-16f) | sign);
    return as_float(sign | ((e + 112u) << 23) | (m << 21));
}

/* amax/fmax, 1 when amax is 0, clamped below at FLT_MIN (qk_fp8_scale_for_amax). */
static inline float qk_fp8_scale(float amax, float fmax) {
    if (!(amax > 0.0f)) return 1.0f;
    const float s = qk_div(amax, fmax);
    return s < FLT_MIN ? FLT_MIN : s;
}

/* Packed weights (gemm_int.cl, gemm_float.cl): 32-element chunks of cb bytes, the chunks of
 * 8 consecutive rows interleaved ([n / 8][chunk][n % 8]), so the rows a work-item owns are
 * read as one sequential stream (hardware prefetchers follow one stream far better than 8
 * streams 4 KB apart). Byte offset of chunk c of row n. */
static inline long qk_wchunk(int n, int c, int K32, int cb) {
    return (((long)(n >> 3) * K32 + c) * 8 + (n & 7)) * cb;
}
