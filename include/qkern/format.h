/* qkern — formats: element types, quantisation descriptors, quantised tensors.
 * docs/formats.md defines every format to the bit. */
#ifndef QKERN_FORMAT_H
#define QKERN_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include "qkern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qkern_format {
    QKERN_F32 = 0,
    QKERN_F16 = 1,
    QKERN_BF16 = 2,
    QKERN_I8 = 10,        /* int8 symmetric [-127,127], f32 scale per row or group */
    QKERN_I8_ASYM = 11,   /* int8 + i32 zero point, f32 scale per tensor or row */
    QKERN_I4 = 12,        /* 4-bit, 2 per byte (element 2i low nibble), f16 scale per group;
                             symmetric (offset 8) or QKERN_QUANT_ASYMMETRIC (u8 zero 0..15 per group) */
    QKERN_Q8_0 = 20,      /* ggml block_q8_0 */
    QKERN_Q4_0 = 21,      /* ggml block_q4_0 */
    QKERN_Q4_1 = 22,      /* ggml block_q4_1 */
    QKERN_Q8_1 = 23,      /* ggml block_q8_1 */
    QKERN_NF4 = 30,       /* QLoRA NF4 codebook, f32 absmax per block, first element in the high nibble */
    QKERN_FP8_E4M3 = 40,  /* OCP OFP8 E4M3FN, f32 scale per tensor or row */
    QKERN_FP8_E5M2 = 41   /* OCP OFP8 E5M2, f32 scale per tensor or row */
} qkern_format;

/* Scale granularity (qkern_quant_desc.group): > 0 = elements per group along a row. */
#define QKERN_GROUP_DEFAULT 0   /* the format's default (see qkern_format_info) */
#define QKERN_GROUP_ROW (-1)    /* one scale per row */
#define QKERN_GROUP_TENSOR (-2) /* one scale for the whole tensor */

/* qkern_quant_desc.flags */
#define QKERN_QUANT_ASYMMETRIC 0x1u   /* I4: zero point per group (GPTQ/AWQ asym) */
#define QKERN_QUANT_STATIC_SCALES 0x2u /* quantize reads the caller's scales / zeros instead of computing them */
#define QKERN_QUANT_FP8_NO_SATURATE 0x4u /* FP8: overflow gives NaN (E4M3) / Inf (E5M2) instead of ±max */

typedef struct qkern_quant_desc {
    qkern_format format;
    int64_t group;   /* QKERN_GROUP_* or a positive group length */
    uint32_t flags;  /* QKERN_QUANT_* */
} qkern_quant_desc;

/* A rows × cols matrix in a quantised format, row-major, quantised along rows.
 * The caller owns every buffer and states its size in bytes; qkern never writes
 * past them. Scale / zero buffers by format:
 *   I8, I8_ASYM, NF4, FP8_*: scales = float[n_scales]
 *   I4:                      scales = uint16_t (IEEE f16) [n_scales]
 *   I8_ASYM:                 zeros  = int32_t[n_scales]
 *   I4 asymmetric:           zeros  = uint8_t[n_scales], each 0..15
 *   Q8_0, Q4_0, Q4_1, Q8_1:  scales live inside the blocks; scales/zeros unused (NULL, 0)
 * n_scales is rows * cols / group, 1 per row, or 1, by granularity. */
typedef struct qkern_qtensor {
    qkern_quant_desc desc;
    int64_t rows, cols;
    void *data;   size_t data_bytes;
    void *scales; size_t scales_bytes;
    void *zeros;  size_t zeros_bytes;
} qkern_qtensor;

typedef struct qkern_format_info {
    const char *name;        /* "Q4_0" */
    int64_t block;           /* elements per block (1 for element formats) */
    size_t block_bytes;      /* bytes per block in `data` */
    int64_t default_group;   /* QKERN_GROUP_* or length used for QKERN_GROUP_DEFAULT */
    double bits_per_weight;  /* data + scales at the default group */
    int is_quantized;        /* 0 for F32 / F16 / BF16 */
} qkern_format_info;

QKERN_API qkern_status qkern_format_get_info(qkern_format f, qkern_format_info *info);
/* Looks a format up by name, case-insensitive ("q4_0", "fp8_e4m3", …). */
QKERN_API qkern_status qkern_format_from_name(const char *name, qkern_format *f);

/* The byte sizes a rows × cols tensor with this descriptor needs. Fails with a
 * message for bad shapes (cols not a multiple of the block or group, overflow). */
QKERN_API qkern_status qkern_qtensor_sizes(const qkern_quant_desc *desc, int64_t rows, int64_t cols,
                                           size_t *data_bytes, size_t *scales_bytes, size_t *zeros_bytes);

#ifdef __cplusplus
}
#endif
#endif
