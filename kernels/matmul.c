/* Front end of matmul: argument checks, the (format, activation) table, backend choice
 * with visible fallback, packing, scratch, the LLM.int8 outlier mask, and the split of
 * prepare_act / compute over the context's threads. docs/matmul.md is the arithmetic. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/scalar/scalar.h"
#include "kernels/context_internal.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"
#include "qkern/matmul.h"

#define QK_LLM_INT8_DEFAULT_THRESHOLD 6.0f

/* Work per compute task, in multiply-adds: large enough to amortise a task hand-out
 * (~1 µs) on the scalar kernels, small enough that M = 1 × N = 4096 still yields dozens
 * of tasks for the pool to balance. */
#define QK_MACS_PER_TASK (1 << 18)
/* Rows per compute block: keeps a block of X rows hot while a task walks its columns. */
#define QK_ROWS_PER_BLOCK 32
/* Elements per prepare_act task. */
#define QK_ACT_ELEMS_PER_TASK (1 << 16)

static const char *qk_act_mode_name(qkern_act_mode a) {
    switch (a) {
    case QKERN_ACT_FLOAT: return "ACT_FLOAT";
    case QKERN_ACT_I8_DYNAMIC: return "ACT_I8_DYNAMIC";
    case QKERN_ACT_Q8_0: return "ACT_Q8_0";
    case QKERN_ACT_Q8_1: return "ACT_Q8_1";
    case QKERN_ACT_FP8_E4M3: return "ACT_FP8_E4M3";
    case QKERN_ACT_FP8_E5M2: return "ACT_FP8_E5M2";
    case QKERN_ACT_LLM_INT8: return "ACT_LLM_INT8";
    }
    return NULL;
}

static const char *qk_group_name(const qkern_quant_desc *d, char *buf, size_t n) {
    if (d->group == QKERN_GROUP_DEFAULT) return "default group";
    if (d->group == QKERN_GROUP_ROW) return "group ROW";
    if (d->group == QKERN_GROUP_TENSOR) return "group TENSOR";
    snprintf(buf, n, "group %lld", (long long)d->group);
    return buf;
}

void qkern_matmul_options_init(qkern_matmul_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->act = QKERN_ACT_FLOAT;
    o->outlier_threshold = QK_LLM_INT8_DEFAULT_THRESHOLD;
}

/* The scalar backend implements exactly docs/matmul.md's table, so its kernel names are
 * the one list of valid (format, group, activation) triples. */
static qkern_status qk_check_mode(const qkern_quant_desc *d, qkern_act_mode act) {
    if (qk_matmul_kernel_name__scalar(d, act)) return QKERN_OK;
    char valid[160] = "", gb[32];
    size_t len = 0;
    for (int a = QKERN_ACT_FLOAT; a <= QKERN_ACT_LLM_INT8; a++) {
        if (!qk_matmul_kernel_name__scalar(d, (qkern_act_mode)a)) continue;
        int w = snprintf(valid + len, sizeof valid - len, "%s%s", len ? ", " : "", qk_act_mode_name((qkern_act_mode)a));
        if (w > 0 && (size_t)w < sizeof valid - len) len += (size_t)w;
    }
    return qk_error(QKERN_UNSUPPORTED, "matmul: %s weights (%s%s) with %s activations is not a matmul mode (%s%s)",
                    qk_format_name(d->format), qk_group_name(d, gb, sizeof gb),
                    (d->flags & QKERN_QUANT_ASYMMETRIC) ? ", asymmetric" : "", qk_act_mode_name(act),
                    len ? "valid for this weight: " : "no activation mode takes this weight format",
                    valid);
}

/* The int32 sums of the integer modes must not overflow: |qx| ≤ 127, |qw| ≤ 127 (I8) or
 * ≤ 15 (I4, nibble − zero). */
static qkern_status qk_check_int32_range(const qkern_quant_desc *d, const qk_layout *L, qkern_act_mode act) {
    if (act != QKERN_ACT_I8_DYNAMIC && act != QKERN_ACT_LLM_INT8) return QKERN_OK;
    int64_t wmax = d->format == QKERN_I4 ? 15 : 127;
    int64_t g = act == QKERN_ACT_LLM_INT8 ? L->cols : L->group;
    if (g > (int64_t)INT32_MAX / (127 * wmax))
        return qk_error(QKERN_UNSUPPORTED,
                        "matmul: %s × %s accumulates %lld products per int32 sum, more than %lld can be exact",
                        qk_format_name(d->format), qk_act_mode_name(act), (long long)g,
                        (long long)(INT32_MAX / (127 * wmax)));
    return QKERN_OK;
}

