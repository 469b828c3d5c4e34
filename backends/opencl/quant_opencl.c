/* OpenCL quantize / dequantize: the host-pointer ops over rows [r0, r1), every format. Inputs
 * are uploaded, the kernels of quant_act.cl + quant.cl (one program) run per (row, group /
 * block / element), outputs are read back only after every command succeeded, so a failure
 * leaves dst untouched. Scales / zeros travel as raw bytes (the API does not promise their
 * alignment; device buffers are aligned). */
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_internal.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"

#define QK_OCL_QUANT_PROGRAM "quant_act.cl+quant.cl"

const char *qk_ocl_quant_kernel_name(qk_op op, const qkern_quant_desc *d) {
    const int asym = (d->flags & QKERN_QUANT_ASYMMETRIC) != 0;
    const int q = op == QK_OP_QUANTIZE;
    if (op != QK_OP_QUANTIZE && op != QK_OP_DEQUANTIZE) return NULL;
    switch (d->format) {
    case QKERN_I8: return q ? "qk_quant_i8__opencl" : "qk_dequant_i8__opencl";
    case QKERN_I8_ASYM: return q ? "qk_quant_i8_asym__opencl" : "qk_dequant_i8_asym__opencl";
    case QKERN_I4:
        if (asym) return q ? "qk_quant_i4_asym__opencl" : "qk_dequant_i4_asym__opencl";
        return q ? "qk_quant_i4__opencl" : "qk_dequant_i4__opencl";
    case QKERN_Q8_0: return q ? "qk_quant_q8_0__opencl" : "qk_dequant_q8_0__opencl";
    case QKERN_Q8_1: return q ? "qk_quant_q8_1__opencl" : "qk_dequant_q8_1__opencl";
    case QKERN_Q4_0: return q ? "qk_quant_q4_0__opencl" : "qk_dequant_q4_0__opencl";
    case QKERN_Q4_1: return q ? "qk_quant_q4_1__opencl" : "qk_dequant_q4_1__opencl";
    case QKERN_NF4: return q ? "qk_quant_nf4__opencl" : "qk_dequant_nf4__opencl";
    case QKERN_FP8_E4M3: return q ? "qk_quant_fp8_e4m3__opencl" : "qk_dequant_fp8_e4m3__opencl";
    case QKERN_FP8_E5M2: return q ? "qk_quant_fp8_e5m2__opencl" : "qk_dequant_fp8_e5m2__opencl";
    default: return NULL;
    }
}

/* Bytes of one scale / zero slot of a format. */
static size_t qk_ocl_scale_size(qkern_format f) { return f == QKERN_I4 ? 2 : 4; }
static size_t qk_ocl_zero_size(qkern_format f) { return f == QKERN_I8_ASYM ? 4 : 1; }

static int qk_ocl_ggml_fmt(qkern_format f) {
    return f == QKERN_Q8_0 ? 0 : f == QKERN_Q8_1 ? 1 : f == QKERN_Q4_0 ? 2 : f == QKERN_Q4_1 ? 3 : -1;
}

/* The rows' shape in the kernels' terms. */
typedef struct qk_ocl_qshape {
    int rows, cols, gl, groups, tensor, row_bytes;
    size_t data_bytes, n_slots, slot0; /* scale slots of these rows and the first one */
} qk_ocl_qshape;

static qkern_status qk_ocl_qshape_of(const qkern_qtensor *t, int64_t r0, int64_t r1, qk_layout *L, qk_ocl_qshape *q) {
    qkern_status s = qk_resolve_layout(&t->desc, t->rows, t->cols, L);
    if (s != QKERN_OK) return s;
    const int64_t rows = r1 - r0, cols = t->cols;
    if (cols > INT32_MAX / 4 || (uint64_t)rows * (uint64_t)cols > (uint64_t)INT32_MAX || L->row_bytes > INT32_MAX)
        return qk_error(QKERN_UNSUPPORTED, "opencl: %lld × %lld exceeds the kernels' 32-bit indices", (long long)rows,
                        (long long)cols);
    q->rows = (int)rows;
    q->cols = (int)cols;
    q->tensor = L->group == 0;
    q->gl = (int)(L->group ? L->group : cols);
    q->groups = (int)(L->group ? L->groups_per_row : 1);
    q->row_bytes = (int)L->row_bytes;
    q->data_bytes = (size_t)rows * L->row_bytes;
    const int has_scales = qk_ocl_ggml_fmt(t->desc.format) < 0;
    q->n_slots = !has_scales ? 0 : q->tensor ? 1 : (size_t)rows * (size_t)q->groups;
    q->slot0 = q->tensor ? 0 : (size_t)r0 * (size_t)q->groups;
    return QKERN_OK;
}

