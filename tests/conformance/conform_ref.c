/* Float64 reference of docs/matmul.md, data patterns, guarded buffers (conform_ref.h). */
#include "conformance/conform_ref.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/format_fp8.h"
#include "kernels/format_ggml.h"
#include "kernels/format_half.h"

/* ---- data ----------------------------------------------------------------------- */

typedef struct qk_cf_rng { uint64_t s; } qk_cf_rng;

static void qk_cf_seed(qk_cf_rng *r, uint64_t seed) {
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (!r->s) r->s = 1;
}

static uint64_t qk_cf_u64(qk_cf_rng *r) { /* xorshift64*: the same stream on every platform */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

static double qk_cf_unit(qk_cf_rng *r) { return (double)(qk_cf_u64(r) >> 11) * 0x1p-53; }

static float qk_cf_normal(qk_cf_rng *r) {
    double u1 = qk_cf_unit(r) + 0x1p-54, u2 = qk_cf_unit(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

const char *qk_cf_pattern_name(qk_cf_pattern p) {
    static const char *const n[] = {"uniform", "outliers", "zero-rows", "constant", "special"};
    return p < QK_CF_PATTERN_COUNT ? n[p] : "?";
}

void qk_cf_fill(float *x, int64_t rows, int64_t cols, int64_t ld, qk_cf_pattern p, uint64_t seed) {
    static const float special[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 1e-40f, -0.0f, 0.0f, 65504.0f, 500.0f};
    qk_cf_rng r;
    qk_cf_seed(&r, seed);
    for (int64_t i = 0; i < rows; i++) {
        float *row = x + i * ld;
        for (int64_t j = 0; j < cols; j++) {
            float v;
            switch (p) {
            case QK_CF_OUTLIERS:
                v = qk_cf_normal(&r);
                if ((qk_cf_u64(&r) & 31) == 0) v *= 20.0f;
                break;
            case QK_CF_ZERO_ROWS: v = i % 3 == 1 ? 0.0f : (float)(2.0 * qk_cf_unit(&r) - 1.0); break;
            case QK_CF_CONSTANT: v = 0.75f; break;
            case QK_CF_SPECIAL: {
                uint64_t u = qk_cf_u64(&r);
                v = (u & 7) == 0 ? special[(u >> 8) % (sizeof special / sizeof special[0])]
                                 : (float)(2.0 * qk_cf_unit(&r) - 1.0);
                break;
            }
            default: v = (float)(2.0 * qk_cf_unit(&r) - 1.0); break;
            }
            row[j] = v;
        }
        for (int64_t j = cols; j < ld && i + 1 < rows; j++) row[j] = NAN;
    }
}

/* ---- guarded buffers -------------------------------------------------------------- */

int qk_cf_buf_alloc(qk_cf_buf *b, size_t size) {
    b->size = size;
    b->base = malloc(size + 2 * QK_CF_GUARD);
    b->p = NULL;
    if (!b->base) return 0;
    memset(b->base, QK_CF_SENTINEL, size + 2 * QK_CF_GUARD);
    b->p = b->base + QK_CF_GUARD;
    return 1;
}

int qk_cf_buf_guards_ok(const qk_cf_buf *b) {
    if (!b->base) return 1;
    for (size_t i = 0; i < QK_CF_GUARD; i++)
        if (b->base[i] != QK_CF_SENTINEL || b->base[QK_CF_GUARD + b->size + i] != QK_CF_SENTINEL) return 0;
    return 1;
}

void qk_cf_buf_free(qk_cf_buf *b) {
    free(b->base);
    b->base = NULL;
    b->p = NULL;
}

int qk_cf_qt_alloc(qk_cf_qt *q, qkern_quant_desc desc, int64_t rows, int64_t cols) {
    memset(q, 0, sizeof *q);
    size_t db, sb, zb;
    if (qkern_qtensor_sizes(&desc, rows, cols, &db, &sb, &zb) != QKERN_OK) return 0;
    if (!qk_cf_buf_alloc(&q->data, db)) return 0;
    if (sb && !qk_cf_buf_alloc(&q->scales, sb)) return 0;
    if (zb && !qk_cf_buf_alloc(&q->zeros, zb)) return 0;
    q->t.desc = desc;
    q->t.rows = rows;
    q->t.cols = cols;
    q->t.data = q->data.p;
    q->t.data_bytes = db;
    q->t.scales = q->scales.p;
    q->t.scales_bytes = sb;
    q->t.zeros = q->zeros.p;
    q->t.zeros_bytes = zb;
    return 1;
}

int qk_cf_qt_guards_ok(const qk_cf_qt *q) {
    return qk_cf_buf_guards_ok(&q->data) && qk_cf_buf_guards_ok(&q->scales) && qk_cf_buf_guards_ok(&q->zeros);
}

void qk_cf_qt_free(qk_cf_qt *q) {
    qk_cf_buf_free(&q->data);
    qk_cf_buf_free(&q->scales);
    qk_cf_buf_free(&q->zeros);
}

/* ---- reference -------------------------------------------------------------------- */

void qk_cf_ref_free(qk_cf_ref *r) {
    free(r->y);
    free(r->mag);
    r->y = r->mag = NULL;
}

/* Quantises the M × K activations (contiguous) with desc through the public API. */
static qkern_status qk_cf_quant_act(qkern_context *ctx, qkern_quant_desc desc, const float *xc, int64_t m, int64_t k,
                                    const float *static_scales, qk_cf_qt *q) {
    if (!qk_cf_qt_alloc(q, desc, m, k)) return QKERN_OUT_OF_MEMORY;
    if (static_scales) memcpy(q->t.scales, static_scales, (size_t)m * sizeof(float));
    return qkern_quantize(ctx, xc, QKERN_F32, (size_t)(m * k) * sizeof(float), &q->t);
}

/* xe[m][k] (double): the activations the mode actually multiplies, read back exactly from
 * the quantised bytes; corr/cmag: the Q4_1 × Q8_1 min-term correction per (m, n). */
static qkern_status qk_cf_act(qkern_context *ctx, const qkern_qtensor *w, qkern_act_mode act, float thr, int64_t m,
                              const float *xc, double *xe, double *corr, double *cmag, int64_t *n_out) {
    const int64_t k = w->cols, n = w->rows;
    qk_cf_qt q;
    memset(&q, 0, sizeof q);
    qkern_status s = QKERN_OK;
    *n_out = 0;
    switch (act) {
    case QKERN_ACT_FLOAT:
        for (int64_t i = 0; i < m * k; i++) xe[i] = xc[i];
        return QKERN_OK;
    case QKERN_ACT_I8_DYNAMIC:
    case QKERN_ACT_LLM_INT8: {
        unsigned char *mask = calloc((size_t)k, 1);
        float *xz = malloc((size_t)(m * k) * sizeof(float));
        if (!mask || !xz) { free(mask); free(xz); return QKERN_OUT_OF_MEMORY; }
        memcpy(xz, xc, (size_t)(m * k) * sizeof(float));
        if (act == QKERN_ACT_LLM_INT8) {
            for (int64_t i = 0; i < m * k; i++)
                if (fabsf(xc[i]) > thr) mask[i % k] = 1;
            for (int64_t i = 0; i < m * k; i++)
                if (mask[i % k]) xz[i] = 0.0f;
            for (int64_t j = 0; j < k; j++) *n_out += mask[j];
        }
        s = qk_cf_quant_act(ctx, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, 0}, xz, m, k, NULL, &q);
        if (s == QKERN_OK) {
            const int8_t *qx = q.t.data;
            const float *sx = q.t.scales;
            for (int64_t i = 0; i < m * k; i++)
                xe[i] = mask[i % k] ? (double)xc[i] : (double)qx[i] * (double)sx[i / k];
        }
        free(mask);
        free(xz);
        break;
    }
    case QKERN_ACT_Q8_0: {
        s = qk_cf_quant_act(ctx, (qkern_quant_desc){QKERN_Q8_0, 32, 0}, xc, m, k, NULL, &q);
        if (s != QKERN_OK) break;
        const qk_block_q8_0 *b = q.t.data;
        for (int64_t i = 0; i < m * k; i++) xe[i] = (double)qk_f16_to_f32(b[i / 32].d) * b[i / 32].qs[i % 32];
        break;
    }
    case QKERN_ACT_Q8_1: {
        s = qk_cf_quant_act(ctx, (qkern_quant_desc){QKERN_Q8_1, 32, 0}, xc, m, k, NULL, &q);
        if (s != QKERN_OK) break;
        const qk_block_q8_1 *b = q.t.data;
        for (int64_t i = 0; i < m * k; i++) xe[i] = (double)qk_f16_to_f32(b[i / 32].d) * b[i / 32].qs[i % 32];
        if (w->desc.format != QKERN_Q4_1) break;
        /* ggml adds m_w·s_x with the stored s = f16(d·Σq); the dequantised product has
         * m_w·d_x·Σq. The difference is part of the mode. */
        const qk_block_q4_1 *wb = w->data;
        const int64_t nb = k / 32;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double c = 0.0, cm = 0.0;
                for (int64_t bb = 0; bb < nb; bb++) {
                    const qk_block_q8_1 *a = &b[i * nb + bb];
                    int32_t sq = 0;
                    for (int t = 0; t < 32; t++) sq += a->qs[t];
                    double mw = qk_f16_to_f32(wb[j * nb + bb].m);
                    double sx = qk_f16_to_f32(a->s);
                    c += mw * (sx - (double)qk_f16_to_f32(a->d) * sq);
                    cm += fabs(mw * sx);
                }
                corr[i * n + j] = c;
                cmag[i * n + j] = cm;
            }
        break;
    }
    case QKERN_ACT_FP8_E4M3:
    case QKERN_ACT_FP8_E5M2: {
        qkern_format af = act == QKERN_ACT_FP8_E5M2 ? QKERN_FP8_E5M2 : QKERN_FP8_E4M3;
        float *sx = malloc((size_t)m * sizeof(float));
        if (!sx) return QKERN_OUT_OF_MEMORY;
        for (int64_t i = 0; i < m; i++)
            sx[i] = qk_fp8_scale_for_amax(qk_fp8_amax_finite(xc + i * k, (size_t)k), qk_fp8_max(af));
        s = qk_cf_quant_act(ctx, (qkern_quant_desc){af, QKERN_GROUP_ROW, QKERN_QUANT_STATIC_SCALES}, xc, m, k, sx, &q);
        if (s == QKERN_OK) {
            const uint8_t *c = q.t.data;
            for (int64_t i = 0; i < m * k; i++) xe[i] = (double)qk_fp8_to_f32(c[i], af) * (double)sx[i / k];
        }
        free(sx);
        break;
    }
    }
    qk_cf_qt_free(&q);
    return s;
}

qkern_status qk_cf_reference(qkern_context *ctx, const qkern_qtensor *w, qkern_act_mode act, float threshold,
                             const float *bias, int64_t m, const float *x, int64_t ldx, qk_cf_ref *out) {
    memset(out, 0, sizeof *out);
    const int64_t n = w->rows, k = w->cols;
    if (threshold == 0.0f) threshold = 6.0f;
    float *wd = malloc((size_t)(n * k) * sizeof(float));
    float *xc = malloc((size_t)(m * k) * sizeof(float));
    double *xe = malloc((size_t)(m * k) * sizeof(double));
    double *corr = calloc((size_t)(m * n), sizeof(double));
    double *cmag = calloc((size_t)(m * n), sizeof(double));
    out->y = malloc((size_t)(m * n) * sizeof(double));
    out->mag = malloc((size_t)(m * n) * sizeof(double));
    out->m = m;
    out->n = n;
    qkern_status s = QKERN_OUT_OF_MEMORY;
    if (!wd || !xc || !xe || !corr || !cmag || !out->y || !out->mag) goto done;
    for (int64_t i = 0; i < m; i++) memcpy(xc + i * k, x + i * ldx, (size_t)k * sizeof(float));
    s = qkern_dequantize(ctx, w, wd, QKERN_F32, (size_t)(n * k) * sizeof(float));
    if (s != QKERN_OK) goto done;
    s = qk_cf_act(ctx, w, act, threshold, m, xc, xe, corr, cmag, &out->n_outliers);
    if (s != QKERN_OK) goto done;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0, mag = 0.0;
            const double *xr = xe + i * k;
            const float *wr = wd + j * k;
            for (int64_t t = 0; t < k; t++) {
                double p = xr[t] * (double)wr[t];
                acc += p;
                mag += fabs(p);
            }
            acc += corr[i * n + j];
            mag += cmag[i * n + j];
            if (bias) {
                acc += bias[j];
                mag += fabs((double)bias[j]);
            }
            out->y[i * n + j] = acc;
            out->mag[i * n + j] = mag;
        }
done:
    free(wd);
    free(xc);
    free(xe);
    free(corr);
    free(cmag);
    if (s != QKERN_OK) qk_cf_ref_free(out);
    return s;
}

