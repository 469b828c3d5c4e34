/* OpenCL matmul: weight packing, activation quantisation on the device, GEMM / GEMV launch,
 * for the host-pointer API (qk_matmul_ops) and for engine cl_mem buffers.
 *
 * The OpenCL backend is not threaded (threaded = 0): the front end calls prepare_act and
 * compute once over the whole call. Activations are quantised on the device by the same
 * kernels as the quantize op (quant_act.cl), so both paths produce scalar-identical bytes
 * and the cl_mem entry point never reads X back to the host. K (and every group) must be
 * a multiple of 32 here; other shapes fall back to scalar. */
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_internal.h"
#include "kernels/format_ggml.h"
#include "kernels/format_half.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"

#define QK_OCL_NR_PAD 8 /* N padding of packed weights: every NR variant up to 8 reads in bounds */

typedef enum qk_ocl_kind { QK_OCL_INT = 0, QK_OCL_FLOAT = 1 } qk_ocl_kind;

typedef struct qk_ocl_packed {
    qk_ocl_kind kind;
    cl_mem wq, sw, wz, mw, bias, lut;
    int wbits;       /* 8 or 4 */
    int xblock;      /* activation scale per 32-block (Q8_0 / Q8_1) */
    int wzero;       /* 4-bit weights with a zero per group */
    int q41;         /* Q4_1 × Q8_1 */
    int woff;        /* constant 4-bit offset (8) */
    int float_fmt;   /* QK_FMT_* of gemm_float.cl */
    int K32, CPG, G; /* 32-chunks per row, chunks per group, groups per row */
    int64_t n_pad;
} qk_ocl_packed;

static int qk_ocl_group_len(const qkern_quant_desc *d, int64_t k) {
    const qkern_format_info *info = qk_format_info(d->format);
    int64_t g = d->group == QKERN_GROUP_DEFAULT ? info->default_group : d->group;
    if (g == QKERN_GROUP_ROW) return (int)k;
    if (g == QKERN_GROUP_TENSOR) return (int)k;
    return (int)g;
}

const char *qk_ocl_matmul_kernel_name(const qkern_quant_desc *d, qkern_act_mode act) {
    int asym = (d->flags & QKERN_QUANT_ASYMMETRIC) != 0;
    switch (act) {
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
    default: return NULL;
    }
}

static void qk_ocl_packed_free(void *data, void *state) {
    (void)state;
    qk_ocl_packed *pk = data;
    if (!pk) return;
    cl_mem *mems[] = {&pk->wq, &pk->sw, &pk->wz, &pk->mw, &pk->bias, &pk->lut};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (*mems[i]) clReleaseMemObject(*mems[i]);
    free(pk);
}