/* Runs one kernel of the quant program; kinds as qk_ocl_launch ('m' cl_mem, 'i' int, 'f' float). */
static qkern_status qk_ocl_qrun(qk_ocl *st, const char *name, const char *kinds, const void *const *args, size_t g0,
                                size_t g1) {
    cl_kernel k = NULL;
    qkern_status s = qk_ocl_kernel_cached(st, QK_OCL_QUANT_PROGRAM, qk_ocl_base_options(st), name, &k);
    if (s != QKERN_OK) return s;
    for (int i = 0; kinds[i]; i++) {
        size_t sz = kinds[i] == 'm' ? sizeof(cl_mem) : kinds[i] == 'i' ? sizeof(int) : sizeof(float);
        const void *v = (kinds[i] == 'm' && *(const cl_mem *)args[i] == NULL) ? NULL : args[i];
        cl_int e = clSetKernelArg(k, (cl_uint)i, sz, v);
        if (e != CL_SUCCESS) return qk_ocl_fail(e, name);
    }
    /* One local size for every shape: PoCL compiles a kernel once per local size. */
    cl_int e = qk_ocl_run2d(st->queue, k, g0, g1, 64, 1);
    return e == CL_SUCCESS ? QKERN_OK : qk_ocl_fail(e, name);
}