static qkern_status qk_pack_on(const qk_backend_slot *slot, const qkern_qtensor *w, const qkern_matmul_options *o,
                               qk_packed *p) {
    p->backend = slot->b;
    p->backend_state = slot->state;
    p->data = NULL;
    p->data_bytes = 0;
    p->free_data = NULL;
    const char *k = slot->b->kernel_name ? slot->b->kernel_name(slot->state, QK_OP_MATMUL, &w->desc, o->act) : NULL;
    snprintf(p->kernel, sizeof p->kernel, "%s", k ? k : "");
    if (!slot->b->matmul || !slot->b->matmul->pack)
        return qk_error(QKERN_UNSUPPORTED, "backend %s has no matmul", slot->b->name);
    return slot->b->matmul->pack(slot->state, w, o, p);
}

static void qk_packed_release(qk_packed *p) {
    if (p->free_data && p->data) p->free_data(p->data, p->backend_state);
    p->data = NULL;
    p->free_data = NULL;
}

qkern_status qkern_pack_weights(qkern_context *ctx, const qkern_qtensor *w, const qkern_matmul_options *opts,
                                qkern_packed_weights **out) {
    qk_error_clear();
    if (!out) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_pack_weights: out-pointer is NULL");
    *out = NULL;
    if (!ctx) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_pack_weights: ctx is NULL");
    qk_layout L;
    qkern_status s = qk_check_qtensor(w, "qkern_pack_weights w", &L);
    if (s != QKERN_OK) return s;
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    if (opts) o = *opts;
    if (!qk_act_mode_name(o.act))
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_pack_weights: act=%d is not a qkern_act_mode", (int)o.act);
    if (o.outlier_threshold == 0.0f) o.outlier_threshold = QK_LLM_INT8_DEFAULT_THRESHOLD;
    if (!(o.outlier_threshold > 0.0f) || isinf(o.outlier_threshold))
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_pack_weights: outlier_threshold=%g must be positive and finite",
                        (double)o.outlier_threshold);
    qkern_quant_desc d = w->desc;
    d.flags &= ~QKERN_QUANT_STATIC_SCALES; /* how scales were made does not change the matmul */
    s = qk_check_mode(&d, o.act);
    if (s != QKERN_OK) return s;
    s = qk_check_int32_range(&d, &L, o.act);
    if (s != QKERN_OK) return s;

    qk_packed *p = calloc(1, sizeof *p);
    if (!p) return qk_error(QKERN_OUT_OF_MEMORY, "qkern_pack_weights: out of memory");
    p->desc = d;
    p->act = o.act;
    p->n = w->rows;
    p->k = w->cols;
    p->outlier_threshold = o.outlier_threshold;
    if (o.bias) {
        p->bias = malloc((size_t)p->n * sizeof(float));
        if (!p->bias) {
            free(p);
            return qk_error(QKERN_OUT_OF_MEMORY, "qkern_pack_weights: no memory for %lld bias values",
                            (long long)w->rows);
        }
        memcpy(p->bias, o.bias, (size_t)p->n * sizeof(float));
    }
    qkern_qtensor wv = *w;
    wv.desc = d;
    o.bias = p->bias;

    const qk_backend_slot *slot = qk_select(ctx, QK_OP_MATMUL, &d, o.act);
    const qk_backend_slot *scalar = &ctx->slots[ctx->scalar];
    s = qk_pack_on(slot, &wv, &o, p);
    if (s == QKERN_UNSUPPORTED && slot != scalar) {
        /* The backend declined this shape or group at pack time: scalar runs it, and
         * p->kernel says so. */
        qk_packed_release(p);
        qk_error_clear();
        s = qk_pack_on(scalar, &wv, &o, p);
    }
    if (s != QKERN_OK) {
        qk_packed_release(p);
        free(p->bias);
        free(p);
        return s;
    }
    *out = p;
    return QKERN_OK;
}

void qkern_packed_weights_destroy(qkern_packed_weights *w) {
    if (!w) return;
    qk_packed_release(w);
    free(w->bias);
    free(w);
}

qkern_status qkern_packed_weights_info(const qkern_packed_weights *w, int64_t *n, int64_t *k, const char **backend,
                                       const char **kernel) {
    qk_error_clear();
    if (!w) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_packed_weights_info: packed weights are NULL");
    if (n) *n = w->n;
    if (k) *k = w->k;
    if (backend) *backend = w->backend->name;
    if (kernel) *kernel = w->kernel;
    return QKERN_OK;
}

/* --- running a matmul ------------------------------------------------------------ */

