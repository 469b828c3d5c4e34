/* The NEON backend's matmul entries: which (weight format, activation mode) pairs it runs,
 * packing into the panel layout of neon.h, activation quantisation (byte-identical to the
 * scalar rules of docs/matmul.md) and the choice of kernel per tile. Plain armv8-a: the
 * ISA-specific inner loops live in gemm_int_{neon,dotprod,i8mm}.c and gemm_f32_neon.c. */
#include <arm_neon.h>
#include <float.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backends/neon/neon.h"
#include "kernels/format_fp8.h"
#include "kernels/format_ggml.h"
#include "kernels/format_half.h"
#include "kernels/format_int.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"
#include "qkern/context.h"

/* --- which pairs, and their names ------------------------------------------------- */

static int qk_neon_pair_supported(const qkern_quant_desc *d, qkern_act_mode act) {
    qkern_format f = d->format;
    switch (act) {
    case QKERN_ACT_FLOAT:
        return f == QKERN_I8 || f == QKERN_I8_ASYM || f == QKERN_I4 || f == QKERN_Q8_0 || f == QKERN_Q4_0 ||
               f == QKERN_Q4_1 || f == QKERN_Q8_1 || f == QKERN_NF4 || f == QKERN_FP8_E4M3 || f == QKERN_FP8_E5M2;
    case QKERN_ACT_I8_DYNAMIC: return f == QKERN_I8 || f == QKERN_I4;
    case QKERN_ACT_LLM_INT8: return f == QKERN_I8 && (d->group == QKERN_GROUP_ROW || d->group == QKERN_GROUP_DEFAULT);
    case QKERN_ACT_Q8_0: return f == QKERN_Q4_0 || f == QKERN_Q8_0;
    case QKERN_ACT_Q8_1: return f == QKERN_Q4_1;
    case QKERN_ACT_FP8_E4M3:
    case QKERN_ACT_FP8_E5M2: return f == QKERN_FP8_E4M3 || f == QKERN_FP8_E5M2;
    }
    return 0;
}

static qk_neon_isa qk_neon_isa_for(uint64_t cpu) {
    if ((cpu & (QKERN_CPU_I8MM | QKERN_CPU_DOTPROD)) == (QKERN_CPU_I8MM | QKERN_CPU_DOTPROD)) return QK_NEON_I8MM;
    if (cpu & QKERN_CPU_DOTPROD) return QK_NEON_DOTPROD;
    return QK_NEON_PLAIN;
}

static const char *qk_neon_act_tag(qkern_act_mode a) {
    switch (a) {
    case QKERN_ACT_FLOAT: return "f32";
    case QKERN_ACT_I8_DYNAMIC: return "i8";
    case QKERN_ACT_LLM_INT8: return "llm_int8";
    case QKERN_ACT_Q8_0: return "q8_0";
    case QKERN_ACT_Q8_1: return "q8_1";
    case QKERN_ACT_FP8_E4M3: return "fp8_e4m3";
    case QKERN_ACT_FP8_E5M2: return "fp8_e5m2";
    default: return "?";
    }
}

static const char *qk_neon_w_tag(const qkern_quant_desc *d) {
    switch (d->format) {
    case QKERN_I8: return "i8";
    case QKERN_I8_ASYM: return "i8_asym";
    case QKERN_I4: return (d->flags & QKERN_QUANT_ASYMMETRIC) ? "i4_asym" : "i4";
    case QKERN_Q8_0: return "q8_0";
    case QKERN_Q4_0: return "q4_0";
    case QKERN_Q4_1: return "q4_1";
    case QKERN_Q8_1: return "q8_1";
    case QKERN_NF4: return "nf4";
    case QKERN_FP8_E4M3: return "fp8_e4m3";
    case QKERN_FP8_E5M2: return "fp8_e5m2";
    default: return "?";
    }
}