/* Host-side repack into the kernels' layouts (see gemm_int.cl), then one upload each. */
static qkern_status qk_ocl_pack_int(qk_ocl *st, const qkern_qtensor *w, qkern_act_mode act, qk_ocl_packed *pk) {
    const int64_t n = w->rows, k = w->cols, npad = (n + QK_OCL_NR_PAD - 1) / QK_OCL_NR_PAD * QK_OCL_NR_PAD;
    const int K32 = (int)(k / 32);
    const qkern_format f = w->desc.format;
    int gl = (f == QKERN_Q4_0 || f == QKERN_Q8_0 || f == QKERN_Q4_1) ? 32 : qk_ocl_group_len(&w->desc, k);
    pk->K32 = K32;
    pk->CPG = gl / 32;
    pk->G = K32 / pk->CPG;
    pk->n_pad = npad;
    pk->wbits = (f == QKERN_I8 || f == QKERN_Q8_0) ? 8 : 4;
    pk->xblock = act == QKERN_ACT_Q8_0 || act == QKERN_ACT_Q8_1;
    pk->wzero = f == QKERN_I4 && (w->desc.flags & QKERN_QUANT_ASYMMETRIC);
    pk->q41 = f == QKERN_Q4_1;
    pk->woff = 8;
    const size_t row_bytes = pk->wbits == 8 ? (size_t)k : (size_t)k / 2;
    const size_t G = (size_t)pk->G;
    unsigned char *wq = calloc((size_t)npad, row_bytes);
    float *sw = calloc((size_t)npad * G, sizeof(float));
    float *mw = pk->q41 ? calloc((size_t)npad * G, sizeof(float)) : NULL;
    unsigned char *wz = pk->wzero ? calloc((size_t)npad * G, 1) : NULL;
    if (!wq || !sw || (pk->q41 && !mw) || (pk->wzero && !wz)) {
        free(wq); free(sw); free(mw); free(wz);
        return qk_error(QKERN_OUT_OF_MEMORY, "opencl pack: no memory for %lld × %lld weights", (long long)n,
                        (long long)k);
    }
    const unsigned char *src = w->data;
    for (int64_t r = 0; r < n; r++) {
        unsigned char *dst = wq + (size_t)r * row_bytes;
        switch (f) {
        case QKERN_I8:
            memcpy(dst, src + (size_t)r * (size_t)k, (size_t)k);
            for (size_t g = 0; g < G; g++) sw[(size_t)r * G + g] = ((const float *)w->scales)[(size_t)r * G + g];
            break;
        case QKERN_I4: {
            /* element 2i low nibble of byte i  →  per 32-chunk: element j low, j+16 high */
            const unsigned char *s = src + (size_t)r * (size_t)k / 2;
            for (int c = 0; c < K32; c++)
                for (int j = 0; j < 16; j++) {
                    int e0 = c * 32 + j, e1 = e0 + 16;
                    unsigned lo = (s[e0 / 2] >> ((e0 & 1) * 4)) & 15u, hi = (s[e1 / 2] >> ((e1 & 1) * 4)) & 15u;
                    dst[c * 16 + j] = (unsigned char)(lo | hi << 4);
                }
            for (size_t g = 0; g < G; g++) {
                sw[(size_t)r * G + g] = qk_f16_to_f32(((const uint16_t *)w->scales)[(size_t)r * G + g]);
                if (wz) wz[(size_t)r * G + g] = ((const uint8_t *)w->zeros)[(size_t)r * G + g];
            }
            break;
        }
        case QKERN_Q4_0: {
            const qk_block_q4_0 *b = (const qk_block_q4_0 *)(src + (size_t)r * (size_t)K32 * sizeof *b);
            for (int c = 0; c < K32; c++) {
                memcpy(dst + c * 16, b[c].qs, 16);
                sw[(size_t)r * G + (size_t)c] = qk_f16_to_f32(b[c].d);
            }
            break;
        }
        case QKERN_Q4_1: {
            const qk_block_q4_1 *b = (const qk_block_q4_1 *)(src + (size_t)r * (size_t)K32 * sizeof *b);
            for (int c = 0; c < K32; c++) {
                memcpy(dst + c * 16, b[c].qs, 16);
                sw[(size_t)r * G + (size_t)c] = qk_f16_to_f32(b[c].d);
                mw[(size_t)r * G + (size_t)c] = qk_f16_to_f32(b[c].m);
            }
            break;
        }
        case QKERN_Q8_0: {
            const qk_block_q8_0 *b = (const qk_block_q8_0 *)(src + (size_t)r * (size_t)K32 * sizeof *b);
            for (int c = 0; c < K32; c++) {
                memcpy(dst + c * 32, b[c].qs, 32);
                sw[(size_t)r * G + (size_t)c] = qk_f16_to_f32(b[c].d);
            }
            break;
        }
        default: break;
        }
    }
    qkern_status s = qk_ocl_upload(st, wq, (size_t)npad * row_bytes, CL_MEM_READ_ONLY, &pk->wq);
    if (s == QKERN_OK) s = qk_ocl_upload(st, sw, (size_t)npad * G * sizeof(float), CL_MEM_READ_ONLY, &pk->sw);
    if (s == QKERN_OK && mw) s = qk_ocl_upload(st, mw, (size_t)npad * G * sizeof(float), CL_MEM_READ_ONLY, &pk->mw);
    if (s == QKERN_OK && wz) s = qk_ocl_upload(st, wz, (size_t)npad * G, CL_MEM_READ_ONLY, &pk->wz);
    free(wq); free(sw); free(mw); free(wz);
    return s;
}