typedef struct qk_mm_task {
    const qk_backend_slot *slot;
    const qk_packed *p;
    const float *x;
    int64_t ldx;
    void *scratch;
    float *y;
    int64_t ldy;
    int64_t m, n;
    int64_t rows_per_act;         /* prepare_act: rows per task */
    int64_t m_blk, n_blk, n_blocks; /* compute: tile block and blocks along N */
    atomic_int status;            /* first failure, QKERN_OK otherwise */
} qk_mm_task;

static void qk_mm_fail(qk_mm_task *t, qkern_status s) {
    int expected = QKERN_OK;
    atomic_compare_exchange_strong(&t->status, &expected, (int)s);
}

static void qk_mm_prepare_run(void *arg, int64_t i) {
    qk_mm_task *t = arg;
    int64_t m0 = i * t->rows_per_act, m1 = m0 + t->rows_per_act;
    if (m1 > t->m) m1 = t->m;
    qkern_status s = t->slot->b->matmul->prepare_act(t->slot->state, t->p, t->x, t->ldx, m0, m1, t->scratch);
    if (s != QKERN_OK) qk_mm_fail(t, s);
}

static void qk_mm_compute_run(void *arg, int64_t i) {
    qk_mm_task *t = arg;
    int64_t mb = i / t->n_blocks, nb = i % t->n_blocks;
    int64_t m0 = mb * t->m_blk, m1 = m0 + t->m_blk;
    int64_t n0 = nb * t->n_blk, n1 = n0 + t->n_blk;
    if (m1 > t->m) m1 = t->m;
    if (n1 > t->n) n1 = t->n;
    qkern_status s =
        t->slot->b->matmul->compute(t->slot->state, t->p, t->x, t->ldx, t->scratch, m0, m1, n0, n1, t->y, t->ldy);
    if (s != QKERN_OK) qk_mm_fail(t, s);
}

static int64_t qk_round_up(int64_t v, int64_t step) { return (v + step - 1) / step * step; }

/* The split depends only on the shape and the backend's steps, never on the thread
 * count, so even a backend whose tile edges touched the arithmetic would give the same
 * bytes for any number of threads. */
static void qk_mm_split(qk_mm_task *t, const qk_matmul_ops *ops, int64_t k) {
    int64_t ms = ops->m_step > 0 ? ops->m_step : 1, ns = ops->n_step > 0 ? ops->n_step : 1;
    int64_t ra = QK_ACT_ELEMS_PER_TASK / (k > 0 ? k : 1);
    t->rows_per_act = qk_round_up(ra < 1 ? 1 : ra, ms);
    int64_t mb = t->m < QK_ROWS_PER_BLOCK ? t->m : QK_ROWS_PER_BLOCK;
    t->m_blk = qk_round_up(mb, ms);
    int64_t nb = QK_MACS_PER_TASK / (t->m_blk * k > 0 ? t->m_blk * k : 1);
    t->n_blk = qk_round_up(nb < 1 ? 1 : nb, ns);
    if (t->n_blk > qk_round_up(t->n, ns)) t->n_blk = qk_round_up(t->n, ns);
    t->n_blocks = (t->n + t->n_blk - 1) / t->n_blk;
}

/* LLM.int8: a column is an outlier if any row of this call exceeds the threshold (NaN
 * does not). */
static void qk_llm_int8_fill_header(void *scratch, const float *x, int64_t ldx, int64_t m, int64_t k, float thr) {
    qk_llm_int8_header h = {k, 0};
    uint8_t *mask = (uint8_t *)scratch + sizeof h;
    int64_t *list = (int64_t *)(void *)((uint8_t *)scratch + qk_llm_int8_list_offset(k));
    memset(mask, 0, (size_t)k);
    for (int64_t r = 0; r < m; r++) {
        const float *row = x + r * ldx;
        for (int64_t c = 0; c < k; c++) mask[c] |= (uint8_t)(fabsf(row[c]) > thr); /* branch-free: vectorises */
    }
    for (int64_t c = 0; c < k; c++)
        if (mask[c]) list[h.n_outliers++] = c;
    memcpy(scratch, &h, sizeof h);
}

static const qk_backend_slot *qk_slot_of(const qkern_context *ctx, const qk_packed *p) {
    for (int i = 0; i < ctx->n_slots; i++)
        if (ctx->slots[i].b == p->backend) return &ctx->slots[i];
    return NULL;
}

