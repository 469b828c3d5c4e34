/* The conformance table and the runner of one row on one backend (docs/conformance.md).
 * Adding a format or a mode adds rows here; adding a backend adds nothing. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conform.h"
#include "kernels/context_internal.h"

#define ROW QKERN_GROUP_ROW
#define TENSOR QKERN_GROUP_TENSOR
#define ASYM QKERN_QUANT_ASYMMETRIC
#define NOSAT QKERN_QUANT_FP8_NO_SATURATE

/* Patterns: every quantiser sees uniform, outlier, zero-row and constant data; "special"
 * (NaN, ±Inf, huge, denormal, -0) only where the format defines them (FP8 by OCP, the
 * integer formats by kernels/format_int.h, NF4 by kernels/format_nf4.h; llama.cpp's ggml
 * reference quantisers define no NaN/Inf rule). */
#define P_BASE (QK_CF_PAT(QK_CF_UNIFORM) | QK_CF_PAT(QK_CF_OUTLIERS) | QK_CF_PAT(QK_CF_ZERO_ROWS) | QK_CF_PAT(QK_CF_CONSTANT))
#define P_SPECIAL (P_BASE | QK_CF_PAT(QK_CF_SPECIAL))
#define P_DEQ (P_BASE | QK_CF_PAT(QK_CF_RANDOM_BYTES))
#define P_DEQ_SPECIAL (P_SPECIAL | QK_CF_PAT(QK_CF_RANDOM_BYTES))
#define P_MM P_BASE

#define Q(fmt, g, fl, pat) {QK_OP_QUANTIZE, {fmt, g, fl}, QKERN_ACT_FLOAT, QK_CF_SHAPES_QUANT, pat}
#define DQ(fmt, g, fl, pat) {QK_OP_DEQUANTIZE, {fmt, g, fl}, QKERN_ACT_FLOAT, QK_CF_SHAPES_QUANT, pat}
#define MM(fmt, g, fl, act) {QK_OP_MATMUL, {fmt, g, fl}, act, QK_CF_SHAPES_MATMUL, P_MM}