/* "qk_gemm_<act>_<w>_<tile>__<isa>" into buf; gemv = the M = 1 form. NULL if unsupported. */
static const char *qk_neon_name(const qkern_quant_desc *d, qkern_act_mode act, qk_neon_isa isa, int gemv, char *buf,
                                size_t size) {
    if (!qk_neon_pair_supported(d, act)) return NULL;
    int int_act = act == QKERN_ACT_I8_DYNAMIC || act == QKERN_ACT_Q8_0 || act == QKERN_ACT_Q8_1 ||
                  act == QKERN_ACT_LLM_INT8;
    const char *isa_tag = "neon", *tile = gemv ? "1x8c4" : "4x8c4";
    if (int_act && isa == QK_NEON_DOTPROD) isa_tag = "dotprod";
    if (int_act && isa == QK_NEON_I8MM) {
        isa_tag = gemv ? "dotprod" : "i8mm"; /* one row: smmla would waste half its rows */
        if (!gemv) tile = "4x8c8";
    }
    snprintf(buf, size, "qk_%s_%s_%s_%s__%s", gemv ? "gemv" : "gemm", qk_neon_act_tag(act), qk_neon_w_tag(d), tile,
             isa_tag);
    return buf;
}

/* Names must outlive the call (describe keeps pointers), so they are interned here:
 * every (format, flags, act, isa) maps to one slot, written once under a lock. */
#define QK_NEON_NAME_SLOTS (16 * 2 * 8 * 3)
static char qk_neon_names[QK_NEON_NAME_SLOTS][64];
static pthread_mutex_t qk_neon_names_lock = PTHREAD_MUTEX_INITIALIZER;

static int qk_neon_format_slot(qkern_format f) {
    static const qkern_format order[] = {QKERN_I8,   QKERN_I8_ASYM, QKERN_I4,       QKERN_Q8_0,    QKERN_Q4_0,
                                         QKERN_Q4_1, QKERN_Q8_1,    QKERN_NF4,      QKERN_FP8_E4M3, QKERN_FP8_E5M2};
    for (int i = 0; i < (int)(sizeof order / sizeof order[0]); i++)
        if (order[i] == f) return i;
    return -1;
}

const char *qk_neon_matmul_kernel_name(const qkern_quant_desc *d, qkern_act_mode act, uint64_t cpu, char *buf,
                                       size_t size) {
    qk_neon_isa isa = qk_neon_isa_for(cpu);
    if (buf) return qk_neon_name(d, act, isa, 0, buf, size);
    int fs = qk_neon_format_slot(d->format);
    if (fs < 0 || (int)act < 0 || (int)act > 7 || !qk_neon_pair_supported(d, act)) return NULL;
    int slot = ((fs * 2 + ((d->flags & QKERN_QUANT_ASYMMETRIC) ? 1 : 0)) * 8 + (int)act) * 3 + (int)isa;
    pthread_mutex_lock(&qk_neon_names_lock);
    if (!qk_neon_names[slot][0]) qk_neon_name(d, act, isa, 0, qk_neon_names[slot], sizeof qk_neon_names[slot]);
    pthread_mutex_unlock(&qk_neon_names_lock);
    return qk_neon_names[slot];
}

/* --- packing -------------------------------------------------------------------- */

/* The stored value of w[n][k] as the kernels read it (see neon.h). */
static int qk_neon_w_value(const qkern_qtensor *w, const qk_layout *L, int64_t n, int64_t k) {
    const unsigned char *row = (const unsigned char *)w->data + (size_t)n * L->row_bytes;
    switch (w->desc.format) {
    case QKERN_I8:
    case QKERN_I8_ASYM: return ((const int8_t *)row)[k];
    case QKERN_FP8_E4M3:
    case QKERN_FP8_E5M2: return row[k];
    case QKERN_I4: {
        int nib = (k & 1) ? row[k / 2] >> 4 : row[k / 2] & 15;
        return (w->desc.flags & QKERN_QUANT_ASYMMETRIC) ? nib : nib - 8;
    }
    case QKERN_NF4: return (k & 1) ? row[k / 2] & 15 : row[k / 2] >> 4; /* first element high */
    case QKERN_Q8_0: return (int8_t)row[(size_t)(k / 32) * sizeof(qk_block_q8_0) + offsetof(qk_block_q8_0, qs) + (size_t)(k % 32)];
    case QKERN_Q8_1: return (int8_t)row[(size_t)(k / 32) * sizeof(qk_block_q8_1) + offsetof(qk_block_q8_1, qs) + (size_t)(k % 32)];
    case QKERN_Q4_0:
    case QKERN_Q4_1: {
        const uint8_t *qs = w->desc.format == QKERN_Q4_0
                                ? row + (size_t)(k / 32) * sizeof(qk_block_q4_0) + offsetof(qk_block_q4_0, qs)
                                : row + (size_t)(k / 32) * sizeof(qk_block_q4_1) + offsetof(qk_block_q4_1, qs);
        int j = (int)(k % 32);
        int nib = j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
        return w->desc.format == QKERN_Q4_0 ? nib - 8 : nib;
    }
    default: return 0;
    }
}