static int qk_ocl_int_pair(const qkern_quant_desc *d, qkern_act_mode act) {
    return qk_ocl_matmul_kernel_name(d, act) != NULL && act != QKERN_ACT_FLOAT;
}

static qkern_status qk_ocl_pack(void *state, const qkern_qtensor *w, const qkern_matmul_options *opts, qk_packed *p) {
    qk_ocl *st = state;
    const int64_t k = w->cols;
    if (!qk_ocl_int_pair(&w->desc, opts->act))
        return qk_error(QKERN_UNSUPPORTED, "opencl: no kernel for this format × activation pair");
    if (k % 32 != 0 || qk_ocl_group_len(&w->desc, k) % 32 != 0)
        return qk_error(QKERN_UNSUPPORTED, "opencl: K=%lld / group must be multiples of 32", (long long)k);
    if (st->has_fp64 == 0 && st->correct_div == 0)
        return qk_error(QKERN_UNSUPPORTED, "opencl: device %s has neither fp64 nor correctly rounded division",
                        st->device_name);
    qk_ocl_packed *pk = calloc(1, sizeof *pk);
    if (!pk) return qk_error(QKERN_OUT_OF_MEMORY, "opencl pack: out of memory");
    pthread_mutex_lock(&st->lock);
    qkern_status s = qk_ocl_pack_int(st, w, opts->act, pk);
    if (s == QKERN_OK && opts->bias)
        s = qk_ocl_upload(st, opts->bias, (size_t)w->rows * sizeof(float), CL_MEM_READ_ONLY, &pk->bias);
    pthread_mutex_unlock(&st->lock);
    if (s != QKERN_OK) { qk_ocl_packed_free(pk, st); return s; }
    p->data = pk;
    p->data_bytes = sizeof *pk;
    p->free_data = qk_ocl_packed_free;
    snprintf(p->kernel, sizeof p->kernel, "%s", qk_ocl_matmul_kernel_name(&w->desc, opts->act));
    return QKERN_OK;
}

/* Tile of the GEMM (M > 1) and GEMV (M = 1) variants; QKERN_OPENCL_TILE="MRxNR" overrides
 * the GEMM tile (for tuning runs). */
static void qk_ocl_tile(int64_t m, int *mr, int *nr) {
    if (m == 1) { *mr = 1; *nr = 4; return; }
    *mr = 4;
    *nr = 4;
    const char *t = getenv("QKERN_OPENCL_TILE");
    int a, b;
    if (t && sscanf(t, "%dx%d", &a, &b) == 2 && a >= 1 && a <= 8 && b >= 1 && b <= QK_OCL_NR_PAD) { *mr = a; *nr = b; }
}