const qk_cf_row qk_cf_table[] = {
    Q(QKERN_I8, ROW, 0, P_SPECIAL),
    Q(QKERN_I8, 32, 0, P_SPECIAL),
    Q(QKERN_I8_ASYM, ROW, 0, P_SPECIAL),
    Q(QKERN_I8_ASYM, TENSOR, 0, P_SPECIAL),
    Q(QKERN_I4, 32, 0, P_SPECIAL),
    Q(QKERN_I4, 128, 0, P_SPECIAL),
    Q(QKERN_I4, 64, ASYM, P_SPECIAL),
    Q(QKERN_Q8_0, 32, 0, P_BASE),
    Q(QKERN_Q4_0, 32, 0, P_BASE),
    Q(QKERN_Q4_1, 32, 0, P_BASE),
    Q(QKERN_Q8_1, 32, 0, P_BASE),
    Q(QKERN_NF4, 64, 0, P_SPECIAL),
    Q(QKERN_NF4, 32, 0, P_SPECIAL),
    Q(QKERN_FP8_E4M3, ROW, 0, P_SPECIAL),
    Q(QKERN_FP8_E4M3, TENSOR, 0, P_SPECIAL),
    Q(QKERN_FP8_E4M3, ROW, NOSAT, P_SPECIAL),
    Q(QKERN_FP8_E5M2, ROW, 0, P_SPECIAL),
    Q(QKERN_FP8_E5M2, TENSOR, NOSAT, P_SPECIAL),

    DQ(QKERN_I8, ROW, 0, P_DEQ_SPECIAL),
    DQ(QKERN_I8, 32, 0, P_DEQ_SPECIAL),
    DQ(QKERN_I8_ASYM, ROW, 0, P_DEQ_SPECIAL),
    DQ(QKERN_I4, 32, 0, P_DEQ_SPECIAL),
    DQ(QKERN_I4, 64, ASYM, P_DEQ_SPECIAL),
    DQ(QKERN_Q8_0, 32, 0, P_DEQ),
    DQ(QKERN_Q4_0, 32, 0, P_DEQ),
    DQ(QKERN_Q4_1, 32, 0, P_DEQ),
    DQ(QKERN_Q8_1, 32, 0, P_DEQ),
    DQ(QKERN_NF4, 64, 0, P_DEQ_SPECIAL),
    DQ(QKERN_FP8_E4M3, ROW, 0, P_DEQ_SPECIAL),
    DQ(QKERN_FP8_E5M2, TENSOR, 0, P_DEQ_SPECIAL),

    MM(QKERN_I8, ROW, 0, QKERN_ACT_FLOAT),
    MM(QKERN_I8, 32, 0, QKERN_ACT_FLOAT),
    MM(QKERN_I8_ASYM, ROW, 0, QKERN_ACT_FLOAT),
    MM(QKERN_I4, 32, 0, QKERN_ACT_FLOAT),
    MM(QKERN_I4, 128, 0, QKERN_ACT_FLOAT),
    MM(QKERN_I4, 64, ASYM, QKERN_ACT_FLOAT),
    MM(QKERN_Q4_0, 32, 0, QKERN_ACT_FLOAT),
    MM(QKERN_Q4_1, 32, 0, QKERN_ACT_FLOAT),
    MM(QKERN_Q8_0, 32, 0, QKERN_ACT_FLOAT),
    MM(QKERN_NF4, 64, 0, QKERN_ACT_FLOAT),
    MM(QKERN_FP8_E4M3, ROW, 0, QKERN_ACT_FLOAT),
    MM(QKERN_FP8_E5M2, TENSOR, 0, QKERN_ACT_FLOAT),
    MM(QKERN_I8, ROW, 0, QKERN_ACT_I8_DYNAMIC),
    MM(QKERN_I8, 32, 0, QKERN_ACT_I8_DYNAMIC),
    MM(QKERN_I4, 32, 0, QKERN_ACT_I8_DYNAMIC),
    MM(QKERN_I4, 128, 0, QKERN_ACT_I8_DYNAMIC),
    MM(QKERN_I4, 64, ASYM, QKERN_ACT_I8_DYNAMIC),
    /* g/4 = 6 and 2 k4-chunks: the x86 tiles' K loops that take four chunks per step */
    MM(QKERN_I4, 24, 0, QKERN_ACT_I8_DYNAMIC),
    MM(QKERN_I4, 8, 0, QKERN_ACT_I8_DYNAMIC),
    MM(QKERN_Q4_0, 32, 0, QKERN_ACT_Q8_0),
    MM(QKERN_Q8_0, 32, 0, QKERN_ACT_Q8_0),
    MM(QKERN_Q4_1, 32, 0, QKERN_ACT_Q8_1),
    MM(QKERN_FP8_E4M3, ROW, 0, QKERN_ACT_FP8_E4M3),
    MM(QKERN_FP8_E4M3, TENSOR, 0, QKERN_ACT_FP8_E4M3),
    MM(QKERN_FP8_E5M2, ROW, 0, QKERN_ACT_FP8_E5M2),
    MM(QKERN_FP8_E5M2, ROW, 0, QKERN_ACT_FP8_E4M3),
    MM(QKERN_I8, ROW, 0, QKERN_ACT_LLM_INT8),

    /* Per-row element formats take any K: odd K (1, 45) for every tail handler. */
    {QK_OP_QUANTIZE, {QKERN_I8, ROW, 0}, QKERN_ACT_FLOAT, QK_CF_SHAPES_QUANT_ODD_K, P_SPECIAL},
    {QK_OP_QUANTIZE, {QKERN_FP8_E4M3, ROW, 0}, QKERN_ACT_FLOAT, QK_CF_SHAPES_QUANT_ODD_K, P_SPECIAL},
    {QK_OP_DEQUANTIZE, {QKERN_I8, ROW, 0}, QKERN_ACT_FLOAT, QK_CF_SHAPES_QUANT_ODD_K, P_DEQ_SPECIAL},
    {QK_OP_MATMUL, {QKERN_I8, ROW, 0}, QKERN_ACT_FLOAT, QK_CF_SHAPES_MATMUL_ODD_K, P_MM},
    {QK_OP_MATMUL, {QKERN_I8, ROW, 0}, QKERN_ACT_I8_DYNAMIC, QK_CF_SHAPES_MATMUL_ODD_K, P_MM},
    {QK_OP_MATMUL, {QKERN_I8, ROW, 0}, QKERN_ACT_LLM_INT8, QK_CF_SHAPES_MATMUL_ODD_K, P_MM},
    {QK_OP_MATMUL, {QKERN_FP8_E4M3, ROW, 0}, QKERN_ACT_FP8_E4M3, QK_CF_SHAPES_MATMUL_ODD_K, P_MM},
};
const int qk_cf_table_len = (int)(sizeof qk_cf_table / sizeof qk_cf_table[0]);