qkern_status qk_ocl_quantize(void *state, const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1) {
    qk_ocl *st = state;
    qk_layout L;
    qk_ocl_qshape Q;
    if (r1 <= r0) return QKERN_OK;
    qkern_status s = qk_ocl_qshape_of(dst, r0, r1, &L, &Q);
    if (s != QKERN_OK) return s;
    const qkern_format f = dst->desc.format;
    const int asym = (dst->desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    /* Per tensor, the front end has put the scale (and zero) in slot 0 and set STATIC. */
    int stat = (dst->desc.flags & QKERN_QUANT_STATIC_SCALES) != 0 || Q.tensor;
    const size_t ssz = qk_ocl_scale_size(f), zsz = qk_ocl_zero_size(f);
    const int has_zeros = f == QKERN_I8_ASYM || (f == QKERN_I4 && asym);
    const size_t sbytes = Q.n_slots * ssz, zbytes = has_zeros ? Q.n_slots * zsz : 0;
    pthread_mutex_lock(&st->lock);
    cl_mem xb = NULL, db = NULL, sb = NULL, zb = NULL;
    s = qk_ocl_upload(st, src + r0 * Q.cols, (size_t)Q.rows * (size_t)Q.cols * sizeof(float), CL_MEM_READ_ONLY, &xb);
    if (s == QKERN_OK) s = qk_ocl_alloc(st, Q.data_bytes, CL_MEM_READ_WRITE, &db);
    if (s == QKERN_OK && sbytes)
        s = stat ? qk_ocl_upload(st, (const unsigned char *)dst->scales + Q.slot0 * ssz, sbytes, CL_MEM_READ_WRITE, &sb)
                 : qk_ocl_alloc(st, sbytes, CL_MEM_READ_WRITE, &sb);
    if (s == QKERN_OK && zbytes)
        s = stat ? qk_ocl_upload(st, (const unsigned char *)dst->zeros + Q.slot0 * zsz, zbytes, CL_MEM_READ_WRITE, &zb)
                 : qk_ocl_alloc(st, zbytes, CL_MEM_READ_WRITE, &zb);
    const size_t R = (size_t)Q.rows;
    int zero = 0, nb = Q.cols / 32;
    if (s == QKERN_OK) {
        switch (f) {
        case QKERN_I8: {
            const void *a[] = {&xb, &zero, &Q.cols, &Q.gl, &Q.groups, &db, &Q.row_bytes, &sb, &stat};
            s = qk_ocl_qrun(st, "qk_quant_i8", "miiiimimi", a, (size_t)Q.groups, R);
            break;
        }
        case QKERN_I8_ASYM: {
            const void *a[] = {&xb, &Q.cols, &Q.gl, &Q.groups, &Q.tensor, &db, &Q.row_bytes, &sb, &zb, &stat};
            s = qk_ocl_qrun(st, "qk_quant_i8_asym", "miiiimimmi", a, (size_t)Q.groups, R);
            break;
        }
        case QKERN_I4: {
            const void *a[] = {&xb, &Q.cols, &Q.gl, &Q.groups, &db, &Q.row_bytes, &sb, &zb, &stat, &asym};
            s = qk_ocl_qrun(st, "qk_quant_i4", "miiimimmii", a, (size_t)Q.groups, R);
            break;
        }
        case QKERN_NF4: {
            const void *a[] = {&xb, &Q.cols, &Q.gl, &Q.groups, &db, &Q.row_bytes, &sb, &stat};
            s = qk_ocl_qrun(st, "qk_quant_nf4", "miiimimi", a, (size_t)Q.groups, R);
            break;
        }
        case QKERN_Q8_0:
        case QKERN_Q8_1: {
            const void *a[] = {&xb, &zero, &Q.cols, &nb, &db, &Q.row_bytes};
            s = qk_ocl_qrun(st, f == QKERN_Q8_0 ? "qk_q8_0_blocks" : "qk_q8_1_blocks", "miiimi", a, (size_t)nb, R);
            break;
        }
        case QKERN_Q4_0:
        case QKERN_Q4_1: {
            const void *a[] = {&xb, &Q.cols, &nb, &db, &Q.row_bytes};
            s = qk_ocl_qrun(st, f == QKERN_Q4_0 ? "qk_quant_q4_0" : "qk_quant_q4_1", "miimi", a, (size_t)nb, R);
            break;
        }
        case QKERN_FP8_E4M3:
        case QKERN_FP8_E5M2: {
            int e5 = f == QKERN_FP8_E5M2, sat = !(dst->desc.flags & QKERN_QUANT_FP8_NO_SATURATE);
            if (!stat) {
                float fmax = e5 ? 57344.0f : 448.0f;
                const void *a[] = {&xb, &zero, &Q.cols, &Q.rows, &Q.cols, &fmax, &sb};
                s = qk_ocl_qrun(st, "qk_fp8_row_scale", "miiiifm", a, R, 1);
            }
            if (s == QKERN_OK) {
                const void *a[] = {&xb, &Q.cols, &db, &sb, &Q.tensor, &e5, &sat};
                s = qk_ocl_qrun(st, "qk_quant_fp8", "mimmiii", a, (size_t)(Q.cols + 63) / 64, R);
            }
            break;
        }
        default: s = qk_error(QKERN_UNSUPPORTED, "opencl quantize: %s", qk_format_name(f)); break;
        }
    }
    if (s == QKERN_OK) {
        /* Staged reads: dst is written only once the device finished without error. */
        unsigned char *tmp = malloc(Q.data_bytes + sbytes + zbytes + 1);
        cl_int e = CL_SUCCESS;
        if (!tmp) s = qk_error(QKERN_OUT_OF_MEMORY, "opencl quantize: out of memory");
        if (s == QKERN_OK) e = clEnqueueReadBuffer(st->queue, db, CL_TRUE, 0, Q.data_bytes, tmp, 0, NULL, NULL);
        if (s == QKERN_OK && e == CL_SUCCESS && sbytes && !stat)
            e = clEnqueueReadBuffer(st->queue, sb, CL_TRUE, 0, sbytes, tmp + Q.data_bytes, 0, NULL, NULL);
        if (s == QKERN_OK && e == CL_SUCCESS && zbytes && !stat)
            e = clEnqueueReadBuffer(st->queue, zb, CL_TRUE, 0, zbytes, tmp + Q.data_bytes + sbytes, 0, NULL, NULL);
        if (s == QKERN_OK && e != CL_SUCCESS) s = qk_ocl_fail(e, "reading the quantised tensor");
        if (s == QKERN_OK) {
            memcpy((unsigned char *)dst->data + (size_t)r0 * L.row_bytes, tmp, Q.data_bytes);
            if (sbytes && !stat) memcpy((unsigned char *)dst->scales + Q.slot0 * ssz, tmp + Q.data_bytes, sbytes);
            if (zbytes && !stat)
                memcpy((unsigned char *)dst->zeros + Q.slot0 * zsz, tmp + Q.data_bytes + sbytes, zbytes);
        }
        free(tmp);
    } else {
        clFinish(st->queue);
    }
    cl_mem all[] = {xb, db, sb, zb};
    for (size_t i = 0; i < 4; i++)
        if (all[i]) clReleaseMemObject(all[i]);
    pthread_mutex_unlock(&st->lock);
    return s;
}

qkern_status qk_ocl_dequantize(void *state, const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1) {
    qk_ocl *st = state;
    qk_layout L;
    qk_ocl_qshape Q;
    if (r1 <= r0) return QKERN_OK;
    qkern_status s = qk_ocl_qshape_of(src, r0, r1, &L, &Q);
    if (s != QKERN_OK) return s;
    const qkern_format f = src->desc.format;
    const int asym = (src->desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    const size_t ssz = qk_ocl_scale_size(f), zsz = qk_ocl_zero_size(f);
    const int has_zeros = f == QKERN_I8_ASYM || (f == QKERN_I4 && asym);
    const size_t sbytes = Q.n_slots * ssz, zbytes = has_zeros ? Q.n_slots * zsz : 0;
    const size_t ybytes = (size_t)Q.rows * (size_t)Q.cols * sizeof(float);
    pthread_mutex_lock(&st->lock);
    cl_mem qb = NULL, sb = NULL, zb = NULL, yb = NULL;
    s = qk_ocl_upload(st, (const unsigned char *)src->data + (size_t)r0 * L.row_bytes, Q.data_bytes, CL_MEM_READ_ONLY,
                      &qb);
    if (s == QKERN_OK && sbytes)
        s = qk_ocl_upload(st, (const unsigned char *)src->scales + Q.slot0 * ssz, sbytes, CL_MEM_READ_ONLY, &sb);
    if (s == QKERN_OK && zbytes)
        s = qk_ocl_upload(st, (const unsigned char *)src->zeros + Q.slot0 * zsz, zbytes, CL_MEM_READ_ONLY, &zb);
    if (s == QKERN_OK) s = qk_ocl_alloc(st, ybytes, CL_MEM_WRITE_ONLY, &yb);
    const size_t R = (size_t)Q.rows;
    int nb = Q.cols / 32, gf = qk_ocl_ggml_fmt(f), e5 = f == QKERN_FP8_E5M2;
    if (s == QKERN_OK) {
        switch (f) {
        case QKERN_I8:
        case QKERN_I8_ASYM: {
            const void *a[] = {&qb, &Q.cols, &Q.gl, &Q.groups, &Q.tensor, &sb, &zb, &yb};
            s = qk_ocl_qrun(st, "qk_deq_i8", "miiiimmm", a, (size_t)Q.cols, R);
            break;
        }
        case QKERN_I4: {
            const void *a[] = {&qb, &Q.cols, &Q.gl, &Q.groups, &sb, &zb, &yb};
            s = qk_ocl_qrun(st, "qk_deq_i4", "miiimmm", a, (size_t)Q.cols / 2, R);
            break;
        }
        case QKERN_NF4: {
            const void *a[] = {&qb, &Q.cols, &Q.gl, &Q.groups, &sb, &yb};
            s = qk_ocl_qrun(st, "qk_deq_nf4", "miiimm", a, (size_t)Q.cols / 2, R);
            break;
        }
        case QKERN_FP8_E4M3:
        case QKERN_FP8_E5M2: {
            const void *a[] = {&qb, &Q.cols, &Q.tensor, &sb, &e5, &yb};
            s = qk_ocl_qrun(st, "qk_deq_fp8", "miimim", a, (size_t)Q.cols, R);
            break;
        }
        default:
            if (gf >= 0) {
                const void *a[] = {&qb, &nb, &Q.row_bytes, &gf, &yb};
                s = qk_ocl_qrun(st, "qk_deq_ggml", "miiim", a, (size_t)nb, R);
            } else {
                s = qk_error(QKERN_UNSUPPORTED, "opencl dequantize: %s", qk_format_name(f));
            }
            break;
        }
    }
    if (s == QKERN_OK) {
        /* Straight into dst: on a read failure its contents are unspecified anyway. */
        cl_int e = clEnqueueReadBuffer(st->queue, yb, CL_TRUE, 0, ybytes, dst + (size_t)r0 * (size_t)Q.cols, 0, NULL,
                                       NULL);
        if (e != CL_SUCCESS) s = qk_ocl_fail(e, "reading the dequantised rows");
    } else {
        clFinish(st->queue);
    }
    cl_mem all[] = {qb, sb, zb, yb};
    for (size_t i = 0; i < 4; i++)
        if (all[i]) clReleaseMemObject(all[i]);
    pthread_mutex_unlock(&st->lock);
    return s;
}