qkern_status qk_ocl_matmul_buffers(qk_ocl *st, const qk_packed *p, cl_command_queue q, int64_t m, cl_mem x,
                                   size_t x_off, int64_t ldx, cl_mem y, size_t y_off, int64_t ldy, int wait) {
    const qk_ocl_packed *pk = p->data;
    const int64_t n = p->n, k = p->k;
    int mr, nr;
    qk_ocl_tile(m, &mr, &nr);
    const int64_t mpad = (m + mr - 1) / mr * mr;
    if (m > INT32_MAX / 2 || (uint64_t)(mpad * k) > (uint64_t)INT32_MAX * 2 || ldx > INT32_MAX || ldy > INT32_MAX ||
        x_off / 4 > INT32_MAX || y_off / 4 > INT32_MAX)
        return qk_error(QKERN_UNSUPPORTED, "opencl: m=%lld × K=%lld exceeds the 32-bit index range of the kernels",
                        (long long)m, (long long)k);
    if (x_off % 4 || y_off % 4)
        return qk_error(QKERN_INVALID_ARGUMENT, "opencl: buffer offsets (%zu, %zu) must be multiples of 4 bytes", x_off,
                        y_off);
    cl_mem qx = NULL, sx = NULL, sxs = NULL;
    cl_kernel kq = NULL, kg = NULL;
    cl_int e = CL_SUCCESS;
    const int K32 = pk->K32;
    qkern_status s = qk_ocl_alloc(st, (size_t)mpad * (size_t)k * sizeof(float), CL_MEM_READ_WRITE, &qx);
    if (s == QKERN_OK)
        s = qk_ocl_alloc(st, (size_t)mpad * (size_t)(pk->xblock ? K32 : 1) * sizeof(float), CL_MEM_READ_WRITE, &sx);
    if (s == QKERN_OK && pk->q41) s = qk_ocl_alloc(st, (size_t)mpad * (size_t)K32 * sizeof(float), CL_MEM_READ_WRITE, &sxs);
    char opts[512];
    const char *base = qk_ocl_base_options(st);
    int xo = (int)(x_off / 4), yo = (int)(y_off / 4), ildx = (int)ldx, ildy = (int)ldy, im = (int)m;
    int in = (int)n, ik = (int)k, ldq = (int)k;
    /* 1. activations → int8 (+ scales) */
    if (s == QKERN_OK) {
        if (pk->xblock) {
            snprintf(opts, sizeof opts, "%s -D QK_XFLOAT=1%s", base, pk->q41 ? " -D QK_Q8_1=1" : "");
            s = qk_ocl_kernel(st, "quant_act.cl", opts, "qk_q8_split", &kq);
            if (s == QKERN_OK) {
                const size_t sz[] = {sizeof(cl_mem), sizeof(int), sizeof(int), sizeof(int), sizeof(cl_mem), sizeof(int),
                                     sizeof(cl_mem), sizeof(cl_mem)};
                const void *ptr[] = {&x, &xo, &ildx, &K32, &qx, &ldq, &sx, &sxs};
                e = qk_ocl_set_args(kq, 8, sz, ptr);
                if (e == CL_SUCCESS) e = qk_ocl_run2d(q, kq, (size_t)K32, (size_t)m, 1, 1);
            }
        } else {
            snprintf(opts, sizeof opts, "%s -D QK_XFLOAT=1", base);
            s = qk_ocl_kernel(st, "quant_act.cl", opts, "qk_quant_i8", &kq);
            if (s == QKERN_OK) {
                int groups = 1, stat = 0;
                const size_t sz[] = {sizeof(cl_mem), sizeof(int), sizeof(int), sizeof(int), sizeof(int),
                                     sizeof(cl_mem), sizeof(int), sizeof(cl_mem), sizeof(int)};
                const void *ptr[] = {&x, &xo, &ildx, &ik, &groups, &qx, &ldq, &sx, &stat};
                e = qk_ocl_set_args(kq, 9, sz, ptr);
                if (e == CL_SUCCESS) e = qk_ocl_run2d(q, kq, 1, (size_t)m, 1, 1);
            }
        }
        if (s == QKERN_OK && e != CL_SUCCESS) s = qk_ocl_fail(e, "activation quantisation");
    }
    /* 2. the GEMM */
    if (s == QKERN_OK) {
        snprintf(opts, sizeof opts, "%s%s -D QK_MR=%d -D QK_NR=%d -D QK_WBITS=%d -D QK_XBLOCK=%d -D QK_WZERO=%d -D QK_Q41=%d -D QK_LANES=%d",
                 base, getenv("QKERN_OPENCL_XOPTS") ? getenv("QKERN_OPENCL_XOPTS") : "", mr, nr, pk->wbits, pk->xblock,
                 pk->wzero, pk->q41, pk->CPG == 1);
        s = qk_ocl_kernel(st, "gemm_int.cl", opts, "qk_gemm_int", &kg);
        if (s == QKERN_OK) {
            const size_t sz[] = {sizeof(cl_mem), sizeof(int), sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem),
                                 sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem), sizeof(cl_mem),
                                 sizeof(int), sizeof(int), sizeof(int), sizeof(int), sizeof(int), sizeof(int)};
            const void *ptr[] = {&qx, &ldq, &sx, &sxs, &pk->wq, &pk->sw, &pk->wz, &pk->mw, &pk->bias, &y,
                                 &yo, &ildy, &im, &in, &K32, &pk->CPG};
            e = qk_ocl_set_args(kg, 16, sz, ptr);
            size_t gx = (size_t)((n + nr - 1) / nr), gy = (size_t)(mpad / mr);
            /* A work-group is 8 n-tiles x 16 m-tiles: on a CPU device it runs as one loop on one
             * core, so its W rows (32 x K) and X rows (64 x K) are reused from L2 (measured:
             * 1.5x the GOPS of a 16 x 1 group at M = 512, N = K = 4096 on PoCL). */
            size_t lx = gx < 8 ? gx : 8, ly = gy < 16 ? gy : 16;
            if (m == 1) lx = gx < 16 ? gx : 16;
            const char *lws = getenv("QKERN_OPENCL_LWS");
            unsigned a, b;
            if (lws && sscanf(lws, "%ux%u", &a, &b) == 2 && a && b) { lx = a; ly = b; }
            if (e == CL_SUCCESS) e = qk_ocl_run2d(q, kg, gx, gy, lx, ly);
            if (e != CL_SUCCESS) s = qk_ocl_fail(e, "GEMM launch");
        }
    }
    if (s == QKERN_OK && wait) {
        e = clFinish(q);
        if (e != CL_SUCCESS) s = qk_ocl_fail(e, "clFinish after the GEMM");
    }
    if (kq) clReleaseKernel(kq);
    if (kg) clReleaseKernel(kg);
    if (qx) clReleaseMemObject(qx);
    if (sx) clReleaseMemObject(sx);
    if (sxs) clReleaseMemObject(sxs);
    return s;
}

