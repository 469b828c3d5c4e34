/* OpenCL matmul: weight packing, activation quantisation on the device, GEMM / GEMV launch,
 * for the host-pointer API (qk_matmul_ops) and for engine cl_mem buffers.
 *
 * The OpenCL backend is not threaded (threaded = 0): the front end calls prepare_act and
 * compute once over the whole call. Activations are quantised on the device by the same
 * kernels as the quantize op (quant_act.cl), so both paths produce scalar-identical bytes
 * and the cl_mem entry point never reads X back to the host (LLM.int8() there reads back
 * only its K-byte outlier mask, to build the outlier column list).
 *
 * Modes: the integer ones run gemm_int.cl; QKERN_ACT_FLOAT runs gemm_float.cl for every
 * weight format (codes dequantised in registers); FP8 x FP8 quantises X to FP8 values held
 * in f32 and runs the FP8-weight float kernel with a per-row X scale; LLM.int8() runs the
 * I8 int kernel on the inlier codes and adds the outlier columns' f32 part after it.
 * Every group must be whole 32-chunks; a single group per row (ROW / TENSOR scales of 8-bit
 * codes) pads K to a multiple of 32 with codes that decode to 0 (and X with zeros). Other
 * shapes fall back to scalar, visibly. */
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_internal.h"
#include "kernels/format_ggml.h"
#include "kernels/format_half.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"

#define QK_OCL_NR_PAD 8 /* N padding of packed weights: every NR variant up to 8 reads in bounds */

typedef enum qk_ocl_kind { QK_OCL_INT = 0, QK_OCL_FLOAT = 1, QK_OCL_FP8 = 2, QK_OCL_LLM = 3 } qk_ocl_kind;

typedef struct qk_ocl_packed {
    qk_ocl_kind kind;
    cl_mem wq, sw, wz, aux, bias;
    int wbits;       /* 8 or 4 */
    int xblock;      /* activation scale per 32-block (Q8_0 / Q8_1) */
    int wzero;       /* 4-bit weights with a zero per group */
    int q41;         /* Q4_1 × Q8_1 */
    const char *fkern; /* gemm_float.cl kernel (float kinds) */
    int e5m2_act;    /* FP8 × FP8: activations are E5M2 */
    int K32, CPG, G; /* 32-chunks per (padded) row, chunks per group, groups per row */
    int64_t kp, n_pad;
} qk_ocl_packed;

/* The gemm_float.cl kernel of a weight format, and its public kernel name. */
typedef struct qk_ocl_fkern {
    qkern_format f;
    int asym;
    const char *cl, *name;
} qk_ocl_fkern;

static const qk_ocl_fkern qk_ocl_fkerns[] = {
    {QKERN_I8, 0, "qk_gemm_f32_i8", "qk_gemm_f32_i8_4x4c32__opencl"},
    {QKERN_I8_ASYM, 0, "qk_gemm_f32_i8z", "qk_gemm_f32_i8_asym_4x4c32__opencl"},
    {QKERN_I4, 0, "qk_gemm_f32_nib8", "qk_gemm_f32_i4_4x4c32__opencl"},
    {QKERN_I4, 1, "qk_gemm_f32_nibz", "qk_gemm_f32_i4_asym_4x4c32__opencl"},
    {QKERN_Q4_0, 0, "qk_gemm_f32_nib8", "qk_gemm_f32_q4_0_4x4c32__opencl"},
    {QKERN_Q4_1, 0, "qk_gemm_f32_q4_1", "qk_gemm_f32_q4_1_4x4c32__opencl"},
    {QKERN_Q8_0, 0, "qk_gemm_f32_i8", "qk_gemm_f32_q8_0_4x4c32__opencl"},
    {QKERN_Q8_1, 0, "qk_gemm_f32_i8", "qk_gemm_f32_q8_1_4x4c32__opencl"},
    {QKERN_NF4, 0, "qk_gemm_f32_nf4", "qk_gemm_f32_nf4_4x4c32__opencl"},
    {QKERN_FP8_E4M3, 0, "qk_gemm_f32_e4m3", "qk_gemm_f32_fp8_e4m3_4x4c32__opencl"},
    {QKERN_FP8_E5M2, 0, "qk_gemm_f32_e5m2", "qk_gemm_f32_fp8_e5m2_4x4c32__opencl"},
};

static const qk_ocl_fkern *qk_ocl_fkern_of(const qkern_quant_desc *d) {
    int asym = (d->flags & QKERN_QUANT_ASYMMETRIC) != 0;
    for (size_t i = 0; i < sizeof qk_ocl_fkerns / sizeof qk_ocl_fkerns[0]; i++)
        if (qk_ocl_fkerns[i].f == d->format && qk_ocl_fkerns[i].asym == asym) return &qk_ocl_fkerns[i];
    return NULL;
}

static int qk_ocl_is_fp8(qkern_format f) { return f == QKERN_FP8_E4M3 || f == QKERN_FP8_E5M2; }