/* ---- shapes ----------------------------------------------------------------------- */

static const int64_t qk_quant_rows_full[] = {1, 3, 7, 33}, qk_quant_rows_quick[] = {3, 33};
static const int64_t qk_mm_tails[] = {1, 2, 3, 7, 16, 33};
/* --quick: every tail appears as M and as N, with the GEMV (M = 1) and both corners. */
static const int64_t qk_mm_quick[][2] = {{1, 1}, {1, 33}, {2, 7}, {3, 16}, {7, 3}, {16, 2}, {33, 33}};

static int64_t qk_k_unit(const qkern_quant_desc *d) { return d->group > 0 ? d->group : 32; }

typedef struct qk_shape { int64_t m, n, k; } qk_shape;

/* The shapes of a row, in order; returns how many (≤ cap). */
static int qk_cf_shapes_of(const qk_cf_row *r, int quick, qk_shape *out, int cap) {
    int cnt = 0;
    const int64_t u = qk_k_unit(&r->d);
    const int odd = r->shapes == QK_CF_SHAPES_QUANT_ODD_K || r->shapes == QK_CF_SHAPES_MATMUL_ODD_K;
    const int64_t ks_full[] = {odd ? 1 : u, odd ? 45 : 4 * u}, ks_quick[] = {odd ? 45 : 2 * u};
    const int64_t *ks = quick ? ks_quick : ks_full;
    int nk = quick ? 1 : 2;
    for (int ki = 0; ki < nk; ki++) {
        if (r->shapes == QK_CF_SHAPES_QUANT || r->shapes == QK_CF_SHAPES_QUANT_ODD_K) {
            const int64_t *rows = quick ? qk_quant_rows_quick : qk_quant_rows_full;
            int nr = quick ? 2 : 4;
            for (int i = 0; i < nr && cnt < cap; i++) out[cnt++] = (qk_shape){rows[i], 0, ks[ki]};
        } else if (quick) {
            for (int i = 0; i < 7 && cnt < cap; i++) out[cnt++] = (qk_shape){qk_mm_quick[i][0], qk_mm_quick[i][1], ks[ki]};
        } else {
            for (int a = 0; a < 6; a++)
                for (int b = 0; b < 6 && cnt < cap; b++) out[cnt++] = (qk_shape){qk_mm_tails[a], qk_mm_tails[b], ks[ki]};
        }
    }
    return cnt;
}

static int qk_popcount(unsigned v) {
    int c = 0;
    for (; v; v &= v - 1) c++;
    return c;
}

int64_t qk_cf_row_cases(const qk_cf_row *r, int quick) {
    qk_shape s[128];
    return (int64_t)qk_cf_shapes_of(r, quick, s, 128) * qk_popcount(r->patterns);
}

static const char *qk_act_short(qkern_act_mode a) {
    static const char *const n[] = {"f32", "i8", "q8_0", "q8_1", "fp8_e4m3", "fp8_e5m2", "llm_int8"};
    return (unsigned)a < 7 ? n[a] : "?";
}

void qk_cf_row_label(const qk_cf_row *r, char *buf, size_t n) {
    static const char *const ops[] = {"quantize", "dequantize", "matmul"};
    qkern_format_info fi;
    qkern_format_get_info(r->d.format, &fi);
    char g[24];
    if (r->d.group == ROW) snprintf(g, sizeof g, "row");
    else if (r->d.group == TENSOR) snprintf(g, sizeof g, "tensor");
    else snprintf(g, sizeof g, "g%lld", (long long)r->d.group);
    int odd = r->shapes == QK_CF_SHAPES_QUANT_ODD_K || r->shapes == QK_CF_SHAPES_MATMUL_ODD_K;
    snprintf(buf, n, "%-10s %-8s %-6s%s%s%s%s%s", ops[r->op], fi.name, g, (r->d.flags & ASYM) ? " asym" : "",
             (r->d.flags & NOSAT) ? " nosat" : "", r->op == QK_OP_MATMUL ? " x " : "",
             r->op == QK_OP_MATMUL ? qk_act_short(r->act) : "", odd ? " oddK" : "");
}

/* ---- running ----------------------------------------------------------------------- */

