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