qkern_status qkern_matmul(qkern_context *ctx, const qkern_packed_weights *w, int64_t m, const float *x, int64_t ldx,
                          float *y, int64_t ldy) {
    qk_error_clear();
    if (!ctx) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_matmul: ctx is NULL");
    if (!w) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_matmul: packed weights are NULL");
    if (!x) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_matmul: x is NULL");
    if (!y) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_matmul: y is NULL");
    const qk_packed *p = w;
    if (m < 1) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_matmul: m=%lld must be at least 1", (long long)m);
    if (ldx < p->k)
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_matmul: ldx=%lld is less than K=%lld", (long long)ldx,
                        (long long)p->k);
    if (ldy < p->n)
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_matmul: ldy=%lld is less than N=%lld", (long long)ldy,
                        (long long)p->n);
    size_t xe, ye, tmp;
    if (!qk_mul_size((size_t)(m - 1), (size_t)ldx, &tmp) || !qk_add_size(tmp, (size_t)p->k, &xe) ||
        !qk_mul_size(xe, sizeof(float), &tmp))
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_matmul: m=%lld × ldx=%lld floats of x overflow size_t",
                        (long long)m, (long long)ldx);
    if (!qk_mul_size((size_t)(m - 1), (size_t)ldy, &tmp) || !qk_add_size(tmp, (size_t)p->n, &ye) ||
        !qk_mul_size(ye, sizeof(float), &tmp))
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_matmul: m=%lld × ldy=%lld floats of y overflow size_t",
                        (long long)m, (long long)ldy);

    const qk_backend_slot *slot = qk_slot_of(ctx, p);
    if (!slot || !slot->available)
        return qk_error(QKERN_INVALID_ARGUMENT,
                        "qkern_matmul: the weights were packed for backend \"%s\", which this context %s",
                        p->backend->name, slot ? "cannot run (unavailable)" : "does not have");
    if (slot->state != p->backend_state)
        return qk_error(QKERN_INVALID_ARGUMENT,
                        "qkern_matmul: the weights were packed by another context's \"%s\" backend state; "
                        "pack them again with this context",
                        p->backend->name);
    const qk_matmul_ops *ops = slot->b->matmul;
    if (!ops || !ops->compute || !ops->prepare_act || !ops->act_scratch_bytes)
        return qk_error(QKERN_UNSUPPORTED, "qkern_matmul: backend %s has no matmul", slot->b->name);

    size_t sbytes = ops->act_scratch_bytes(p, m);
    if (sbytes == SIZE_MAX)
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_matmul: m=%lld × K=%lld activation scratch overflows size_t",
                        (long long)m, (long long)p->k);
    if (p->act == QKERN_ACT_LLM_INT8 && sbytes < qk_llm_int8_header_bytes(p->k))
        return qk_error(QKERN_UNSUPPORTED, "qkern_matmul: backend %s reserves no LLM.int8 outlier header",
                        slot->b->name);
    void *scratch = NULL;
    if (sbytes) {
        scratch = malloc(sbytes);
        if (!scratch)
            return qk_error(QKERN_OUT_OF_MEMORY, "qkern_matmul: no memory for %zu bytes of activation scratch", sbytes);
    }
    if (p->act == QKERN_ACT_LLM_INT8) qk_llm_int8_fill_header(scratch, x, ldx, m, p->k, p->outlier_threshold);

    qk_mm_task t;
    memset(&t, 0, sizeof t);
    t.slot = slot;
    t.p = p;
    t.x = x;
    t.ldx = ldx;
    t.scratch = scratch;
    t.y = y;
    t.ldy = ldy;
    t.m = m;
    t.n = p->n;
    atomic_init(&t.status, QKERN_OK);
    if (slot->b->threaded) {
        qk_mm_split(&t, ops, p->k);
        qk_parallel_for(ctx, qk_mm_prepare_run, &t, (m + t.rows_per_act - 1) / t.rows_per_act);
        if (atomic_load(&t.status) == QKERN_OK) {
            int64_t m_blocks = (m + t.m_blk - 1) / t.m_blk;
            qk_parallel_for(ctx, qk_mm_compute_run, &t, m_blocks * t.n_blocks);
        }
    } else {
        t.rows_per_act = m;
        t.m_blk = m;
        t.n_blk = p->n;
        t.n_blocks = 1;
        qk_mm_prepare_run(&t, 0);
        if (atomic_load(&t.status) == QKERN_OK) qk_mm_compute_run(&t, 0);
    }
    free(scratch);
    qkern_status st = (qkern_status)atomic_load(&t.status);
    /* A kernel that failed on a pool thread left its message on that thread. */
    if (st != QKERN_OK && !qkern_last_error()[0])
        qk_error(st, "qkern_matmul: the %s kernel %s failed on a worker thread", slot->b->name, p->kernel);
    return st;
}