/* Parameter p (0 scale, 1 zero / min) of column n, group G, as f32 and its raw f16 bits.
 * Scale and zero buffers need not be aligned (a checkpoint's scales may sit anywhere). */
static float qk_neon_w_param(const qkern_qtensor *w, const qk_layout *L, int64_t n, int64_t G, int p, uint16_t *f16) {
    const unsigned char *row = (const unsigned char *)w->data + (size_t)n * L->row_bytes;
    const size_t idx = L->group == 0 ? 0 : (size_t)n * (size_t)L->groups_per_row + (size_t)G;
    const unsigned char *sc = w->scales, *zp = w->zeros;
    uint16_t h = 0;
    float v = 0.0f;
    int32_t z32;
    size_t boff; /* the f16 field of a ggml block */
    switch (w->desc.format) {
    case QKERN_I8: case QKERN_NF4: case QKERN_FP8_E4M3: case QKERN_FP8_E5M2:
        memcpy(&v, sc + 4 * idx, 4);
        break;
    case QKERN_I8_ASYM:
        if (p == 0) {
            memcpy(&v, sc + 4 * idx, 4);
        } else {
            memcpy(&z32, zp + 4 * idx, 4);
            v = (float)qk_i8_asym_zero(z32); /* clamped, as dequantise does */
        }
        break;
    case QKERN_I4:
        if (p == 0) memcpy(&h, sc + 2 * idx, 2);
        else h = qk_f32_to_f16((float)qk_i4_zero(zp[idx]));
        v = qk_f16_to_f32(h);
        break;
    case QKERN_Q8_0: case QKERN_Q8_1: case QKERN_Q4_0: case QKERN_Q4_1:
        boff = w->desc.format == QKERN_Q8_0 ? sizeof(qk_block_q8_0) * (size_t)G + offsetof(qk_block_q8_0, d)
             : w->desc.format == QKERN_Q8_1 ? sizeof(qk_block_q8_1) * (size_t)G + offsetof(qk_block_q8_1, d)
             : w->desc.format == QKERN_Q4_0 ? sizeof(qk_block_q4_0) * (size_t)G + offsetof(qk_block_q4_0, d)
             : sizeof(qk_block_q4_1) * (size_t)G + (p == 0 ? offsetof(qk_block_q4_1, d) : offsetof(qk_block_q4_1, m));
        memcpy(&h, row + boff, 2);
        v = qk_f16_to_f32(h);
        break;
    default: break;
    }
    *f16 = h;
    return v;
}

static void qk_neon_free(void *data, void *state) {
    (void)state;
    free(data);
}

