/* ggml block formats, byte-identical to llama.cpp (ggml-common.h).
 *
 * Rounding (from llama.cpp's quantize_row_*_ref, reproduced exactly):
 *   Q8_0: d = amax/127, id = d ? 1/d : 0, q = roundf(x*id)            (ties away from zero)
 *   Q8_1: as Q8_0, plus s = f16(d * Σq)
 *   Q4_0: max = the element of largest |x| (first one on ties, sign kept), d = max/-8,
 *         q = min(15, (int8_t)(x*id + 8.5f))                          (truncation after +8.5)
 *   Q4_1: d = (max-min)/15, m = min, q = min(15, (int8_t)((x-min)*id + 0.5f))
 * d, m, s are IEEE f16 (RNE). Nibble order for Q4_*: byte j holds element j in its
 * low nibble and element j+16 in its high nibble. */
#ifndef QK_FORMAT_GGML_H
#define QK_FORMAT_GGML_H

#include <stdint.h>

#define QK_GGML_BLOCK 32

typedef struct qk_block_q8_0 {
    uint16_t d;      /* f16 scale */
    int8_t qs[32];
} qk_block_q8_0;
_Static_assert(sizeof(qk_block_q8_0) == 34, "block_q8_0 is 34 bytes in ggml");

typedef struct qk_block_q8_1 {
    uint16_t d;      /* f16 scale */
    uint16_t s;      /* f16 d * sum(qs) */
    int8_t qs[32];
} qk_block_q8_1;
_Static_assert(sizeof(qk_block_q8_1) == 36, "block_q8_1 is 36 bytes in ggml");

typedef struct qk_block_q4_0 {
    uint16_t d;      /* f16 scale */
    uint8_t qs[16];  /* element j: low nibble of qs[j]; element j+16: high nibble */
} qk_block_q4_0;
_Static_assert(sizeof(qk_block_q4_0) == 18, "block_q4_0 is 18 bytes in ggml");

typedef struct qk_block_q4_1 {
    uint16_t d;      /* f16 scale */
    uint16_t m;      /* f16 min */
    uint8_t qs[16];
} qk_block_q4_1;
_Static_assert(sizeof(qk_block_q4_1) == 20, "block_q4_1 is 20 bytes in ggml");

#endif