static size_t qk_ocl_act_scratch_bytes(const qk_packed *p, int64_t m) {
    (void)p; (void)m;
    return 64; /* activations are quantised on the device; nothing to stage on the host */
}

static qkern_status qk_ocl_prepare_act(void *state, const qk_packed *p, const float *x, int64_t ldx, int64_t m0,
                                       int64_t m1, void *scratch) {
    (void)state; (void)p; (void)x; (void)ldx; (void)m0; (void)m1; (void)scratch;
    return QKERN_OK;
}

/* Host pointers: upload X, run, read Y back row by row (ldy padding is never written). */
static qkern_status qk_ocl_compute(void *state, const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                   int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    (void)scratch;
    qk_ocl *st = state;
    if (n0 != 0 || n1 != p->n)
        return qk_error(QKERN_INVALID_ARGUMENT, "opencl compute: expects the whole N range, got [%lld, %lld)",
                        (long long)n0, (long long)n1);
    const int64_t m = m1 - m0, n = p->n, k = p->k;
    const float *xs = x + m0 * ldx;
    float *ys = y + m0 * ldy;
    size_t xbytes = ((size_t)(m - 1) * (size_t)ldx + (size_t)k) * sizeof(float);
    size_t ybytes = (size_t)m * (size_t)n * sizeof(float);
    pthread_mutex_lock(&st->lock);
    cl_mem xb = NULL, yb = NULL;
    qkern_status s = qk_ocl_upload(st, xs, xbytes, CL_MEM_READ_ONLY, &xb);
    if (s == QKERN_OK) s = qk_ocl_alloc(st, ybytes, CL_MEM_WRITE_ONLY, &yb);
    if (s == QKERN_OK) s = qk_ocl_matmul_buffers(st, p, st->queue, m, xb, 0, ldx, yb, 0, n, 0);
    if (s == QKERN_OK) {
        size_t origin[3] = {0, 0, 0}, region[3] = {(size_t)n * sizeof(float), (size_t)m, 1};
        cl_int e = clEnqueueReadBufferRect(st->queue, yb, CL_TRUE, origin, origin, region, (size_t)n * sizeof(float), 0,
                                           (size_t)ldy * sizeof(float), 0, ys, 0, NULL, NULL);
        if (e != CL_SUCCESS) s = qk_ocl_fail(e, "reading Y");
    }
    if (xb) clReleaseMemObject(xb);
    if (yb) clReleaseMemObject(yb);
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