static void qk_fail(qk_cf_result *res, const char *fmt, ...) {
    res->failed++;
    if (res->first_failure[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->first_failure, sizeof res->first_failure, fmt, ap);
    va_end(ap);
}

static uint64_t qk_case_seed(uint64_t base, int row, int shape, int pat) {
    uint64_t h = base ^ 0x9E3779B97F4A7C15ull;
    h = (h ^ (uint64_t)row) * 0x100000001B3ull;
    h = (h ^ (uint64_t)shape) * 0x100000001B3ull;
    h = (h ^ (uint64_t)pat) * 0x100000001B3ull;
    return h;
}

static int qk_same_floats(const float *a, const float *b, size_t n, size_t *at) {
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue; /* NaN payloads are not part of the contract */
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) { *at = i; return 0; }
    }
    return 1;
}

static int qk_same_bytes(const void *a, const void *b, size_t n, size_t *at) {
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) { *at = i; return 0; }
    return 1;
}

static int qk_is_native(const qkern_context *ctx, const char *backend, qk_op op, const qkern_quant_desc *d) {
    return strcmp(qk_select(ctx, op, d, QKERN_ACT_FLOAT)->b->name, backend) == 0;
}

static void qk_run_quant(const qk_cf_row *r, const qk_shape *s, int pat, uint64_t seed, qkern_context *ctx,
                         const char *backend, qkern_context *ref, qk_cf_result *res) {
    const int64_t rows = s->m, k = s->k;
    float *x = malloc((size_t)(rows * k) * sizeof(float));
    if (!x) { qk_fail(res, "out of memory"); return; }
    qk_cf_fill(x, rows, k, k, (qk_cf_pattern)pat, seed);
    qk_cf_qt a, b;
    if (!qk_cf_qt_alloc(&a, r->d, rows, k) || !qk_cf_qt_alloc(&b, r->d, rows, k)) {
        qk_fail(res, "rows=%lld K=%lld: cannot allocate", (long long)rows, (long long)k);
        goto out;
    }
    size_t xb = (size_t)(rows * k) * sizeof(float), at;
    qkern_status sa = qkern_quantize(ref, x, QKERN_F32, xb, &a.t);
    qkern_status sb = qkern_quantize(ctx, x, QKERN_F32, xb, &b.t);
    const char *pn = qk_cf_pattern_name((qk_cf_pattern)pat);
    if (sa != sb) qk_fail(res, "rows=%lld K=%lld %s: status %s, scalar %s", (long long)rows, (long long)k, pn,
                          qkern_status_name(sb), qkern_status_name(sa));
    else if (!qk_cf_qt_guards_ok(&b)) qk_fail(res, "rows=%lld K=%lld %s: wrote outside its buffers", (long long)rows, (long long)k, pn);
    else if (!qk_same_bytes(a.t.data, b.t.data, a.t.data_bytes, &at))
        qk_fail(res, "rows=%lld K=%lld %s: data byte %zu is 0x%02x, scalar 0x%02x", (long long)rows, (long long)k, pn, at,
                ((unsigned char *)b.t.data)[at], ((unsigned char *)a.t.data)[at]);
    else if (a.t.scales_bytes && !qk_same_bytes(a.t.scales, b.t.scales, a.t.scales_bytes, &at))
        qk_fail(res, "rows=%lld K=%lld %s: scale byte %zu differs", (long long)rows, (long long)k, pn, at);
    else if (a.t.zeros_bytes && !qk_same_bytes(a.t.zeros, b.t.zeros, a.t.zeros_bytes, &at))
        qk_fail(res, "rows=%lld K=%lld %s: zero-point byte %zu differs", (long long)rows, (long long)k, pn, at);
out:
    qk_cf_qt_free(&a);
    qk_cf_qt_free(&b);
    free(x);
    (void)backend;
}

