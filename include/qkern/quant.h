/* qkern — quantise and dequantise between F32 / F16 / BF16 and every format. */
#ifndef QKERN_QUANT_H
#define QKERN_QUANT_H

#include "qkern/context.h"
#include "qkern/format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Quantise src (dst->rows × dst->cols, row-major, element type src_type ∈ {F32, F16, BF16},
 * src_bytes bytes) into dst. Without QKERN_QUANT_STATIC_SCALES the scales (and zero
 * points) are computed and written to dst->scales / dst->zeros; with it they are read
 * from there. On any error nothing is written to dst. */
QKERN_API qkern_status qkern_quantize(qkern_context *ctx, const void *src, qkern_format src_type,
                                      size_t src_bytes, const qkern_qtensor *dst);

/* Dequantise src into dst (src->rows × src->cols, row-major, dst_type ∈ {F32, F16, BF16}). */
QKERN_API qkern_status qkern_dequantize(qkern_context *ctx, const qkern_qtensor *src, void *dst,
                                        qkern_format dst_type, size_t dst_bytes);

/* Element conversions (no context needed): IEEE binary16 and bfloat16, round to nearest even;
 * NaN stays NaN (quiet), overflow gives ±Inf. */
QKERN_API qkern_status qkern_convert(const void *src, qkern_format src_type, void *dst, qkern_format dst_type,
                                     size_t n);

#ifdef __cplusplus
}
#endif
#endif