static size_t qk_round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* Fills the header of a pack for w × act (shape and layout only; no data yet). */
static qkern_status qk_neon_plan(const qkern_qtensor *w, qkern_act_mode act, uint64_t cpu, qk_neon_pack *h,
                                 qk_layout *L) {
    qkern_status s = qk_check_qtensor(w, "neon pack", L);
    if (s != QKERN_OK) return s;
    memset(h, 0, sizeof *h);
    const qkern_format f = w->desc.format;
    const int asym = (w->desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    h->isa = qk_neon_isa_for(cpu);
    h->format = f;
    h->act = act;
    h->n = w->rows;
    h->k = w->cols;
    h->g = L->group == 0 ? L->cols : L->group;
    h->groups = L->group == 0 ? 1 : L->groups_per_row;
    h->has_zero = (f == QKERN_I4 && asym) || f == QKERN_I8_ASYM;
    h->has_min = f == QKERN_Q4_1;
    h->nparams = 1 + (h->has_zero || h->has_min);
    h->param_f16 = f == QKERN_I4 || f == QKERN_Q8_0 || f == QKERN_Q8_1 || f == QKERN_Q4_0 || f == QKERN_Q4_1;
    h->decode = f == QKERN_NF4 ? QK_DEC_NF4 : f == QKERN_FP8_E4M3 ? QK_DEC_E4M3 : f == QKERN_FP8_E5M2 ? QK_DEC_E5M2 : QK_DEC_INT;
    int four_bit = f == QKERN_Q4_0 || f == QKERN_Q4_1 || f == QKERN_I4 || f == QKERN_NF4;
    if (four_bit && h->g % 32 == 0) {
        h->panel = (f == QKERN_Q4_0 || (f == QKERN_I4 && !asym)) ? QK_PANEL_S4 : QK_PANEL_U4;
        h->gp = h->g;
        h->data_bytes_group = (size_t)h->gp * QK_NEON_NR / 2;
    } else {
        h->panel = QK_PANEL_I8;
        h->gp = (int64_t)qk_round_up((size_t)h->g, 16);
        h->data_bytes_group = (size_t)h->gp * QK_NEON_NR;
    }
    h->group_bytes = h->data_bytes_group + (size_t)h->nparams * QK_NEON_NR * (h->param_f16 ? 2 : 4);
    h->panels = (h->n + QK_NEON_NR - 1) / QK_NEON_NR;
    size_t qbytes = (size_t)h->groups * (size_t)h->gp;
    if (act == QKERN_ACT_FLOAT) {
        h->float_pad = h->gp != h->g;
        h->act_q_bytes = h->float_pad ? qbytes * 4 : 0;
        h->act_row_bytes = h->act_q_bytes;
    } else if (act == QKERN_ACT_FP8_E4M3 || act == QKERN_ACT_FP8_E5M2) {
        h->act_q_bytes = qbytes * 4;                       /* decoded f32(qx), padded */
        h->act_row_bytes = qk_round_up(h->act_q_bytes + 4, 16); /* + sx */
    } else {
        h->act_q_bytes = qk_round_up(qbytes, 16);
        h->act_row_bytes = h->act_q_bytes + qk_round_up((size_t)h->groups * 8, 16);
    }
    /* LLM.int8: the front end's outlier mask comes first in scratch (backend.h). */
    h->act_offset = act == QKERN_ACT_LLM_INT8 ? qk_llm_int8_header_bytes(h->k) : 0;
    return QKERN_OK;
}

static qkern_status qk_neon_pack_weights(void *state, const qkern_qtensor *w, const qkern_matmul_options *opts, qk_packed *p) {
    (void)state;
    qkern_act_mode act = opts ? opts->act : p->act;
    if (!qk_neon_pair_supported(&w->desc, act))
        return qk_error(QKERN_UNSUPPORTED, "neon matmul: %s weights with %s activations are not implemented",
                        qk_format_name(w->desc.format), qk_neon_act_tag(act));
    qk_neon_pack hdr;
    qk_layout L;
    qkern_status s = qk_neon_plan(w, act, qkern_cpu_features(), &hdr, &L);
    if (s != QKERN_OK) return s;
    size_t head = qk_round_up(sizeof hdr, 64), total;
    if (!qk_mul_size(hdr.panel_bytes = (size_t)hdr.groups * hdr.group_bytes, (size_t)hdr.panels, &total) ||
        !qk_add_size(total, head + 64, &total))
        return qk_error(QKERN_INVALID_ARGUMENT, "neon pack: N=%lld K=%lld overflows the packed size", (long long)w->rows,
                        (long long)w->cols);
    unsigned char *mem = calloc(1, total);
    if (!mem) return qk_error(QKERN_OUT_OF_MEMORY, "neon pack: no memory for %zu bytes of packed weights", total);
    qk_neon_pack *h = (qk_neon_pack *)(void *)mem;
    *h = hdr;
    h->panels_data = (unsigned char *)(((uintptr_t)mem + head + 63) & ~(uintptr_t)63);

    const int four = h->panel != QK_PANEL_I8;
    for (int64_t pn = 0; pn < h->panels; pn++) {
        for (int64_t G = 0; G < h->groups; G++) {
            unsigned char *gb = h->panels_data + (size_t)pn * h->panel_bytes + (size_t)G * h->group_bytes;
            for (int col = 0; col < QK_NEON_NR; col++) {
                int64_t n = pn * QK_NEON_NR + col;
                if (n >= h->n) break; /* padded columns stay 0, with scale 0 */
                const int j = col / 4, cq = col % 4;
                for (int64_t kk = 0; kk < h->g; kk++) {
                    int v = qk_neon_w_value(w, &L, n, G * h->g + kk);
                    int64_t step = kk / 16, c = (kk % 16) / 4, t = kk % 4;
                    size_t byte = (size_t)(2 * c + j) * 16 + (size_t)cq * 4 + (size_t)t;
                    if (!four) {
                        gb[(size_t)step * 128 + byte] = (unsigned char)v;
                    } else {
                        unsigned char *dst = gb + (size_t)(step / 2) * 128 + byte;
                        *dst |= (unsigned char)((v & 15) << ((step & 1) ? 4 : 0));
                    }
                }
                for (int pi = 0; pi < h->nparams; pi++) {
                    uint16_t f16;
                    float v = qk_neon_w_param(w, &L, n, G, pi, &f16);
                    unsigned char *prm = gb + h->data_bytes_group + (size_t)pi * QK_NEON_NR * (h->param_f16 ? 2 : 4);
                    if (h->param_f16) memcpy(prm + 2 * col, &f16, 2);
                    else memcpy(prm + 4 * col, &v, 4);
                }
            }
        }
    }
    p->data = mem;
    p->data_bytes = total;
    p->free_data = qk_neon_free;
    char name[sizeof p->kernel];
    qk_neon_name(&w->desc, act, h->isa, 0, name, sizeof name);
    snprintf(p->kernel, sizeof p->kernel, "%s", name);
    return QKERN_OK;
}

/* --- activations ------------------------------------------------------------------ */

static const qk_neon_pack *qk_neon_hdr(const qk_packed *p) { return (const qk_neon_pack *)p->data; }

static size_t qk_neon_act_scratch_bytes(const qk_packed *p, int64_t m) {
    const qk_neon_pack *h = qk_neon_hdr(p);
    size_t total;
    if (m < 0 || !qk_mul_size((size_t)m, h->act_row_bytes, &total) || !qk_add_size(total, h->act_offset, &total))
        return SIZE_MAX;
    return total;
}

/* qx = clamp(RNE(x·ix), −127, 127) for n elements (n ≤ gp), zero-padded to gp; returns Σqx. */
static int32_t qk_neon_quant_i8_group(const float *x, int64_t n, int64_t gp, float ix, int8_t *q) {
    int32x4_t sum = vdupq_n_s32(0);
    const int32x4_t lo = vdupq_n_s32(-127), hi = vdupq_n_s32(127);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        int32x4_t v = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + i), ix));
        v = vminq_s32(vmaxq_s32(v, lo), hi);
        sum = vaddq_s32(sum, v);
        int16x4_t v16 = vmovn_s32(v);
        int8x8_t v8 = vmovn_s16(vcombine_s16(v16, v16));
        vst1_lane_s32((int32_t *)(void *)(q + i), vreinterpret_s32_s8(v8), 0);
    }
    int32_t s = vaddvq_s32(sum);
    for (; i < n; i++) {
        int32_t v = vcvtns_s32_f32(x[i] * ix);
        v = v < -127 ? -127 : v > 127 ? 127 : v;
        q[i] = (int8_t)v;
        s += v;
    }
    for (; i < gp; i++) q[i] = 0;
    return s;
}