static void qk_run_dequant(const qk_cf_row *r, const qk_shape *s, int pat, uint64_t seed, qkern_context *ctx,
                           qkern_context *ref, qk_cf_result *res) {
    const int64_t rows = s->m, k = s->k;
    const size_t n = (size_t)(rows * k);
    float *x = malloc(n * sizeof(float));
    qk_cf_qt q;
    qk_cf_buf ya, yb;
    memset(&ya, 0, sizeof ya);
    memset(&yb, 0, sizeof yb);
    if (!x || !qk_cf_qt_alloc(&q, r->d, rows, k) || !qk_cf_buf_alloc(&ya, n * 4) || !qk_cf_buf_alloc(&yb, n * 4)) {
        qk_fail(res, "out of memory");
        goto out;
    }
    qk_cf_fill(x, rows, k, k, pat == QK_CF_RANDOM_BYTES ? QK_CF_UNIFORM : (qk_cf_pattern)pat, seed);
    if (qkern_quantize(ref, x, QKERN_F32, n * 4, &q.t) != QKERN_OK) {
        qk_fail(res, "scalar quantize: %s", qkern_last_error());
        goto out;
    }
    if (pat == QK_CF_RANDOM_BYTES) { /* every code, including FP8 NaN / Inf and odd ggml scales */
        uint64_t h = seed | 1;
        unsigned char *d = q.t.data;
        for (size_t i = 0; i < q.t.data_bytes; i++) {
            h ^= h << 13, h ^= h >> 7, h ^= h << 17;
            d[i] = (unsigned char)(h >> 24);
        }
    }
    qkern_status sa = qkern_dequantize(ref, &q.t, ya.p, QKERN_F32, n * 4);
    qkern_status sb = qkern_dequantize(ctx, &q.t, yb.p, QKERN_F32, n * 4);
    const char *pn = pat == QK_CF_RANDOM_BYTES ? "random-bytes" : qk_cf_pattern_name((qk_cf_pattern)pat);
    size_t at;
    if (sa != sb) qk_fail(res, "rows=%lld K=%lld %s: status %s, scalar %s", (long long)rows, (long long)k, pn,
                          qkern_status_name(sb), qkern_status_name(sa));
    else if (!qk_cf_buf_guards_ok(&yb)) qk_fail(res, "rows=%lld K=%lld %s: wrote outside the output", (long long)rows, (long long)k, pn);
    else if (!qk_same_floats(ya.p, yb.p, n, &at))
        qk_fail(res, "rows=%lld K=%lld %s: element %zu is %.9g, scalar %.9g", (long long)rows, (long long)k, pn, at,
                (double)((float *)yb.p)[at], (double)((float *)ya.p)[at]);
out:
    qk_cf_qt_free(&q);
    qk_cf_buf_free(&ya);
    qk_cf_buf_free(&yb);
    free(x);
}

