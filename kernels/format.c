/* Format descriptors and the byte-size rules of qkern_qtensor (docs/formats.md). */
#include <strings.h>

#include "kernels/format_internal.h"
#include "kernels/format_ggml.h"
#include "kernels/qk_error.h"

static const struct {
    qkern_format f;
    qkern_format_info info;
} qk_formats[] = {
    {QKERN_F32, {"F32", 1, 4, QKERN_GROUP_ROW, 32.0, 0}},
    {QKERN_F16, {"F16", 1, 2, QKERN_GROUP_ROW, 16.0, 0}},
    {QKERN_BF16, {"BF16", 1, 2, QKERN_GROUP_ROW, 16.0, 0}},
    {QKERN_I8, {"I8", 1, 1, QKERN_GROUP_ROW, 8.0, 1}},
    {QKERN_I8_ASYM, {"I8_ASYM", 1, 1, QKERN_GROUP_ROW, 8.0, 1}},
    {QKERN_I4, {"I4", 2, 1, 128, 4.0 + 16.0 / 128, 1}},
    {QKERN_Q8_0, {"Q8_0", 32, sizeof(qk_block_q8_0), 32, 8.5, 1}},
    {QKERN_Q4_0, {"Q4_0", 32, sizeof(qk_block_q4_0), 32, 4.5, 1}},
    {QKERN_Q4_1, {"Q4_1", 32, sizeof(qk_block_q4_1), 32, 5.0, 1}},
    {QKERN_Q8_1, {"Q8_1", 32, sizeof(qk_block_q8_1), 32, 9.0, 1}},
    {QKERN_NF4, {"NF4", 2, 1, 64, 4.0 + 32.0 / 64, 1}},
    {QKERN_FP8_E4M3, {"FP8_E4M3", 1, 1, QKERN_GROUP_TENSOR, 8.0, 1}},
    {QKERN_FP8_E5M2, {"FP8_E5M2", 1, 1, QKERN_GROUP_TENSOR, 8.0, 1}},
};

const qkern_format_info *qk_format_info(qkern_format f) {
    for (size_t i = 0; i < sizeof qk_formats / sizeof qk_formats[0]; i++)
        if (qk_formats[i].f == f) return &qk_formats[i].info;
    return NULL;
}

const char *qk_format_name(qkern_format f) {
    const qkern_format_info *i = qk_format_info(f);
    return i ? i->name : "unknown";
}

qkern_status qkern_format_get_info(qkern_format f, qkern_format_info *info) {
    qk_error_clear();
    const qkern_format_info *i = qk_format_info(f);
    if (!info) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_format_get_info: info is NULL");
    if (!i) return qk_error(QKERN_INVALID_ARGUMENT, "format=%d is not a qkern format", (int)f);
    *info = *i;
    return QKERN_OK;
}

qkern_status qkern_format_from_name(const char *name, qkern_format *f) {
    qk_error_clear();
    if (!name || !f) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_format_from_name: NULL argument");
    for (size_t i = 0; i < sizeof qk_formats / sizeof qk_formats[0]; i++) {
        if (strcasecmp(name, qk_formats[i].info.name) == 0) {
            *f = qk_formats[i].f;
            return QKERN_OK;
        }
    }
    return qk_error(QKERN_INVALID_ARGUMENT, "\"%s\" is not a qkern format name", name);
}

static const char *qk_group_str(int64_t g, char *buf, size_t n) {
    if (g == QKERN_GROUP_ROW) return "ROW";
    if (g == QKERN_GROUP_TENSOR) return "TENSOR";
    snprintf(buf, n, "%lld", (long long)g);
    return buf;
}