static int64_t qk_cf_check(const qk_cf_ref *ref, const float *y, const double *yd, const float *y0, int64_t ldy,
                           double *worst, int64_t *at) {
    int64_t bad = 0;
    *worst = 0.0;
    *at = -1;
    for (int64_t i = 0; i < ref->m; i++)
        for (int64_t j = 0; j < ref->n; j++) {
            double r = y0 ? (double)y0[i * ldy + j] : yd[i * ref->n + j];
            double v = y[i * ldy + j];
            double bound = QK_CF_REL * ref->mag[i * ref->n + j] + QK_CF_ABS;
            double d = fabs(v - r);
            double ratio = d / bound;
            int ok = d <= bound || (isnan(v) && isnan(r)) || (isinf(v) && v == r);
            if (!ok) {
                bad++;
                if (!(ratio <= *worst)) { *worst = isnan(ratio) ? INFINITY : ratio; *at = i * ref->n + j; }
            } else if (ratio > *worst) {
                *worst = ratio;
                if (*at < 0 || !bad) *at = i * ref->n + j;
            }
        }
    return bad;
}

int64_t qk_cf_check_bound(const qk_cf_ref *ref, const float *y, int64_t ldy, double *worst, int64_t *at) {
    return qk_cf_check(ref, y, ref->y, NULL, ldy, worst, at);
}

int64_t qk_cf_check_pair(const qk_cf_ref *ref, const float *y, const float *y0, int64_t ldy, double *worst,
                         int64_t *at) {
    return qk_cf_check(ref, y, NULL, y0, ldy, worst, at);
}