/* Returns 1 if the backend under test ran it (not a scalar fallback). */
static int qk_run_matmul(const qk_cf_row *r, const qk_shape *s, int pat, uint64_t seed, qkern_context *ctx,
                         const char *backend, qkern_context *ref, qk_cf_result *res) {
    const int64_t m = s->m, n = s->n, k = s->k, ldx = k + 1, ldy = n + 1;
    const char *pn = qk_cf_pattern_name((qk_cf_pattern)pat);
    int native = 0;
    float *wf = malloc((size_t)(n * k) * sizeof(float));
    float *x = malloc((size_t)(m * ldx) * sizeof(float));
    float *bias = (seed & 1) ? malloc((size_t)n * sizeof(float)) : NULL;
    float *y0 = malloc((size_t)(m * ldy) * sizeof(float));
    qk_cf_qt w;
    qk_cf_buf yb;
    qk_cf_ref fr;
    memset(&w, 0, sizeof w);
    memset(&yb, 0, sizeof yb);
    memset(&fr, 0, sizeof fr);
    qkern_packed_weights *pr = NULL, *pt = NULL;
    size_t ybytes = (size_t)((m - 1) * ldy + n) * sizeof(float);
    if (!wf || !x || !y0 || ((seed & 1) && !bias) || !qk_cf_qt_alloc(&w, r->d, n, k) || !qk_cf_buf_alloc(&yb, ybytes)) {
        qk_fail(res, "out of memory");
        goto out;
    }
    qk_cf_fill(wf, n, k, k, pat == QK_CF_ZERO_ROWS || pat == QK_CF_CONSTANT ? (qk_cf_pattern)pat : QK_CF_UNIFORM, seed + 1);
    qk_cf_fill(x, m, k, ldx, (qk_cf_pattern)pat, seed + 2);
    if (bias) qk_cf_fill(bias, 1, n, n, QK_CF_UNIFORM, seed + 3);
    if (qkern_quantize(ref, wf, QKERN_F32, (size_t)(n * k) * 4, &w.t) != QKERN_OK) {
        qk_fail(res, "scalar quantize W: %s", qkern_last_error());
        goto out;
    }
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = r->act;
    o.bias = bias;
    if (qkern_pack_weights(ref, &w.t, &o, &pr) != QKERN_OK ||
        qkern_matmul(ref, pr, m, x, ldx, y0, ldy) != QKERN_OK) {
        qk_fail(res, "scalar matmul: %s", qkern_last_error());
        goto out;
    }
    qkern_status st = qkern_pack_weights(ctx, &w.t, &o, &pt);
    if (st != QKERN_OK) {
        qk_fail(res, "M=%lld N=%lld K=%lld: pack: %s: %s", (long long)m, (long long)n, (long long)k,
                qkern_status_name(st), qkern_last_error());
        goto out;
    }
    const char *pb = NULL;
    qkern_packed_weights_info(pt, NULL, NULL, &pb, NULL);
    native = strcmp(pb, backend) == 0;
    st = qkern_matmul(ctx, pt, m, x, ldx, yb.p, ldy);
    if (st != QKERN_OK) {
        qk_fail(res, "M=%lld N=%lld K=%lld %s: matmul: %s: %s", (long long)m, (long long)n, (long long)k, pn,
                qkern_status_name(st), qkern_last_error());
        goto out;
    }
    const unsigned char *yc = yb.p;
    int pad_ok = qk_cf_buf_guards_ok(&yb);
    for (int64_t i = 0; i + 1 < m && pad_ok; i++)
        for (size_t t = 0; t < sizeof(float); t++)
            if (yc[(size_t)(i * ldy + n) * 4 + t] != QK_CF_SENTINEL) pad_ok = 0;
    if (!pad_ok) {
        qk_fail(res, "M=%lld N=%lld K=%lld %s: wrote outside Y or into its ldy padding", (long long)m, (long long)n,
                (long long)k, pn);
        goto out;
    }
    if (qk_cf_reference(ref, &w.t, r->act, 0.0f, bias, m, x, ldx, &fr) != QKERN_OK) {
        qk_fail(res, "float64 reference: %s", qkern_last_error());
        goto out;
    }
    double worst;
    int64_t at, bad = qk_cf_check_bound(&fr, yb.p, ldy, &worst, &at);
    if (bad) {
        qk_fail(res, "M=%lld N=%lld K=%lld %s: %lld outputs off the float64 reference, worst %.3g× the bound at [%lld][%lld]"
                " (y=%.9g ref=%.9g)", (long long)m, (long long)n, (long long)k, pn, (long long)bad, worst,
                (long long)(at / n), (long long)(at % n), (double)((float *)yb.p)[(at / n) * ldy + at % n], fr.y[at]);
        goto out;
    }
    bad = qk_cf_check_pair(&fr, yb.p, y0, ldy, &worst, &at);
    if (bad)
        qk_fail(res, "M=%lld N=%lld K=%lld %s: %lld outputs off scalar, worst %.3g× the bound at [%lld][%lld]",
                (long long)m, (long long)n, (long long)k, pn, (long long)bad, worst, (long long)(at / n),
                (long long)(at % n));
out:
    qk_cf_ref_free(&fr);
    qkern_packed_weights_destroy(pr);
    qkern_packed_weights_destroy(pt);
    qk_cf_qt_free(&w);
    qk_cf_buf_free(&yb);
    free(wf);
    free(x);
    free(bias);
    free(y0);
    return native;
}

void qk_cf_run_row(const qk_cf_row *r, qkern_context *ctx, const char *backend, qkern_context *ref_ctx,
                   const qk_cf_opts *o, qk_cf_result *res) {
    memset(res, 0, sizeof *res);
    qk_shape shapes[128];
    int ns = qk_cf_shapes_of(r, o->quick, shapes, 128);
    int row = (int)(r - qk_cf_table);
    for (int si = 0; si < ns; si++)
        for (int pat = 0; pat <= QK_CF_RANDOM_BYTES; pat++) {
            if (!(r->patterns & QK_CF_PAT(pat))) continue;
            uint64_t seed = qk_case_seed(o->seed, row, si, pat);
            res->cases++;
            switch (r->op) {
            case QK_OP_QUANTIZE:
                qk_run_quant(r, &shapes[si], pat, seed, ctx, backend, ref_ctx, res);
                res->native += qk_is_native(ctx, backend, r->op, &r->d);
                break;
            case QK_OP_DEQUANTIZE:
                qk_run_dequant(r, &shapes[si], pat, seed, ctx, ref_ctx, res);
                res->native += qk_is_native(ctx, backend, r->op, &r->d);
                break;
            default: res->native += qk_run_matmul(r, &shapes[si], pat, seed, ctx, backend, ref_ctx, res); break;
            }
        }
    res->v = res->failed ? QK_CF_FAIL : (res->native == 0 && strcmp(backend, "scalar") != 0) ? QK_CF_FALLBACK : QK_CF_PASS;
}