static qkern_status qk_neon_prepare_act(void *state, const qk_packed *p, const float *x, int64_t ldx, int64_t m0,
                                        int64_t m1, void *scratch) {
    (void)state;
    const qk_neon_pack *h = qk_neon_hdr(p);
    for (int64_t m = m0; m < m1; m++) {
        const float *xr = x + m * ldx;
        unsigned char *row = (unsigned char *)scratch + h->act_offset + (size_t)m * h->act_row_bytes;
        float *prm = (float *)(void *)(row + h->act_q_bytes);
        switch (h->act) {
        case QKERN_ACT_FLOAT:
            if (h->float_pad) {
                float *dst = (float *)(void *)row;
                for (int64_t G = 0; G < h->groups; G++) {
                    memcpy(dst + G * h->gp, xr + G * h->g, (size_t)h->g * 4);
                    memset(dst + G * h->gp + h->g, 0, (size_t)(h->gp - h->g) * 4);
                }
            }
            break;
        case QKERN_ACT_I8_DYNAMIC: {
            float sx, ix;
            qk_i8_params(qk_neon_amax_finite(xr, h->k), &sx, &ix); /* kernels/format_int.h's I8 rule */
            for (int64_t G = 0; G < h->groups; G++) {
                int32_t sum = qk_neon_quant_i8_group(xr + G * h->g, h->g, h->gp, ix, (int8_t *)row + G * h->gp);
                prm[2 * G] = sx;
                memcpy(&prm[2 * G + 1], &sum, 4);
            }
            break;
        }
        case QKERN_ACT_LLM_INT8: {
            /* The I8 rule over the inlier columns; outlier columns get qx = 0 (their f32 part
             * is added in compute). One group: LLM.int8 weights are ROW-quantised. */
            const uint8_t *mask = qk_llm_int8_mask(scratch);
            qk_llm_int8_header lh;
            memcpy(&lh, scratch, sizeof lh);
            float amax = 0.0f, sx, ix;
            if (lh.n_outliers) {
                for (int64_t i = 0; i < h->k; i++) {
                    const float a = xr[i] < 0.0f ? -xr[i] : xr[i];
                    if (!mask[i] && a <= FLT_MAX && a > amax) amax = a;
                }
            } else {
                amax = qk_neon_amax_finite(xr, h->k);
            }
            qk_i8_params(amax, &sx, &ix);
            qk_neon_quant_i8_group(xr, h->k, h->gp, ix, (int8_t *)row);
            if (lh.n_outliers)
                for (int64_t i = 0; i < h->k; i++)
                    if (mask[i]) row[i] = 0;
            prm[0] = sx;
            prm[1] = 0.0f;
            break;
        }
        case QKERN_ACT_Q8_0:
        case QKERN_ACT_Q8_1:
            for (int64_t G = 0; G < h->groups; G++) {
                /* the bytes of qkern_quantize's Q8_0 / Q8_1 (ggml's *_ref rules) */
                uint16_t d16;
                float d;
                int32_t sum;
                qk_neon_q8_block(xr + G * 32, (int8_t *)row + G * 32, &d16, &d, &sum);
                prm[2 * G] = qk_f16_to_f32(d16);
                if (h->act == QKERN_ACT_Q8_1) {
                    const float sv = (float)sum * d;
                    prm[2 * G + 1] = qk_f16_to_f32(sv != sv ? (uint16_t)0xFE00u : qk_f32_to_f16(sv));
                }
            }
            break;
        case QKERN_ACT_FP8_E4M3:
        case QKERN_ACT_FP8_E5M2: {
            qkern_format af = h->act == QKERN_ACT_FP8_E4M3 ? QKERN_FP8_E4M3 : QKERN_FP8_E5M2;
            float sx = qk_fp8_scale_for_amax(qk_fp8_amax_finite(xr, (size_t)h->k), qk_fp8_max(af));
            float inv = 1.0f / sx;
            float *dst = (float *)(void *)row;
            qk_neon_fp8_round_row(xr, h->k, inv, af, dst);
            for (int64_t i = h->k; i < h->gp; i++) dst[i] = 0.0f;
            dst[h->gp] = sx;
            break;
        }
        default:
            return qk_error(QKERN_UNSUPPORTED, "neon matmul: activation mode %d", (int)h->act);
        }
    }
    return QKERN_OK;
}