const char *qk_ocl_matmul_kernel_name(const qkern_quant_desc *d, qkern_act_mode act) {
    int asym = (d->flags & QKERN_QUANT_ASYMMETRIC) != 0;
    int row = d->group == QKERN_GROUP_ROW || d->group == QKERN_GROUP_DEFAULT;
    switch (act) {
    case QKERN_ACT_FLOAT: {
        const qk_ocl_fkern *fk = qk_ocl_fkern_of(d);
        return fk ? fk->name : NULL;
    }
    case QKERN_ACT_I8_DYNAMIC:
        if (d->format == QKERN_I8) return "qk_gemm_i8_i8_4x4c32__opencl";
        if (d->format == QKERN_I4) return asym ? "qk_gemm_i8_i4a_4x4c32__opencl" : "qk_gemm_i8_i4_4x4c32__opencl";
        return NULL;
    case QKERN_ACT_Q8_0:
        if (d->format == QKERN_Q4_0) return "qk_gemm_q8_0_q4_0_4x4c32__opencl";
        if (d->format == QKERN_Q8_0) return "qk_gemm_q8_0_q8_0_4x4c32__opencl";
        return NULL;
    case QKERN_ACT_Q8_1:
        return d->format == QKERN_Q4_1 ? "qk_gemm_q8_1_q4_1_4x4c32__opencl" : NULL;
    case QKERN_ACT_FP8_E4M3:
        if (d->format == QKERN_FP8_E4M3) return "qk_gemm_fp8_e4m3_fp8_e4m3_4x4c32__opencl";
        if (d->format == QKERN_FP8_E5M2) return "qk_gemm_fp8_e4m3_fp8_e5m2_4x4c32__opencl";
        return NULL;
    case QKERN_ACT_FP8_E5M2:
        if (d->format == QKERN_FP8_E4M3) return "qk_gemm_fp8_e5m2_fp8_e4m3_4x4c32__opencl";
        if (d->format == QKERN_FP8_E5M2) return "qk_gemm_fp8_e5m2_fp8_e5m2_4x4c32__opencl";
        return NULL;
    case QKERN_ACT_LLM_INT8:
        return d->format == QKERN_I8 && row ? "qk_gemm_llm_int8_i8_4x4c32__opencl" : NULL;
    }
    return NULL;
}

static void qk_ocl_packed_free(void *data, void *state) {
    (void)state;
    qk_ocl_packed *pk = data;
    if (!pk) return;
    cl_mem *mems[] = {&pk->wq, &pk->sw, &pk->wz, &pk->aux, &pk->bias};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (*mems[i]) clReleaseMemObject(*mems[i]);
    free(pk);
}

static float qk_ld_f32(const void *p, size_t i) {
    float v;
    memcpy(&v, (const unsigned char *)p + i * 4, 4);
    return v;
}
static int32_t qk_ld_i32(const void *p, size_t i) {
    int32_t v;
    memcpy(&v, (const unsigned char *)p + i * 4, 4);
    return v;
}
static uint16_t qk_ld_u16(const void *p, size_t i) {
    uint16_t v;
    memcpy(&v, (const unsigned char *)p + i * 2, 2);
    return v;
}

/* Host-side repack into the kernels' layouts (gemm_int.cl, gemm_float.cl), one upload each:
 * codes with K padded to Kp (a multiple of 32) by a code that decodes to 0, 4-bit codes
 * reordered per 32-chunk (element j low nibble, j+16 high), and per (n, group) f32 scales,
 * f32 aux (zero point or Q4_1's m) and, for the int kernel's I4 asym, u8 zeros. */
