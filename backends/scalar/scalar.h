/* The scalar backend: portable C11 reference kernels, the ground truth of every
 * other backend. One family per file: quant_ggml.c, quant_int.c, quant_nf4.c,
 * quant_fp8.c, matmul_*.c. Row-level reference routines are exported here so other
 * backends and the matmul front end can reuse the exact same rounding. */
#ifndef QK_SCALAR_H
#define QK_SCALAR_H

#include <stdint.h>

#include "kernels/backend.h"
#include "kernels/format_ggml.h"
#include "kernels/format_internal.h"

/* Whole-tensor dispatch used by the backend table: rows [r0, r1). */
qkern_status qk_quantize__scalar(void *state, const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1);
qkern_status qk_dequantize__scalar(void *state, const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1);

/* Per-tensor parameters (QKERN_GROUP_TENSOR): computed over all n elements.
 * I8_ASYM writes scale and zero; FP8 writes scale (zero may be NULL). */
qkern_status qk_tensor_params__scalar(const qkern_quant_desc *desc, const float *src, size_t n, float *scale,
                                      int32_t *zero);
/* lo / hi of src for the tensor rule of format f: I8_ASYM min(min x, 0), max(max x, 0)
 * over finite elements; FP8 lo = 0, hi = max finite |x|. */
void qk_tensor_reduce__scalar(qkern_format f, const float *src, size_t n, float *lo, float *hi);
/* The per-tensor scale (and zero) from a tensor's combined lo / hi. */
qkern_status qk_tensor_params_reduced__scalar(const qkern_quant_desc *desc, float lo, float hi, float *scale,
                                              int32_t *zero);

/* ggml rows (k a multiple of 32), exactly llama.cpp's *_ref rounding. quant_ggml.c */
void qk_quantize_row_q8_0__scalar(const float *x, qk_block_q8_0 *y, int64_t k);
void qk_quantize_row_q8_1__scalar(const float *x, qk_block_q8_1 *y, int64_t k);
void qk_quantize_row_q4_0__scalar(const float *x, qk_block_q4_0 *y, int64_t k);
void qk_quantize_row_q4_1__scalar(const float *x, qk_block_q4_1 *y, int64_t k);
void qk_dequantize_row_q8_0__scalar(const qk_block_q8_0 *x, float *y, int64_t k);
void qk_dequantize_row_q8_1__scalar(const qk_block_q8_1 *x, float *y, int64_t k);
void qk_dequantize_row_q4_0__scalar(const qk_block_q4_0 *x, float *y, int64_t k);
void qk_dequantize_row_q4_1__scalar(const qk_block_q4_1 *x, float *y, int64_t k);
qkern_status qk_quant_ggml__scalar(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0, int64_t r1);
qkern_status qk_dequant_ggml__scalar(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0, int64_t r1);

/* I8, I8_ASYM, I4. quant_int.c */
qkern_status qk_quant_int__scalar(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0, int64_t r1);
qkern_status qk_dequant_int__scalar(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0, int64_t r1);

/* NF4. quant_nf4.c */
qkern_status qk_quant_nf4__scalar(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0, int64_t r1);
qkern_status qk_dequant_nf4__scalar(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0, int64_t r1);

/* FP8 E4M3 / E5M2. quant_fp8.c */
qkern_status qk_quant_fp8__scalar(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0, int64_t r1);
qkern_status qk_dequant_fp8__scalar(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0, int64_t r1);

/* Matmul entries (matmul_*.c); NULL-free table in backend_scalar.c. */
extern const qk_matmul_ops qk_matmul_ops__scalar;
const char *qk_matmul_kernel_name__scalar(const qkern_quant_desc *desc, qkern_act_mode act);

#endif