/* --- compute ---------------------------------------------------------------------- */

/* LLM.int8: y += Σ_{k outlier} x[m][k]·deq(W)[n][k] in f32, read back from the packed
 * int8 panel (deq = q·s_n); outlier columns are few, so this is a plain loop over the front
 * end's list of them. */
static void qk_neon_llm_int8_outliers(const qk_neon_pack *h, const void *scratch, const float *x, int64_t ldx,
                                      int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    qk_llm_int8_header lh;
    memcpy(&lh, scratch, sizeof lh);
    if (!lh.n_outliers) return;
    const int64_t *list = qk_llm_int8_list(scratch, h->k);
    for (int64_t pn = n0 / QK_NEON_NR; pn * QK_NEON_NR < n1; pn++) {
        const unsigned char *b = qk_neon_panel_ptr(h, pn);
        float sw[QK_NEON_NR];
        memcpy(sw, b + h->data_bytes_group, sizeof sw); /* I8: f32 scales */
        const int64_t nc = n1 - pn * QK_NEON_NR < QK_NEON_NR ? n1 - pn * QK_NEON_NR : QK_NEON_NR;
        for (int64_t j = 0; j < lh.n_outliers; j++) {
            const int64_t k = list[j];
            float w[QK_NEON_NR];
            for (int col = 0; col < nc; col++) {
                size_t off = (size_t)(k / 16) * 128 + (size_t)(2 * ((k % 16) / 4) + col / 4) * 16 + (size_t)(col % 4) * 4 +
                             (size_t)(k % 4);
                w[col] = (float)(int8_t)b[off] * sw[col];
            }
            for (int64_t m = m0; m < m1; m++) {
                const float xv = x[m * ldx + k];
                float *yr = y + m * ldy + pn * QK_NEON_NR;
                for (int col = 0; col < nc; col++) yr[col] += xv * w[col];
            }
        }
    }
}

