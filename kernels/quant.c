/* Front end of quantize / dequantize: argument checks, per-tensor parameters,
 * F16 / BF16 staging, backend choice and row splitting over the context's threads. */
#include <stdlib.h>
#include <string.h>

#include "backends/scalar/scalar.h"
#include "kernels/context_internal.h"
#include "kernels/format_half.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"
#include "qkern/quant.h"

/* Rows per task: enough elements that a task amortises its dispatch (~64K). */
static int64_t qk_rows_per_task(int64_t rows, int64_t cols) {
    int64_t r = (int64_t)(65536 / (cols > 0 ? cols : 1));
    if (r < 1) r = 1;
    return r > rows ? rows : r;
}

static size_t qk_elem_size(qkern_format f) { return f == QKERN_F32 ? 4 : 2; }

static int qk_is_float_type(qkern_format f) { return f == QKERN_F32 || f == QKERN_F16 || f == QKERN_BF16; }

static void qk_to_f32(const void *src, qkern_format t, float *dst, size_t n) {
    const uint16_t *h = src;
    if (t == QKERN_F32) memcpy(dst, src, n * 4);
    else if (t == QKERN_F16) for (size_t i = 0; i < n; i++) dst[i] = qk_f16_to_f32(h[i]);
    else for (size_t i = 0; i < n; i++) dst[i] = qk_bf16_to_f32(h[i]);
}

static void qk_from_f32(const float *src, void *dst, qkern_format t, size_t n) {
    uint16_t *h = dst;
    if (t == QKERN_F32) memcpy(dst, src, n * 4);
    else if (t == QKERN_F16) for (size_t i = 0; i < n; i++) h[i] = qk_f32_to_f16(src[i]);
    else for (size_t i = 0; i < n; i++) h[i] = qk_f32_to_bf16(src[i]);
}

/* The per-tensor reduction in chunks over the context's threads (min / max are exact in
 * any order, so the result never depends on the split or the thread count). */
#define QK_RANGE_CHUNKS 64
typedef struct {
    void (*reduce)(qkern_format f, const float *src, size_t n, float *lo, float *hi);
    qkern_format f;
    const float *x;
    size_t n, chunk;
    float lo[QK_RANGE_CHUNKS], hi[QK_RANGE_CHUNKS];
} qk_range_task;

static void qk_range_run(void *arg, int64_t i) {
    qk_range_task *t = arg;
    size_t a = (size_t)i * t->chunk, len = t->n - a < t->chunk ? t->n - a : t->chunk;
    t->reduce(t->f, t->x + a, len, &t->lo[i], &t->hi[i]);
}

static qkern_status qk_tensor_params_parallel(qkern_context *ctx, const qk_backend_slot *slot,
                                              const qkern_quant_desc *d, const float *x, size_t n, float *scale,
                                              int32_t *zero) {
    /* the formats with a per-tensor rule; the one-pass call reports the others as unsupported */
    if (d->format != QKERN_I8_ASYM && d->format != QKERN_FP8_E4M3 && d->format != QKERN_FP8_E5M2)
        return qk_tensor_params__scalar(d, x, n, scale, zero);
    qk_range_task t = {slot->b->tensor_reduce ? slot->b->tensor_reduce : qk_tensor_reduce__scalar, d->format, x, n, (n + QK_RANGE_CHUNKS - 1) / QK_RANGE_CHUNKS, {0}, {0}};
    if (t.chunk < ((size_t)1 << 18)) t.chunk = (size_t)1 << 18; /* a chunk amortises its task */
    const int64_t chunks = (int64_t)((n + t.chunk - 1) / t.chunk);
    qk_parallel_for(ctx, qk_range_run, &t, chunks);
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < chunks; i++) {
        if (t.lo[i] < lo) lo = t.lo[i];
        if (t.hi[i] > hi) hi = t.hi[i];
    }
    return qk_tensor_params_reduced__scalar(d, lo, hi, scale, zero);
}

qkern_status qkern_convert(const void *src, qkern_format st, void *dst, qkern_format dt, size_t n) {
    qk_error_clear();
    if (!qk_is_float_type(st) || !qk_is_float_type(dt))
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_convert: %s -> %s: only F32, F16 and BF16 convert element-wise",
                        qk_format_name(st), qk_format_name(dt));
    if (n == 0) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_convert: n=0 elements");
    if (!src || !dst) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_convert: %s is NULL", src ? "dst" : "src");
    if (n > SIZE_MAX / 4) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_convert: n=%zu overflows the byte count", n);
    if (st == dt) { memmove(dst, src, n * qk_elem_size(st)); return QKERN_OK; }
    if (st == QKERN_F32) { qk_from_f32(src, dst, dt, n); return QKERN_OK; }
    if (dt == QKERN_F32) { qk_to_f32(src, st, dst, n); return QKERN_OK; }
    float tmp[256];
    for (size_t i = 0; i < n; i += 256) {
        size_t c = n - i < 256 ? n - i : 256;
        qk_to_f32((const uint16_t *)src + i, st, tmp, c);
        qk_from_f32(tmp, (uint16_t *)dst + i, dt, c);
    }
    return QKERN_OK;
}

typedef struct qk_quant_task {
    const qk_backend_slot *slot;
    const float *src;
    const qkern_qtensor *t;
    float *dst;
    int64_t rows_per_task, rows;
    qkern_status status; /* first failure (tasks only fail on internal errors) */
} qk_quant_task;

