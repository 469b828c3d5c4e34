/* Internal: a quantised tensor's resolved layout (group lengths and byte counts). */
#ifndef QK_FORMAT_INTERNAL_H
#define QK_FORMAT_INTERNAL_H

#include <stdio.h>
#include "qkern/format.h"

typedef struct qk_layout {
    qkern_format format;
    int64_t rows, cols;
    int64_t group;           /* elements per scale along a row; 0 = one scale for the tensor */
    int64_t groups_per_row;  /* 0 for per-tensor */
    size_t elements;
    size_t row_bytes;        /* bytes of `data` per row */
    size_t data_bytes, scales_bytes, zeros_bytes;
    size_t n_scales;
} qk_layout;

const qkern_format_info *qk_format_info(qkern_format f);
const char *qk_format_name(qkern_format f);
/* Validates desc + shape (message set on failure) and computes the layout. */
qkern_status qk_resolve_layout(const qkern_quant_desc *desc, int64_t rows, int64_t cols, qk_layout *L);
/* Also checks the tensor's pointers and buffer sizes. */
qkern_status qk_check_qtensor(const qkern_qtensor *t, const char *what, qk_layout *L);

#endif