static qkern_status qk_neon_compute(void *state, const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                    int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    (void)state;
    const qk_neon_pack *h = qk_neon_hdr(p);
    qk_neon_tile t = {h, p->bias, (const unsigned char *)scratch + h->act_offset, h->act_row_bytes, m0, m1, n0, n1, y, ldy};
    if (h->act == QKERN_ACT_FLOAT) {
        if (!h->float_pad) {
            t.act = (const unsigned char *)x;
            t.act_stride = (size_t)ldx * sizeof(float);
        }
        qk_neon_gemm_f32__neon(&t);
        return QKERN_OK;
    }
    if (h->act == QKERN_ACT_FP8_E4M3 || h->act == QKERN_ACT_FP8_E5M2) {
        qk_neon_gemm_f32__neon(&t);
        return QKERN_OK;
    }
    switch (h->isa) {
    case QK_NEON_I8MM:
        if (m1 - m0 == 1) qk_neon_gemm_int__dotprod(&t); /* GEMV: sdot uses every lane */
        else qk_neon_gemm_int__i8mm(&t);
        break;
    case QK_NEON_DOTPROD: qk_neon_gemm_int__dotprod(&t); break;
    default: qk_neon_gemm_int__plain(&t); break;
    }
    if (h->act == QKERN_ACT_LLM_INT8) qk_neon_llm_int8_outliers(h, scratch, x, ldx, m0, m1, n0, n1, y, ldy);
    return QKERN_OK;
}

const qk_matmul_ops qk_matmul_ops__neon = {
    .pack = qk_neon_pack_weights,
    .act_scratch_bytes = qk_neon_act_scratch_bytes,
    .prepare_act = qk_neon_prepare_act,
    .compute = qk_neon_compute,
    .m_step = QK_NEON_MR,
    .n_step = QK_NEON_NR,
};