static qkern_status qk_ocl_pack_codes(qk_ocl *st, const qkern_qtensor *w, const qk_layout *L, qk_ocl_packed *pk) {
    const int64_t n = w->rows, k = w->cols, npad = (n + QK_OCL_NR_PAD - 1) / QK_OCL_NR_PAD * QK_OCL_NR_PAD;
    const int64_t kp = (k + 31) / 32 * 32;
    const qkern_format f = w->desc.format;
    const int asym = (w->desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    const int64_t gl = L->group ? L->group : k; /* ROW / TENSOR: one group spanning the (padded) row */
    const int tensor = L->group == 0;
    pk->kp = kp;
    pk->K32 = (int)(kp / 32);
    pk->CPG = gl == k ? pk->K32 : (int)(gl / 32);
    pk->G = pk->K32 / pk->CPG;
    pk->n_pad = npad;
    pk->wbits = (f == QKERN_I4 || f == QKERN_Q4_0 || f == QKERN_Q4_1 || f == QKERN_NF4) ? 4 : 8;
    pk->q41 = f == QKERN_Q4_1;
    const int need_aux = f == QKERN_I8_ASYM || (f == QKERN_I4 && asym) || f == QKERN_Q4_1;
    const int need_wz = f == QKERN_I4 && asym && pk->kind == QK_OCL_INT;
    const size_t row_bytes = pk->wbits == 8 ? (size_t)kp : (size_t)kp / 2;
    const size_t G = (size_t)pk->G;
    unsigned char *wq = calloc((size_t)npad, row_bytes);
    float *sw = calloc((size_t)npad * G, sizeof(float));
    float *aux = need_aux ? calloc((size_t)npad * G, sizeof(float)) : NULL;
    unsigned char *wz = need_wz ? calloc((size_t)npad * G, 1) : NULL;
    if (!wq || !sw || (need_aux && !aux) || (need_wz && !wz)) {
        free(wq); free(sw); free(aux); free(wz);
        return qk_error(QKERN_OUT_OF_MEMORY, "opencl pack: no memory for %lld × %lld weights", (long long)n,
                        (long long)k);
    }
    const unsigned char *src = w->data;
    for (int64_t r = 0; r < n; r++) {
        unsigned char *dst = wq + (size_t)r * row_bytes;
        const unsigned char *s = src + (size_t)r * L->row_bytes;
        float *swr = sw + (size_t)r * G, *auxr = aux ? aux + (size_t)r * G : NULL;
        const size_t slot0 = tensor ? 0 : (size_t)r * (size_t)L->groups_per_row;
        switch (f) {
        case QKERN_I8:
        case QKERN_FP8_E4M3:
        case QKERN_FP8_E5M2:
            memcpy(dst, s, (size_t)k); /* the padding stays 0: I8 0, FP8 +0 */
            for (size_t g = 0; g < G; g++) swr[g] = qk_ld_f32(w->scales, tensor ? 0 : slot0 + g);
            break;
        case QKERN_I8_ASYM: {
            int32_t z = qk_ld_i32(w->zeros, slot0);
            z = z < -128 ? -128 : z > 127 ? 127 : z;
            memcpy(dst, s, (size_t)k);
            memset(dst + k, (unsigned char)(int8_t)z, (size_t)(kp - k)); /* q - z = 0 */
            swr[0] = qk_ld_f32(w->scales, slot0);
            auxr[0] = (float)z;
            break;
        }
        case QKERN_I4:
        case QKERN_NF4: {
            /* I4: element 2i in the low nibble; NF4: element 2i in the high nibble. */
            const int hi_first = f == QKERN_NF4;
            for (int c = 0; c < pk->K32; c++)
                for (int j = 0; j < 16; j++) {
                    int e0 = c * 32 + j, e1 = e0 + 16;
                    unsigned lo = (s[e0 / 2] >> (((e0 & 1) ^ hi_first) * 4)) & 15u;
                    unsigned hi = (s[e1 / 2] >> (((e1 & 1) ^ hi_first) * 4)) & 15u;
                    dst[c * 16 + j] = (unsigned char)(lo | hi << 4);
                }
            for (size_t g = 0; g < G; g++) {
                if (f == QKERN_NF4) {
                    swr[g] = qk_ld_f32(w->scales, slot0 + g);
                    continue;
                }
                swr[g] = qk_f16_to_f32(qk_ld_u16(w->scales, slot0 + g));
                if (asym) {
                    uint8_t z = ((const uint8_t *)w->zeros)[slot0 + g];
                    z = z > 15 ? 15 : z;
                    if (auxr) auxr[g] = (float)z;
                    if (wz) wz[(size_t)r * G + g] = z;
                }
            }
            break;
        }
        case QKERN_Q4_0:
        case QKERN_Q4_1:
        case QKERN_Q8_0:
        case QKERN_Q8_1: {
            const size_t bb = f == QKERN_Q4_0 ? 18 : f == QKERN_Q4_1 ? 20 : f == QKERN_Q8_0 ? 34 : 36;
            const size_t qoff = (f == QKERN_Q4_0 || f == QKERN_Q8_0) ? 2 : 4;
            const size_t cb = pk->wbits == 8 ? 32 : 16;
            for (int c = 0; c < pk->K32; c++) {
                const unsigned char *b = s + (size_t)c * bb;
                memcpy(dst + (size_t)c * cb, b + qoff, cb);
                swr[c] = qk_f16_to_f32(qk_ld_u16(b, 0));
                if (f == QKERN_Q4_1) auxr[c] = qk_f16_to_f32(qk_ld_u16(b, 1));
            }
            break;
        }
        default: break;
        }
    }
    /* Interleave the chunks of 8 consecutive rows (common.cl: qk_wchunk). */
    const size_t cb = pk->wbits == 8 ? 32 : 16;
    unsigned char *il = malloc((size_t)npad * row_bytes);
    if (!il) {
        free(wq); free(sw); free(aux); free(wz);
        return qk_error(QKERN_OUT_OF_MEMORY, "opencl pack: no memory for %lld × %lld weights", (long long)n,
                        (long long)k);
    }
    for (int64_t r = 0; r < npad; r++)
        for (int c = 0; c < pk->K32; c++)
            memcpy(il + (((size_t)(r / 8) * (size_t)pk->K32 + (size_t)c) * 8 + (size_t)(r % 8)) * cb,
                   wq + (size_t)r * row_bytes + (size_t)c * cb, cb);
    free(wq);
    wq = il;
    qkern_status s = qk_ocl_upload(st, wq, (size_t)npad * row_bytes, CL_MEM_READ_ONLY, &pk->wq);
    if (s == QKERN_OK) s = qk_ocl_upload(st, sw, (size_t)npad * G * sizeof(float), CL_MEM_READ_ONLY, &pk->sw);
    if (s == QKERN_OK && aux) s = qk_ocl_upload(st, aux, (size_t)npad * G * sizeof(float), CL_MEM_READ_ONLY, &pk->aux);
    if (s == QKERN_OK && wz) s = qk_ocl_upload(st, wz, (size_t)npad * G, CL_MEM_READ_ONLY, &pk->wz);
    free(wq); free(sw); free(aux); free(wz);
    return s;
}

static qkern_status qk_ocl_pack(void *state, const qkern_qtensor *w, const qkern_matmul_options *opts, qk_packed *p) {
    qk_ocl *st = state;
    const int64_t k = w->cols;
    const qkern_act_mode act = opts->act;
    const char *name = qk_ocl_matmul_kernel_name(&w->desc, act);
    if (!name) return qk_error(QKERN_UNSUPPORTED, "opencl: no kernel for this format × activation pair");
    qk_layout L;
    qkern_status s = qk_resolve_layout(&w->desc, w->rows, w->cols, &L);
    if (s != QKERN_OK) return s;
    const int64_t gl = L.group ? L.group : k;
    const int byte_fmt = w->desc.format == QKERN_I8 || w->desc.format == QKERN_I8_ASYM || qk_ocl_is_fp8(w->desc.format);
    /* One group spanning the row pads K to a multiple of 32 (8-bit codes only); any other
     * group must be whole 32-chunks. */
    if (!((gl == k && byte_fmt) || (gl % 32 == 0 && k % 32 == 0)))
        return qk_error(QKERN_UNSUPPORTED, "opencl: K=%lld / group %lld must be multiples of 32", (long long)k,
                        (long long)gl);
    if (act != QKERN_ACT_FLOAT && st->has_fp64 == 0 && st->correct_div == 0)
        return qk_error(QKERN_UNSUPPORTED, "opencl: device %s has neither fp64 nor correctly rounded division",
                        st->device_name);
    if (w->rows > INT32_MAX / 2 || k > INT32_MAX / 64)
        return qk_error(QKERN_UNSUPPORTED, "opencl: N=%lld × K=%lld exceeds the kernels' 32-bit indices",
                        (long long)w->rows, (long long)k);
    qk_ocl_packed *pk = calloc(1, sizeof *pk);
    if (!pk) return qk_error(QKERN_OUT_OF_MEMORY, "opencl pack: out of memory");
    pk->kind = act == QKERN_ACT_FLOAT ? QK_OCL_FLOAT
               : (act == QKERN_ACT_FP8_E4M3 || act == QKERN_ACT_FP8_E5M2) ? QK_OCL_FP8
               : act == QKERN_ACT_LLM_INT8 ? QK_OCL_LLM
                                            : QK_OCL_INT;
    pk->xblock = act == QKERN_ACT_Q8_0 || act == QKERN_ACT_Q8_1;
    pk->wzero = w->desc.format == QKERN_I4 && (w->desc.flags & QKERN_QUANT_ASYMMETRIC);
    pk->e5m2_act = act == QKERN_ACT_FP8_E5M2;
    if (pk->kind == QK_OCL_FLOAT || pk->kind == QK_OCL_FP8) pk->fkern = qk_ocl_fkern_of(&w->desc)->cl;
    pthread_mutex_lock(&st->lock);
    s = qk_ocl_pack_codes(st, w, &L, pk);
    if (s == QKERN_OK && opts->bias)
        s = qk_ocl_upload(st, opts->bias, (size_t)w->rows * sizeof(float), CL_MEM_READ_ONLY, &pk->bias);
    pthread_mutex_unlock(&st->lock);
    if (s != QKERN_OK) { qk_ocl_packed_free(pk, st); return s; }
    p->data = pk;
    p->data_bytes = sizeof *pk;
    p->free_data = qk_ocl_packed_free;
    snprintf(p->kernel, sizeof p->kernel, "%s", name);
    return QKERN_OK;
}

/* Tile of the GEMM (M > 1) and GEMV (M = 1) variants; QKERN_OPENCL_TILE="MRxNR" overrides
 * the GEMM tile and QKERN_OPENCL_GEMV="1xNR" the GEMV's (for tuning runs). */
static void qk_ocl_tile(int64_t m, int *mr, int *nr) {
    const char *t = getenv(m == 1 ? "QKERN_OPENCL_GEMV" : "QKERN_OPENCL_TILE");
    *mr = m == 1 ? 1 : 4;
    *nr = m == 1 ? 8 : 4;
    int a, b;
    if (t && sscanf(t, "%dx%d", &a, &b) == 2 && a >= 1 && a <= 8 && b >= 1 && b <= QK_OCL_NR_PAD) { *mr = a; *nr = b; }
}

/* Work-groups of 8 n-tiles x 16 m-tiles: on a CPU device a group runs as one loop on one
 * core, so its W rows (32 x K) and X rows (64 x K) are reused from L2 (measured: 1.5x the
 * GOPS of a 16 x 1 group at M = 512, N = K = 4096 on PoCL). The shape is fixed (the global
 * range is rounded up; surplus work-items return at once) because PoCL compiles a kernel
 * once per local size: a size that followed M and N cost a compile per shape.
 * QKERN_OPENCL_LWS="AxB" overrides. */
static void qk_ocl_lws(int64_t m, size_t *lx, size_t *ly) {
    *lx = m == 1 ? 16 : 8;
    *ly = m == 1 ? 1 : 16;
    const char *lws = getenv("QKERN_OPENCL_LWS");
    unsigned a, b;
    if (lws && sscanf(lws, "%ux%u", &a, &b) == 2 && a && b) { *lx = a; *ly = b; }
}

/* Device scratch of one call: the context's cached buffers on its own queue; on an engine's
 * other queue, buffers of this call only (released after the enqueue, which keeps them
 * alive until the commands finish), so two queues never share scratch. */
typedef struct qk_ocl_call {
    qk_ocl *st;
    int own;
    cl_mem tmp[QK_OCL_SCR_COUNT];
} qk_ocl_call;

static qkern_status qk_ocl_call_buf(qk_ocl_call *c, int slot, size_t bytes, cl_mem *out) {
    if (c->own) return qk_ocl_scratch(c->st, slot, bytes, out);
    if (c->tmp[slot]) clReleaseMemObject(c->tmp[slot]);
    c->tmp[slot] = NULL;
    qkern_status s = qk_ocl_alloc(c->st, bytes, CL_MEM_READ_WRITE, &c->tmp[slot]);
    *out = c->tmp[slot];
    return s;
}

static void qk_ocl_call_end(qk_ocl_call *c) {
    for (int i = 0; i < QK_OCL_SCR_COUNT; i++)
        if (c->tmp[i]) clReleaseMemObject(c->tmp[i]);
}

#define QK_ARGS(...)                                                                                                   \
    const void *ptr_[] = {__VA_ARGS__};                                                                                \
    const int nargs_ = (int)(sizeof ptr_ / sizeof ptr_[0])

/* Sets args (every one a cl_mem, int or float: sizes come from the kinds string, 'm' / 'i' /
 * 'f') and enqueues a 2-D range. */
static cl_int qk_ocl_launch(cl_command_queue q, cl_kernel k, const char *kinds, const void *const *ptrs, int n,
                            size_t g0, size_t g1, size_t l0, size_t l1) {
    for (int i = 0; i < n; i++) {
        size_t sz = kinds[i] == 'm' ? sizeof(cl_mem) : kinds[i] == 'i' ? sizeof(int) : sizeof(float);
        /* A NULL cl_mem argument is a NULL __global pointer (OpenCL 1.2, clSetKernelArg). */
        const void *v = (kinds[i] == 'm' && *(const cl_mem *)ptrs[i] == NULL) ? NULL : ptrs[i];
        cl_int e = clSetKernelArg(k, (cl_uint)i, sz, v);
        if (e != CL_SUCCESS) return e;
    }
    return qk_ocl_run2d(q, k, g0, g1, l0, l1);
}

/* LLM.int8(): the outlier columns of this call as an index list on the device (and the mask
 * for the quantiser). host_mask is the front end's (host-pointer API); NULL: the mask is
 * computed on the device from X (cl_mem entry point) and read back for the index list. */
static qkern_status qk_ocl_llm_mask(qk_ocl_call *c, cl_command_queue q, const qk_packed *p, int64_t m, cl_mem x,
                                    int xo, int ldx, const uint8_t *host_mask, cl_mem *mask, cl_mem *idx, int *n_out) {
    qk_ocl *st = c->st;
    const int K = (int)p->k;
    uint8_t *hm = NULL;
    int *hi = malloc((size_t)K * sizeof(int) + 4);
    qkern_status s = hi ? qk_ocl_call_buf(c, QK_OCL_SCR_MASK, (size_t)K, mask)
                        : qk_error(QKERN_OUT_OF_MEMORY, "opencl: out of memory");
    cl_int e = CL_SUCCESS;
    if (s == QKERN_OK && host_mask) {
        e = clEnqueueWriteBuffer(q, *mask, CL_TRUE, 0, (size_t)K, host_mask, 0, NULL, NULL);
    } else if (s == QKERN_OK) {
        cl_kernel km = NULL;
        char opts[512];
        snprintf(opts, sizeof opts, "%s -D QK_XFLOAT=1", qk_ocl_base_options(st));
        s = qk_ocl_kernel_cached(st, "quant_act.cl", opts, "qk_llm_mask", &km);
        hm = malloc((size_t)K);
        if (s == QKERN_OK && !hm) s = qk_error(QKERN_OUT_OF_MEMORY, "opencl: out of memory");
        if (s == QKERN_OK) {
            int im = (int)m;
            float thr = p->outlier_threshold;
            QK_ARGS(&x, &xo, &ldx, &im, &K, &thr, mask);
            e = qk_ocl_launch(q, km, "miiiifm", ptr_, nargs_, (size_t)K, 1, 1, 1);
            if (e == CL_SUCCESS) e = clEnqueueReadBuffer(q, *mask, CL_TRUE, 0, (size_t)K, hm, 0, NULL, NULL);
        }
        host_mask = hm;
    }
    if (s == QKERN_OK && e != CL_SUCCESS) s = qk_ocl_fail(e, "LLM.int8 outlier mask");
    int no = 0;
    if (s == QKERN_OK) {
        for (int k = 0; k < K; k++)
            if (host_mask[k]) hi[no++] = k;
        s = qk_ocl_call_buf(c, QK_OCL_SCR_IDX, (size_t)(no ? no : 1) * sizeof(int), idx);
        if (s == QKERN_OK && no) {
            e = clEnqueueWriteBuffer(q, *idx, CL_TRUE, 0, (size_t)no * sizeof(int), hi, 0, NULL, NULL);
            if (e != CL_SUCCESS) s = qk_ocl_fail(e, "LLM.int8 outlier list");
        }
    }
    *n_out = no;
    free(hm);
    free(hi);
    return s;
}

qkern_status qk_ocl_matmul_buffers(qk_ocl *st, const qk_packed *p, cl_command_queue q, int64_t m, cl_mem x,
                                   size_t x_off, int64_t ldx, cl_mem y, size_t y_off, int64_t ldy, int wait,
                                   const uint8_t *host_mask) {
    const qk_ocl_packed *pk = p->data;
    const int64_t n = p->n, k = p->k, kp = pk->kp;
    int mr, nr;
    qk_ocl_tile(m, &mr, &nr);
    const int64_t mpad = (m + mr - 1) / mr * mr;
    if (m > INT32_MAX / 2 || (uint64_t)mpad * (uint64_t)kp > (uint64_t)INT32_MAX || ldx > INT32_MAX ||
        ldy > INT32_MAX || x_off / 4 > INT32_MAX || y_off / 4 > INT32_MAX)
        return qk_error(QKERN_UNSUPPORTED, "opencl: m=%lld × K=%lld exceeds the 32-bit index range of the kernels",
                        (long long)m, (long long)k);
    if (x_off % 4 || y_off % 4)
        return qk_error(QKERN_INVALID_ARGUMENT, "opencl: buffer offsets (%zu, %zu) must be multiples of 4 bytes", x_off,
                        y_off);
    qk_ocl_call c;
    memset(&c, 0, sizeof c);
    c.st = st;
    c.own = q == st->queue;
    cl_mem qx = NULL, sx = NULL, sxs = NULL, mask = NULL, idx = NULL, nomem = NULL;
    cl_kernel kq = NULL, kg = NULL;
    cl_int e = CL_SUCCESS;
    qkern_status s = QKERN_OK;
    char opts[512], aopts[512];
    const char *base = qk_ocl_base_options(st);
    snprintf(aopts, sizeof aopts, "%s -D QK_XFLOAT=1%s", base, pk->q41 ? " -D QK_Q8_1=1" : "");
    int xo = (int)(x_off / 4), yo = (int)(y_off / 4), ildx = (int)ldx, ildy = (int)ldy, im = (int)m;
    int in = (int)n, ik = (int)k, ldq = (int)kp, K32 = pk->K32, n_out = 0;
    const int is_int = pk->kind == QK_OCL_INT || pk->kind == QK_OCL_LLM;
    size_t gx = (size_t)((n + nr - 1) / nr), gy = (size_t)(mpad / mr), lx, ly;
    qk_ocl_lws(m, &lx, &ly);
    const char *what = "activation quantisation";

    /* 1. activations: int8 codes held in f32 (+ scales), FP8 values, or zero-padded rows */
    if (pk->kind == QK_OCL_LLM)
        s = qk_ocl_llm_mask(&c, q, p, m, x, xo, ildx, host_mask, &mask, &idx, &n_out);
    if (s == QKERN_OK && is_int) {
        s = qk_ocl_call_buf(&c, QK_OCL_SCR_QX, (size_t)mpad * (size_t)kp * sizeof(float), &qx);
        if (s == QKERN_OK)
            s = qk_ocl_call_buf(&c, QK_OCL_SCR_SX, (size_t)mpad * (size_t)(pk->xblock ? K32 : 1) * sizeof(float), &sx);
        if (s == QKERN_OK && pk->q41)
            s = qk_ocl_call_buf(&c, QK_OCL_SCR_SXS, (size_t)mpad * (size_t)K32 * sizeof(float), &sxs);
        if (s == QKERN_OK && pk->xblock) {
            s = qk_ocl_kernel_cached(st, "quant_act.cl", aopts, "qk_q8_split", &kq);
            if (s == QKERN_OK) {
                QK_ARGS(&x, &xo, &ildx, &K32, &qx, &ldq, &sx, &sxs);
                e = qk_ocl_launch(q, kq, "miiimimm", ptr_, nargs_, (size_t)K32, (size_t)m, 1, 1);
            }
        } else if (s == QKERN_OK) {
            s = qk_ocl_kernel_cached(st, "quant_act.cl", aopts, "qk_quant_i8_row", &kq);
            if (s == QKERN_OK) {
                QK_ARGS(&x, &xo, &ildx, &im, &ik, &mask, &qx, &ldq, &sx);
                e = qk_ocl_launch(q, kq, "miiiimmim", ptr_, nargs_, (size_t)m, 1, 1, 1);
            }
        }
    } else if (s == QKERN_OK && pk->kind == QK_OCL_FP8) {
        s = qk_ocl_call_buf(&c, QK_OCL_SCR_QX, (size_t)m * (size_t)kp * sizeof(float), &qx);
        if (s == QKERN_OK) s = qk_ocl_call_buf(&c, QK_OCL_SCR_SX, (size_t)m * sizeof(float), &sx);
        if (s == QKERN_OK) s = qk_ocl_kernel_cached(st, "quant_act.cl", aopts, "qk_fp8_row_scale", &kq);
        if (s == QKERN_OK) {
            float fmax = pk->e5m2_act ? 57344.0f : 448.0f;
            QK_ARGS(&x, &xo, &ildx, &im, &ik, &fmax, &sx);
            e = qk_ocl_launch(q, kq, "miiiifm", ptr_, nargs_, (size_t)m, 1, 1, 1);
        }
        if (s == QKERN_OK && e == CL_SUCCESS) s = qk_ocl_kernel_cached(st, "quant_act.cl", aopts, "qk_fp8_act", &kq);
        if (s == QKERN_OK && e == CL_SUCCESS) {
            int e5 = pk->e5m2_act;
            QK_ARGS(&x, &xo, &ildx, &ik, &sx, &e5, &qx, &ldq);
            e = qk_ocl_launch(q, kq, "miiimimi", ptr_, nargs_, (size_t)kp, (size_t)m, 64, 1);
        }
    } else if (s == QKERN_OK && kp != k) {
        /* float activations with K not a multiple of 32: a zero-padded copy of X */
        s = qk_ocl_call_buf(&c, QK_OCL_SCR_QX, (size_t)m * (size_t)kp * sizeof(float), &qx);
        snprintf(opts, sizeof opts, "%s -D QK_MR=%d -D QK_NR=%d", base, mr, nr);
        if (s == QKERN_OK) s = qk_ocl_kernel_cached(st, "gemm_float.cl", opts, "qk_pad_rows", &kq);
        if (s == QKERN_OK) {
            QK_ARGS(&x, &xo, &ildx, &ik, &qx, &ldq);
            e = qk_ocl_launch(q, kq, "miiimi", ptr_, nargs_, (size_t)kp, (size_t)m, 32, 1);
        }
    }
    if (s == QKERN_OK && e != CL_SUCCESS) s = qk_ocl_fail(e, what);

    /* 2. the GEMM */
    if (s == QKERN_OK && is_int) {
        what = "GEMM launch";
        snprintf(opts, sizeof opts,
                 "%s%s -D QK_MR=%d -D QK_NR=%d -D QK_WBITS=%d -D QK_XBLOCK=%d -D QK_WZERO=%d -D QK_Q41=%d -D QK_LANES=%d",
                 base, getenv("QKERN_OPENCL_XOPTS") ? getenv("QKERN_OPENCL_XOPTS") : "", mr, nr, pk->wbits, pk->xblock,
                 pk->wzero, pk->q41, pk->CPG == 1);
        s = qk_ocl_kernel_cached(st, "gemm_int.cl", opts, "qk_gemm_int", &kg);
        if (s == QKERN_OK) {
            QK_ARGS(&qx, &ldq, &sx, &sxs, &pk->wq, &pk->sw, &pk->wz, &pk->aux, &pk->bias, &y, &yo, &ildy, &im, &in,
                    &K32, &pk->CPG);
            e = qk_ocl_launch(q, kg, "mimmmmmmmmiiiiii", ptr_, nargs_, gx, gy, lx, ly);
        }
        if (s == QKERN_OK && e == CL_SUCCESS && n_out > 0) {
            what = "LLM.int8 outlier launch";
            snprintf(opts, sizeof opts, "%s -D QK_MR=%d -D QK_NR=%d", base, mr, nr);
            s = qk_ocl_kernel_cached(st, "gemm_float.cl", opts, "qk_llm_outliers", &kg);
            if (s == QKERN_OK) {
                QK_ARGS(&x, &xo, &ildx, &idx, &n_out, &pk->wq, &K32, &pk->sw, &y, &yo, &ildy, &im, &in);
                e = qk_ocl_launch(q, kg, "miimimimmiiii", ptr_, nargs_, (size_t)n, (size_t)m, 16, 1);
            }
        }
    } else if (s == QKERN_OK) {
        what = "GEMM launch";
        cl_mem xa = x;
        int xao = xo, xld = ildx;
        if (qx) { xa = qx; xao = 0; xld = ldq; }
        cl_mem xs = pk->kind == QK_OCL_FP8 ? sx : nomem;
        snprintf(opts, sizeof opts, "%s -D QK_MR=%d -D QK_NR=%d", base, mr, nr);
        s = qk_ocl_kernel_cached(st, "gemm_float.cl", opts, pk->fkern, &kg);
        if (s == QKERN_OK) {
            QK_ARGS(&xa, &xao, &xld, &xs, &pk->wq, &pk->sw, &pk->aux, &pk->bias, &y, &yo, &ildy, &im, &in, &K32,
                    &pk->CPG);
            e = qk_ocl_launch(q, kg, "miimmmmmmiiiiii", ptr_, nargs_, gx, gy, lx, ly);
        }
    }
    if (s == QKERN_OK && e != CL_SUCCESS) s = qk_ocl_fail(e, what);
    if (s == QKERN_OK && wait) {
        e = clFinish(q);
        if (e != CL_SUCCESS) s = qk_ocl_fail(e, "clFinish after the GEMM");
    }
    qk_ocl_call_end(&c);
    return s;
}

static size_t qk_ocl_act_scratch_bytes(const qk_packed *p, int64_t m) {
    (void)m;
    /* Activations are quantised on the device; only LLM.int8's outlier mask (written by the
     * front end) lives in the host scratch. */
    return p->act == QKERN_ACT_LLM_INT8 ? qk_llm_int8_header_bytes(p->k) : 64;
}

static qkern_status qk_ocl_prepare_act(void *state, const qk_packed *p, const float *x, int64_t ldx, int64_t m0,
                                       int64_t m1, void *scratch) {
    (void)state; (void)p; (void)x; (void)ldx; (void)m0; (void)m1; (void)scratch;
    return QKERN_OK;
}

/* Host pointers: X into the context's cached device buffer, run, read Y back row by row
 * (ldy padding is never written). */
static qkern_status qk_ocl_compute(void *state, const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                   int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    qk_ocl *st = state;
    if (n0 != 0 || n1 != p->n)
        return qk_error(QKERN_INVALID_ARGUMENT, "opencl compute: expects the whole N range, got [%lld, %lld)",
                        (long long)n0, (long long)n1);
    const int64_t m = m1 - m0, n = p->n, k = p->k;
    const float *xs = x + m0 * ldx;
    float *ys = y + m0 * ldy;
    size_t xbytes = ((size_t)(m - 1) * (size_t)ldx + (size_t)k) * sizeof(float);
    size_t ybytes = (size_t)m * (size_t)n * sizeof(float);
    const uint8_t *mask = p->act == QKERN_ACT_LLM_INT8 ? qk_llm_int8_mask(scratch) : NULL;
    pthread_mutex_lock(&st->lock);
    cl_mem xb = NULL, yb = NULL;
    cl_int e = CL_SUCCESS;
    qkern_status s = qk_ocl_scratch(st, QK_OCL_SCR_X, xbytes, &xb);
    if (s == QKERN_OK) {
        e = clEnqueueWriteBuffer(st->queue, xb, CL_TRUE, 0, xbytes, xs, 0, NULL, NULL);
        if (e != CL_SUCCESS) s = qk_ocl_fail(e, "writing X");
    }
    if (s == QKERN_OK) s = qk_ocl_scratch(st, QK_OCL_SCR_Y, ybytes, &yb);
    if (s == QKERN_OK) s = qk_ocl_matmul_buffers(st, p, st->queue, m, xb, 0, ldx, yb, 0, n, 0, mask);
    if (s == QKERN_OK) {
        if (ldy == n) {
            e = clEnqueueReadBuffer(st->queue, yb, CL_TRUE, 0, ybytes, ys, 0, NULL, NULL);
        } else {
            size_t origin[3] = {0, 0, 0}, region[3] = {(size_t)n * sizeof(float), (size_t)m, 1};
            e = clEnqueueReadBufferRect(st->queue, yb, CL_TRUE, origin, origin, region, (size_t)n * sizeof(float), 0,
                                        (size_t)ldy * sizeof(float), 0, ys, 0, NULL, NULL);
        }
        if (e != CL_SUCCESS) s = qk_ocl_fail(e, "reading Y");
    } else {
        clFinish(st->queue); /* nothing enqueued may outlive the call's host memory */
    }
    pthread_mutex_unlock(&st->lock);
    return s;
}

const qk_matmul_ops qk_ocl_matmul_ops = {
    .pack = qk_ocl_pack,
    .act_scratch_bytes = qk_ocl_act_scratch_bytes,
    .prepare_act = qk_ocl_prepare_act,
    .compute = qk_ocl_compute,
    .m_step = 1 << 30,
    .n_step = 1 << 30,
};