qkern_status qk_resolve_layout(const qkern_quant_desc *desc, int64_t rows, int64_t cols, qk_layout *L) {
    char gb[32];
    if (!desc) return qk_error(QKERN_INVALID_ARGUMENT, "quantisation descriptor is NULL");
    const qkern_format_info *info = qk_format_info(desc->format);
    if (!info) return qk_error(QKERN_INVALID_ARGUMENT, "format=%d is not a qkern format", (int)desc->format);
    if (!info->is_quantized)
        return qk_error(QKERN_INVALID_ARGUMENT, "format %s is not a quantised format", info->name);
    if (rows <= 0 || cols <= 0)
        return qk_error(QKERN_INVALID_ARGUMENT, "shape rows=%lld cols=%lld: both must be positive", (long long)rows,
                        (long long)cols);
    uint32_t known = QKERN_QUANT_ASYMMETRIC | QKERN_QUANT_STATIC_SCALES | QKERN_QUANT_FP8_NO_SATURATE;
    if (desc->flags & ~known)
        return qk_error(QKERN_INVALID_ARGUMENT, "flags=0x%x has unknown bits 0x%x", desc->flags, desc->flags & ~known);
    if ((desc->flags & QKERN_QUANT_ASYMMETRIC) && desc->format != QKERN_I4)
        return qk_error(QKERN_INVALID_ARGUMENT, "QKERN_QUANT_ASYMMETRIC applies to I4 only, not %s", info->name);
    if ((desc->flags & QKERN_QUANT_FP8_NO_SATURATE) && desc->format != QKERN_FP8_E4M3 &&
        desc->format != QKERN_FP8_E5M2)
        return qk_error(QKERN_INVALID_ARGUMENT, "QKERN_QUANT_FP8_NO_SATURATE applies to FP8 only, not %s", info->name);

    int64_t g = desc->group == QKERN_GROUP_DEFAULT ? info->default_group : desc->group;
    int ggml = info->block == 32;
    int ok;
    switch (desc->format) {
    case QKERN_I8: ok = g == QKERN_GROUP_ROW || g > 0; break;
    case QKERN_I8_ASYM:
    case QKERN_FP8_E4M3:
    case QKERN_FP8_E5M2: ok = g == QKERN_GROUP_ROW || g == QKERN_GROUP_TENSOR; break;
    case QKERN_I4:
    case QKERN_NF4: ok = g == QKERN_GROUP_ROW || (g > 0 && g % 2 == 0); break;
    default: ok = ggml && g == 32; break;
    }
    if (!ok)
        return qk_error(QKERN_INVALID_ARGUMENT, "group=%s is not valid for %s", qk_group_str(desc->group, gb, sizeof gb),
                        info->name);
    if (g > 0 && cols % g != 0)
        return qk_error(QKERN_INVALID_ARGUMENT, "K=%lld is not a multiple of the %s %s size %lld", (long long)cols,
                        info->name, ggml ? "block" : "group", (long long)g);
    if ((desc->format == QKERN_I4 || desc->format == QKERN_NF4) && cols % 2 != 0)
        return qk_error(QKERN_INVALID_ARGUMENT, "K=%lld must be even for %s (two elements per byte)", (long long)cols,
                        info->name);

    L->format = desc->format;
    L->group = g == QKERN_GROUP_ROW ? cols : g == QKERN_GROUP_TENSOR ? 0 : g;
    L->rows = rows;
    L->cols = cols;
    L->groups_per_row = g == QKERN_GROUP_TENSOR ? 0 : cols / L->group;
    size_t elems, tmp;
    if (!qk_mul_size((size_t)rows, (size_t)cols, &elems))
        return qk_error(QKERN_INVALID_ARGUMENT, "rows=%lld × cols=%lld overflows size_t", (long long)rows,
                        (long long)cols);
    L->elements = elems;
    if (ggml) {
        L->row_bytes = (size_t)(cols / 32) * info->block_bytes;
    } else if (desc->format == QKERN_I4 || desc->format == QKERN_NF4) {
        L->row_bytes = (size_t)cols / 2;
    } else {
        L->row_bytes = (size_t)cols;
    }
    if (!qk_mul_size((size_t)rows, L->row_bytes, &L->data_bytes))
        return qk_error(QKERN_INVALID_ARGUMENT, "%s data for rows=%lld cols=%lld overflows size_t", info->name,
                        (long long)rows, (long long)cols);
    size_t n_scales = 0;
    if (!ggml) {
        if (g == QKERN_GROUP_TENSOR) n_scales = 1;
        else if (!qk_mul_size((size_t)rows, (size_t)L->groups_per_row, &n_scales))
            return qk_error(QKERN_INVALID_ARGUMENT, "scale count overflows size_t");
    }
    L->n_scales = n_scales;
    size_t scale_size = desc->format == QKERN_I4 ? 2 : 4;
    if (!qk_mul_size(n_scales, scale_size, &L->scales_bytes)) return qk_error(QKERN_INVALID_ARGUMENT, "scale bytes overflow size_t");
    L->zeros_bytes = 0;
    if (desc->format == QKERN_I8_ASYM) {
        if (!qk_mul_size(n_scales, 4, &tmp)) return qk_error(QKERN_INVALID_ARGUMENT, "zero-point bytes overflow size_t");
        L->zeros_bytes = tmp;
    } else if (desc->format == QKERN_I4 && (desc->flags & QKERN_QUANT_ASYMMETRIC)) {
        L->zeros_bytes = n_scales;
    }
    return QKERN_OK;
}

qkern_status qkern_qtensor_sizes(const qkern_quant_desc *desc, int64_t rows, int64_t cols, size_t *data_bytes,
                                 size_t *scales_bytes, size_t *zeros_bytes) {
    qk_error_clear();
    qk_layout L;
    qkern_status s = qk_resolve_layout(desc, rows, cols, &L);
    if (s != QKERN_OK) return s;
    if (data_bytes) *data_bytes = L.data_bytes;
    if (scales_bytes) *scales_bytes = L.scales_bytes;
    if (zeros_bytes) *zeros_bytes = L.zeros_bytes;
    return QKERN_OK;
}

qkern_status qk_check_qtensor(const qkern_qtensor *t, const char *what, qk_layout *L) {
    if (!t) return qk_error(QKERN_INVALID_ARGUMENT, "%s: tensor is NULL", what);
    qkern_status s = qk_resolve_layout(&t->desc, t->rows, t->cols, L);
    if (s != QKERN_OK) return s;
    const char *fn = qk_format_name(t->desc.format);
    if (!t->data) return qk_error(QKERN_INVALID_ARGUMENT, "%s: %s data pointer is NULL", what, fn);
    if (t->data_bytes < L->data_bytes)
        return qk_error(QKERN_INVALID_ARGUMENT, "%s: %s data_bytes=%zu, rows=%lld cols=%lld need %zu", what, fn,
                        t->data_bytes, (long long)t->rows, (long long)t->cols, L->data_bytes);
    if (L->scales_bytes && (!t->scales || t->scales_bytes < L->scales_bytes))
        return qk_error(QKERN_INVALID_ARGUMENT, "%s: %s scales %s (scales_bytes=%zu, need %zu)", what, fn,
                        t->scales ? "too small" : "pointer is NULL", t->scales_bytes, L->scales_bytes);
    if (L->zeros_bytes && (!t->zeros || t->zeros_bytes < L->zeros_bytes))
        return qk_error(QKERN_INVALID_ARGUMENT, "%s: %s zero points %s (zeros_bytes=%zu, need %zu)", what, fn,
                        t->zeros ? "too small" : "pointer is NULL", t->zeros_bytes, L->zeros_bytes);
    return QKERN_OK;
}
