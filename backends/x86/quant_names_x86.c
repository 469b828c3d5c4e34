/* Which quantize / dequantize kernels the x86 backend has (no ISA flags: read by the
 * table before any AVX-512 code may run). */
#include "backends/x86/x86_quant.h"

const char *qk_x86_quant_kernel_name(const qkern_quant_desc *d) {
    if (!d) return NULL;
    switch (d->format) {
    case QKERN_Q8_0: return "qk_quant_q8_0__avx512vnni";
    case QKERN_Q8_1: return "qk_quant_q8_1__avx512vnni";
    case QKERN_Q4_0: return "qk_quant_q4_0__avx512vnni";
    case QKERN_Q4_1: return "qk_quant_q4_1__avx512vnni";
    case QKERN_I8: return "qk_quant_i8__avx512vnni";
    case QKERN_I8_ASYM: return "qk_quant_i8_asym__avx512vnni";
    case QKERN_I4: return "qk_quant_i4__avx512vnni";
    case QKERN_NF4: return "qk_quant_nf4__avx512vnni";
    case QKERN_FP8_E4M3: return "qk_quant_fp8_e4m3__avx512vnni";
    case QKERN_FP8_E5M2: return "qk_quant_fp8_e5m2__avx512vnni";
    default: return NULL;
    }
}

const char *qk_x86_dequant_kernel_name(const qkern_quant_desc *d) {
    if (!d) return NULL;
    switch (d->format) {
    case QKERN_I8: return "qk_dequant_i8__avx512vnni";
    case QKERN_I8_ASYM: return "qk_dequant_i8_asym__avx512vnni";
    case QKERN_I4: return "qk_dequant_i4__avx512vnni";
    case QKERN_Q8_0: return "qk_dequant_q8_0__avx512vnni";
    case QKERN_Q8_1: return "qk_dequant_q8_1__avx512vnni";
    case QKERN_Q4_0: return "qk_dequant_q4_0__avx512vnni";
    case QKERN_Q4_1: return "qk_dequant_q4_1__avx512vnni";
    case QKERN_NF4: return "qk_dequant_nf4__avx512vnni";
    case QKERN_FP8_E4M3: return "qk_dequant_fp8_e4m3__avx512vnni";
    case QKERN_FP8_E5M2: return "qk_dequant_fp8_e5m2__avx512vnni";
    default: return NULL;
    }
}