static void qk_quant_run(void *arg, int64_t i) {
    qk_quant_task *q = arg;
    int64_t r0 = i * q->rows_per_task, r1 = r0 + q->rows_per_task;
    if (r1 > q->rows) r1 = q->rows;
    qkern_status s = q->slot->b->quantize(q->slot->state, q->src, q->t, r0, r1);
    if (s != QKERN_OK) q->status = s;
}

static void qk_dequant_run(void *arg, int64_t i) {
    qk_quant_task *q = arg;
    int64_t r0 = i * q->rows_per_task, r1 = r0 + q->rows_per_task;
    if (r1 > q->rows) r1 = q->rows;
    qkern_status s = q->slot->b->dequantize(q->slot->state, q->t, q->dst, r0, r1);
    if (s != QKERN_OK) q->status = s;
}

static qkern_status qk_run_rows(qkern_context *ctx, const qk_backend_slot *slot, qk_quant_task *q,
                                qkern_task_fn fn) {
    q->rows_per_task = slot->b->threaded ? qk_rows_per_task(q->rows, q->t->cols) : q->rows;
    q->status = QKERN_OK;
    int64_t tasks = (q->rows + q->rows_per_task - 1) / q->rows_per_task;
    if (slot->b->threaded) qk_parallel_for(ctx, fn, q, tasks);
    else for (int64_t i = 0; i < tasks; i++) fn(q, i);
    return q->status;
}

qkern_status qkern_quantize(qkern_context *ctx, const void *src, qkern_format src_type, size_t src_bytes,
                            const qkern_qtensor *dst) {
    qk_error_clear();
    if (!ctx) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_quantize: ctx is NULL");
    if (!src) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_quantize: src is NULL");
    if (!qk_is_float_type(src_type))
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_quantize: src_type=%s (%d) must be F32, F16 or BF16",
                        qk_format_name(src_type), (int)src_type);
    qk_layout L;
    qkern_status s = qk_check_qtensor(dst, "qkern_quantize dst", &L);
    if (s != QKERN_OK) return s;
    size_t need;
    if (!qk_mul_size(L.elements, qk_elem_size(src_type), &need))
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_quantize: source byte count overflows size_t");
    if (src_bytes < need)
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_quantize: src_bytes=%zu, %lld × %lld %s need %zu", src_bytes,
                        (long long)dst->rows, (long long)dst->cols, qk_format_name(src_type), need);

    const float *x = src;
    float *staged = NULL;
    if (src_type != QKERN_F32) {
        staged = malloc(L.elements * sizeof(float));
        if (!staged) return qk_error(QKERN_OUT_OF_MEMORY, "qkern_quantize: no memory to stage %zu elements", L.elements);
        qk_to_f32(src, src_type, staged, L.elements);
        x = staged;
    }

    qkern_qtensor t = *dst;
    const qk_backend_slot *slot = qk_select(ctx, QK_OP_QUANTIZE, &t.desc, QKERN_ACT_FLOAT);
    if (L.group == 0 && !(t.desc.flags & QKERN_QUANT_STATIC_SCALES)) {
        /* One scale for the tensor: a reduction before the row kernels can run. */
        float scale = 0.0f;
        int32_t zero = 0;
        s = qk_tensor_params_parallel(ctx, slot, &t.desc, x, L.elements, &scale, &zero);
        if (s != QKERN_OK) { free(staged); return s; }
        memcpy(t.scales, &scale, sizeof scale);
        if (t.desc.format == QKERN_I8_ASYM) memcpy(t.zeros, &zero, sizeof zero);
        t.desc.flags |= QKERN_QUANT_STATIC_SCALES;
    }
    qk_quant_task q = {slot, x, &t, NULL, 0, t.rows, QKERN_OK};
    s = qk_run_rows(ctx, slot, &q, qk_quant_run);
    free(staged);
    return s;
}

qkern_status qkern_dequantize(qkern_context *ctx, const qkern_qtensor *src, void *dst, qkern_format dst_type,
                              size_t dst_bytes) {
    qk_error_clear();
    if (!ctx) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_dequantize: ctx is NULL");
    if (!dst) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_dequantize: dst is NULL");
    if (!qk_is_float_type(dst_type))
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_dequantize: dst_type=%s (%d) must be F32, F16 or BF16",
                        qk_format_name(dst_type), (int)dst_type);
    qk_layout L;
    qkern_status s = qk_check_qtensor(src, "qkern_dequantize src", &L);
    if (s != QKERN_OK) return s;
    size_t need;
    if (!qk_mul_size(L.elements, qk_elem_size(dst_type), &need))
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_dequantize: destination byte count overflows size_t");
    if (dst_bytes < need)
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_dequantize: dst_bytes=%zu, %lld × %lld %s need %zu", dst_bytes,
                        (long long)src->rows, (long long)src->cols, qk_format_name(dst_type), need);
    float *out = dst, *staged = NULL;
    if (dst_type != QKERN_F32) {
        staged = malloc(L.elements * sizeof(float));
        if (!staged) return qk_error(QKERN_OUT_OF_MEMORY, "qkern_dequantize: no memory to stage %zu elements", L.elements);
        out = staged;
    }
    const qk_backend_slot *slot = qk_select(ctx, QK_OP_DEQUANTIZE, &src->desc, QKERN_ACT_FLOAT);
    qk_quant_task q = {slot, NULL, src, out, 0, src->rows, QKERN_OK};
    s = qk_run_rows(ctx, slot, &q, qk_dequant_run);
    if (s == QKERN_OK && staged) qk_from_f32(staged, dst, dst_type, L.elements);
    free(staged);
    return s;
}
